"""The webhook endpoint over real HTTP: replayed Pancake fixtures and every kind of bad input."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlmodel
from sqlalchemy import func, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.models import Order
from tests.conftest import FIXTURES, Backend
from workers.fulfilment.models import WebhookEvent

PANCAKE = FIXTURES / "pancake"


@pytest.fixture
def bridge(backend: Backend) -> Iterator[Sandbox]:
    """The web side only: what is recorded and queued, before any worker acts on it."""
    sandbox = backend.sandbox().start(workers=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def post(
    sandbox: Sandbox, body: bytes, *, secret: str | None = None, shop: str | None = None
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    secret = sandbox.webhook_secret if secret is None else secret
    if secret:
        headers["X-Bridge-Secret"] = secret
    url = f"{sandbox.bridge_url}/webhooks/pancake/{shop or sandbox.shop_id}"
    return httpx.post(url, content=body, headers=headers, timeout=10)


def counts(sandbox: Sandbox) -> tuple[int, int]:
    with session_scope(sandbox.runtime.engine) as session:
        conn = session.connection()
        events = conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    return events, orders


@pytest.mark.parametrize(
    ("fixture", "outcome", "order_id"),
    [
        ("orders__confirmed_flat.json", "queued", "1418"),
        ("orders__confirmed_wrapped_data.json", "queued", "1419"),
        ("orders__confirmed_wrapped_record.json", "queued", "1420"),
        ("orders__marketplace_string_id.json", "queued", "AF100975192O582"),
        ("orders__multi_line_one_unmapped.json", "queued", "123456789012345678"),
        ("orders__new_not_triggered.json", "ignored:status", None),
        ("variations_warehouses__sale.json", "ignored:stock", None),
        ("customers__updated.json", "ignored:type", None),
        ("crm__record.json", "ignored:type", None),
    ],
)
def test_replayed_fixture_is_recorded_with_its_outcome(
    bridge: Sandbox, fixture: str, outcome: str, order_id: str | None
) -> None:
    body = (PANCAKE / fixture).read_bytes()

    response = post(bridge, body)

    assert response.status_code == 200
    assert response.json() == {"ok": True, "outcome": outcome}
    with session_scope(bridge.runtime.engine) as session:
        [event] = session.exec(sqlmodel.select(WebhookEvent)).all()
        orders = [order.order_id for order in session.exec(sqlmodel.select(Order))]
    assert event.outcome == outcome
    assert orders == ([order_id] if order_id else [])


def test_an_authenticated_object_of_no_known_type_is_answered_200_and_ignored(
    bridge: Sandbox,
) -> None:
    body = b'{"hello": "world", "phone": "0912312312"}'
    answers = [post(bridge, body) for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 200]
    assert [a.json()["outcome"] for a in answers] == ["ignored:type", "duplicate"]
    with session_scope(bridge.runtime.engine) as session:
        [event] = session.exec(sqlmodel.select(WebhookEvent)).all()
    assert (event.kind, event.order_id) == ("unknown", None)


def test_the_same_webhook_ten_times_is_one_event_and_one_order(bridge: Sandbox) -> None:
    body = (PANCAKE / "orders__confirmed_flat.json").read_bytes()
    reordered = json.dumps(dict(reversed(list(json.loads(body).items())))).encode()

    outcomes = [post(bridge, body).json()["outcome"] for _ in range(9)]
    outcomes.append(post(bridge, reordered).json()["outcome"])

    assert outcomes == ["queued"] + ["duplicate"] * 9
    assert counts(bridge) == (1, 1)


def test_a_changed_order_is_recorded_but_queues_no_second_intake(bridge: Sandbox) -> None:
    order = json.loads((PANCAKE / "orders__confirmed_flat.json").read_bytes())
    first = post(bridge, json.dumps(order).encode()).json()["outcome"]
    order["note"] = "staff edited the note"
    second = post(bridge, json.dumps(order).encode()).json()["outcome"]

    assert (first, second) == ("queued", "known")
    assert counts(bridge) == (2, 1)


BAD_INPUTS = [
    pytest.param({"secret": "wrong-secret-value"}, b"{}", 401, id="wrong secret"),
    pytest.param({"secret": ""}, b"{}", 401, id="missing secret"),
    pytest.param({"shop": "no-such-shop"}, b"{}", 404, id="unknown shop"),
    pytest.param({}, b"{" + b" " * (1024 * 1024) + b"}", 413, id="body over 1 MiB"),
    pytest.param({}, b"not json at all", 400, id="not JSON"),
    pytest.param({}, b"\xff\xfe garbage", 400, id="not UTF-8"),
    pytest.param({}, b"[1, 2, 3]", 400, id="JSON array"),
    pytest.param({}, b'"a string"', 400, id="JSON string"),
    pytest.param({}, b'{"type": "orders", "status": 1, "items": []}', 400, id="order without id"),
]


@pytest.mark.parametrize(("where", "body", "status"), BAD_INPUTS)
def test_bad_input_gets_its_status_a_reason_and_stores_nothing(
    bridge: Sandbox, where: dict[str, str], body: bytes, status: int
) -> None:
    response = post(bridge, body, **where)

    assert response.status_code == status
    reason = response.json()["error"]
    assert reason
    assert "\n" not in reason
    assert counts(bridge) == (0, 0)
    # The process keeps serving: a good webhook right after is accepted.
    good = post(bridge, (PANCAKE / "orders__confirmed_flat.json").read_bytes())
    assert good.status_code == 200


def test_the_endpoint_never_calls_pancake_or_a_supplier(bridge: Sandbox) -> None:
    for fixture in sorted(Path(PANCAKE).glob("orders__*.json")):
        assert post(bridge, fixture.read_bytes()).status_code == 200
    assert bridge.pancake.calls == []


def test_a_body_naming_another_shop_is_ignored_and_not_kept(bridge: Sandbox) -> None:
    """A webhook URL pasted into another Pancake shop must not read or buy that shop's orders."""
    document = json.loads((PANCAKE / "orders__confirmed_flat.json").read_bytes())
    document["shop_id"] = 99
    body = json.dumps(document).encode()

    answer = post(bridge, body)

    assert (answer.status_code, answer.json()["outcome"]) == (200, "ignored:shop")
    assert counts(bridge) == (1, 0), "no order recorded, nothing queued"


