"""PancakeClient.write_order against httpx.MockTransport: the body is the whole order as read with
only the changes applied, and the answer stands in for a read-back only when it proves to be the
order as stored after the write (answers the simulator never gives: none, an echo, a trimmed or
foreign order)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from bridge.pancake.client import PancakeClient
from bridge.pancake.order_writes import changed_parts
from bridge.pancake.schemas import PancakeOrder
from tests.pancake.test_client import Handler, Recorder, make_client, ok, order_json, sleeps

__all__ = ["make_client", "sleeps"]  # fixtures

READ_STAMP = "2020-05-12T04:51:54"
WRITE_STAMP = "2020-05-12T05:00:00.123456"


def read(**overrides: Any) -> PancakeOrder:
    return PancakeOrder.from_api(
        order_json(note="staff", note_print=None, updated_at=READ_STAMP, **overrides)
    )


def test_the_body_is_the_order_as_read_with_the_notes_changed(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    before = read(customer={"id": "c1", "name": "Chị Hoa"}, tags=[{"id": 2, "name": "Chờ cọc"}])
    recorder = Recorder(ok(order_json(note="staff\n\nblock", updated_at=WRITE_STAMP)))

    make_client(recorder).write_order("4", before, {"note": "staff\n\nblock"})

    [request] = recorder.requests
    assert (request.method, request.url.path) == ("PUT", "/api/v1/shops/4/orders/1418")
    expected = {key: value for key, value in before.raw.items() if key != "updated_at"}
    assert json.loads(request.content) == expected | {"note": "staff\n\nblock"}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (httpx.Response(200, json={"success": True}), "no order in the answer"),
        (ok(None), "data is null"),
        (ok(order_json(note="staff\n\nblock", updated_at=READ_STAMP)), "the stamp read"),
        (ok({"note": "staff\n\nblock", "updated_at": WRITE_STAMP}), "no id: unreadable"),
        (ok(order_json(order_id=9, updated_at=WRITE_STAMP)), "another order"),
        (ok({**order_json(note="staff\n\nblock"), "updated_at": None}), "no stamp"),
    ],
)
def test_an_answer_that_does_not_prove_the_write_asks_for_a_read_back(
    make_client: Callable[[Handler], PancakeClient], answer: httpx.Response, why: str
) -> None:
    client = make_client(Recorder(answer))

    assert client.write_order("4", read(), {"note": "staff\n\nblock"}) is None, why


def test_an_echo_of_the_body_proves_nothing(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    """A server that answers with what it was sent, stored or not: the body carries no stamp."""

    def echo(request: httpx.Request) -> httpx.Response:
        return ok(json.loads(request.content))

    assert make_client(echo).write_order("4", read(), {"note": "x"}) is None


def test_a_fresh_answer_is_the_order_after_the_write(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    stored = order_json(note="staff\n\nblock", note_print=None, updated_at=WRITE_STAMP)
    client = make_client(Recorder(ok(stored)))

    after = client.write_order("4", read(), {"note": "staff\n\nblock"})

    assert after is not None
    assert after.note == "staff\n\nblock"
    assert changed_parts(read(), after) == []


def test_changed_parts_names_what_a_write_must_not_touch() -> None:
    before = read(customer={"id": "c1", "name": "Chị Hoa", "order_count": 3})
    same_buyer = read(customer={"id": "c1", "name": "Chị Hoa", "order_count": 4})
    wiped = PancakeOrder.from_api({"id": 1418, "status": 0, "items": [], "note": "staff"})

    assert changed_parts(before, same_buyer) == []
    assert changed_parts(before, wiped) == ["items", "status", "customer"]
    assert changed_parts(before, read(customer={"id": "c2"})) == ["customer"]