def _order(**fields: object) -> bytes:
    return json.dumps({"type": "orders", "id": "9001", "status": 1, "items": [], **fields}).encode()


def _stock(**fields: object) -> bytes:
    document = {"type": "variations_warehouses", "variation_id": "v1", "warehouse_id": "w1"}
    return json.dumps({**document, "remain_quantity": 3, **fields}).encode()


HUGE = "9" * 5000  # over Python's int-str limit (4300 digits)
DEEP = b'{"type": "orders", "x": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"
LONG = "x" * 10_000

# (where, body, status, what the reason says). Each is refused alone: nothing stored, no echo of
# the value, and the next webhook is accepted (on SQLite and PostgreSQL alike).
HOSTILE_INPUTS = [
    pytest.param({}, _order(status=10**20), 400, "out of range", id="status 10**20"),
    pytest.param({}, _order(status=2**31), 400, "out of range", id="status over int32"),
    pytest.param({}, _order(status=-(2**63)), 400, "out of range", id="status int64 min"),
    pytest.param({}, _order(status=HUGE), 400, "out of range", id="status 5000-digit string"),
    pytest.param({}, _order(total=10**20), 200, "", id="10**20 in a field not stored"),
    pytest.param(
        {}, b'{"type": "orders", "t": ' + HUGE.encode() + b"}", 400, "4300", id="5000-digit integer"
    ),
    pytest.param({}, _order(id="9001\u0000"), 400, "control character", id="NUL in order id"),
    pytest.param(
        {}, _order(id=9001, type="orders\u0000"), 400, "control character", id="NUL in type"
    ),
    pytest.param({}, b'{"type": "orders", "id": "9\x00"}', 400, "not JSON", id="raw NUL byte"),
    pytest.param({}, _order(note="a\u0000b"), 200, "", id="NUL in a field not stored"),
    pytest.param(
        {}, _stock(variation_id="v\u0000"), 400, "control character", id="NUL in variation id"
    ),
    pytest.param({}, _stock(remain_quantity=10**20), 400, "out of range", id="quantity 10**20"),
    pytest.param(
        {},
        b'{"type": "orders", "id": "1", "note": "\\ud800"}',
        400,
        "surrogate",
        id="lone surrogate",
    ),
    pytest.param(
        {}, b'{"type": "orders", "id": "\\udfff"}', 400, "surrogate", id="lone surrogate id"
    ),
    pytest.param({}, DEEP, 400, "nested too deeply", id="nested 10,000 deep"),
    pytest.param({}, _order(id=LONG), 400, "longer than 100", id="order id 10,000 chars"),
    pytest.param({"shop": "4%00"}, _order(), 400, "control character", id="NUL in URL shop id"),
    pytest.param({"shop": "4" * 150}, _order(), 400, "longer than 100", id="URL shop id 150 chars"),
    pytest.param(
        {"shop": "4" * 3000}, _order(), 414, "longer than 2048", id="URL shop id 3,000 chars"
    ),
    pytest.param(
        # httpx refuses URLs over 64 KiB; a longer one is answered alike.
        {"shop": "4" * 60_000},
        _order(),
        414,
        "longer than 2048",
        id="URL shop id 60,000 chars",
    ),
    pytest.param({"shop": "no-such-shop"}, _order(), 404, "unknown shop", id="unknown shop"),
]


@pytest.mark.parametrize(("where", "body", "status", "reason"), HOSTILE_INPUTS)
def test_hostile_input_gets_a_one_line_reason_and_never_a_5xx(
    bridge: Sandbox, where: dict[str, str], body: bytes, status: int, reason: str
) -> None:
    response = post(bridge, body, **where)

    assert response.status_code == status, response.text
    if status == 200:
        assert counts(bridge)[0] == 1
        return
    error = response.json()["error"]
    assert reason in error
    assert "\n" not in error
    assert len(response.content) < 200, "nothing of the request is echoed back"
    assert "no-such-shop" not in error
    assert counts(bridge) == (0, 0)
    good = post(bridge, (PANCAKE / "orders__confirmed_flat.json").read_bytes())
    assert (good.status_code, good.json()["outcome"]) == (200, "queued")


async def _post_all(sandbox: Sandbox, bodies: list[bytes]) -> list[httpx.Response]:
    headers = {"Content-Type": "application/json", "X-Bridge-Secret": sandbox.webhook_secret}
    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        return await asyncio.gather(
            *(client.post(sandbox.webhook_url, content=body, headers=headers) for body in bodies)
        )


def test_bad_webhooks_among_90_concurrent_valid_ones_fail_alone(bridge: Sandbox) -> None:
    valid = [_order(id=f"7{n:03d}") for n in range(90)]
    bad = [_order(id="8001", status=10**20), _order(id="8002\u0000"), _stock(remain_quantity=2**40)]
    bodies = valid[:30] + bad[:1] + valid[30:60] + bad[1:] + valid[60:]

    answers = asyncio.run(_post_all(bridge, bodies))

    by_body = dict(zip(bodies, answers, strict=True))
    assert [by_body[body].status_code for body in valid] == [200] * 90
    assert [by_body[body].status_code for body in bad] == [400] * 3
    assert counts(bridge) == (90, 90), "every valid webhook recorded, its order queued"
