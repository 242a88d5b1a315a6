"""PancakeClient against httpx.MockTransport: parsing, the api_key, retries and errors."""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeError, PancakeRequestError, PancakeUnavailable
from bridge.pancake.schemas import PancakeOrder, QuantityUpdate
from bridge.retrying import RetryLater

BASE_URL = "https://pos.example/api/v1"
API_KEY = "k3y-0f-the-shop-5b2e9c"

Handler = Callable[[httpx.Request], httpx.Response]


def order_json(order_id: object = 1418, **overrides: Any) -> dict[str, Any]:
    """An order shaped like the documented GET /shops/<id>/orders/<id> answer, trimmed."""
    return {
        "id": order_id,
        "shop_id": 4,
        "status": 1,
        "status_name": "submitted",
        "note": None,
        "bill_full_name": "hoang anh",
        "bill_phone_number": "0999999999",
        "bill_email": "buyer@example.com",
        "items": [
            {
                "id": 7,
                "quantity": 2,
                "variation_id": "415040f4-ab63-465e-8699-e9ebfff4c6c7",
                "product_id": "3487e126-b0d9-4dae-89a9-ee60bef2f4e9",
                "variation_info": {"name": "Netflix 1 month", "retail_price": 100000},
            }
        ],
        "inserted_at": "2020-05-12T04:51:42",
        "updated_at": "2020-05-12T04:51:54",
        **overrides,
    }


class Recorder:
    """A MockTransport handler that answers from a script and keeps every request."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        # A fresh response each time: httpx binds a response to the request it answered.
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(sleeps: list[float]) -> Iterator[Callable[[Handler], PancakeClient]]:
    clients: list[PancakeClient] = []

    def make(handler: Handler) -> PancakeClient:
        client = PancakeClient(
            BASE_URL,
            API_KEY,
            transport=httpx.MockTransport(handler),
            attempts=3,
            retry_base=0.01,
            sleep=sleeps.append,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def ok(data: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "data": data})


# -- parsing ----------------------------------------------------------------------------------


def test_get_order_parses_items_null_note_and_keeps_raw(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    recorder = Recorder(ok(order_json()))
    order = make_client(recorder).get_order("4", "1418")

    assert order.id == "1418"
    assert order.shop_id == "4"
    assert order.status == 1
    assert order.note == ""
    [item] = order.items
    assert item.id == "7"
    assert item.variation_id == "415040f4-ab63-465e-8699-e9ebfff4c6c7"
    assert item.product_id == "3487e126-b0d9-4dae-89a9-ee60bef2f4e9"
    assert item.quantity == 2
    assert item.name == "Netflix 1 month"
    assert order.raw["bill_email"] == "buyer@example.com"
    assert order.raw["note"] is None, "raw keeps the order exactly as Pancake sent it"
    assert recorder.requests[0].method == "GET"
    assert recorder.requests[0].url.path == "/api/v1/shops/4/orders/1418"


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (1418, "1418"),
        (123456789012345678, "123456789012345678"),
        ("AF100975192O582", "AF100975192O582"),
    ],
)
def test_order_ids_of_every_shape_become_strings(sent: object, expected: str) -> None:
    order = PancakeOrder.from_api(order_json(sent, items=[{"variation_id": 99, "quantity": 1}]))

    assert order.id == expected
    assert order.items[0].variation_id == "99"
    assert order.items[0].name is None


def test_get_order_accepts_the_bare_documented_shape(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    client = make_client(Recorder(httpx.Response(200, json=order_json("AF1"))))

    assert client.get_order("4", "AF1").id == "AF1"


def test_path_ids_are_quoted_so_they_cannot_add_segments_or_queries(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    recorder = Recorder(ok(order_json("a/b?c")))
    make_client(recorder).get_order("4 x", "a/b?c")

    url = recorder.requests[0].url
    assert url.raw_path.startswith(b"/api/v1/shops/4%20x/orders/a%2Fb%3Fc?")
    assert dict(url.params) == {"api_key": API_KEY}


def test_order_without_id_is_a_request_error_naming_the_field_not_its_data(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    body = order_json()
    del body["id"]
    client = make_client(Recorder(ok(body)))

    with pytest.raises(PancakeRequestError) as caught:
        client.get_order("4", "1418")
    assert "id" in str(caught.value)
    assert "0999999999" not in str(caught.value)


def test_list_variations_reads_page_names_and_stock(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    row = {
        "id": "e190db2b",
        "product_id": "3b98a639",
        "product": {"name": "ASOS black XL"},
        "remain_quantity": 20,
        "retail_price": 140000,
        "variations_warehouses": [{"warehouse_id": "w1", "remain_quantity": 20}],
    }
    body = {"success": True, "data": [row], "page_number": 1, "page_size": 1, "total_pages": 3}
    recorder = Recorder(httpx.Response(200, json=body))
    page = make_client(recorder).list_variations("4", page_number=1, page_size=1)

    [variation] = page.variations
    assert (variation.id, variation.name, variation.remain_quantity) == (
        "e190db2b",
        "ASOS black XL",
        20,
    )
    assert variation.remain_in("w1") == 20
    assert variation.remain_in("w2") is None
    assert page.has_more
    params = recorder.requests[0].url.params
    assert (params["page_number"], params["page_size"]) == ("1", "1")


def test_list_warehouses(make_client: Callable[[Handler], PancakeClient]) -> None:
    rows = [{"id": "b4cb5897", "name": "kho test", "shop_id": 26290}, {"id": 5, "name": None}]
    warehouses = make_client(Recorder(ok(rows))).list_warehouses("26290")

    assert [(w.id, w.name) for w in warehouses] == [("b4cb5897", "kho test"), ("5", None)]


# -- what is sent -----------------------------------------------------------------------------


def test_api_key_is_a_query_parameter_on_every_call(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    recorder = Recorder(ok(order_json()), ok(order_json()), ok([]), ok(None))
    client = make_client(recorder)
    client.get_order("4", "1")
    client.update_order("4", "1", {"note": "x"})
    client.list_warehouses("4")
    client.update_quantities(
        "4", [QuantityUpdate(variation_id="v", warehouse_id="w", remain_quantity=1)]
    )

    assert len(recorder.requests) == 4
    for request in recorder.requests:
        assert request.url.params["api_key"] == API_KEY
        assert API_KEY.encode() not in request.content
        assert all(API_KEY not in value for value in request.headers.values())


def test_update_order_sends_exactly_the_partial_body(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    recorder = Recorder(ok(order_json()))
    make_client(recorder).update_order("4", "1418", {"note": "staff note\n---\ncode: ABC"})

    [request] = recorder.requests
    assert request.method == "PUT"
    assert request.url.path == "/api/v1/shops/4/orders/1418"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {"note": "staff note\n---\ncode: ABC"}


def test_update_quantities_sends_the_documented_body_and_skips_empty_batches(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    recorder = Recorder(httpx.Response(200, json={"success": True}))
    client = make_client(recorder)
    entry = QuantityUpdate(variation_id="v1", warehouse_id="w1", remain_quantity=15)
    client.update_quantities("4", [entry], is_actual_remain_quantity=True)
    client.update_quantities("4", [])

    [request] = recorder.requests
    assert request.url.path == "/api/v1/shops/4/variations/update_quantity"
    assert json.loads(request.content) == {
        "is_actual_remain_quantity": True,
        "variations_warehouses": [
            {"variation_id": "v1", "warehouse_id": "w1", "remain_quantity": 15}
        ],
    }


# -- retries ----------------------------------------------------------------------------------


def test_429_is_retried_after_the_retry_after_delay(
    make_client: Callable[[Handler], PancakeClient], sleeps: list[float]
) -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "2"}), ok(order_json()))
    client = make_client(recorder)

    assert client.get_order("4", "1418").id == "1418"
    assert client.calls == 2
    assert sleeps == [2.0]


def test_a_long_retry_after_is_capped(
    make_client: Callable[[Handler], PancakeClient], sleeps: list[float]
) -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "3600"}), ok(order_json()))
    make_client(recorder).get_order("4", "1418")

    assert sleeps == [5.0]


def test_5xx_on_every_attempt_raises_unavailable(
    make_client: Callable[[Handler], PancakeClient], sleeps: list[float]
) -> None:
    client = make_client(Recorder(httpx.Response(503, headers={"Retry-After": "1"})))

    with pytest.raises(PancakeUnavailable) as caught:
        client.get_order("4", "1418")
    assert caught.value.status == 503
    assert caught.value.retry_after == 1.0
    assert isinstance(caught.value, RetryLater), "workers reschedule on RetryLater"
    assert client.calls == 3
    assert len(sleeps) == 2


def test_timeouts_are_retried_then_raised(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    client = make_client(Recorder(httpx.ReadTimeout("timed out")))

    with pytest.raises(PancakeUnavailable) as caught:
        client.update_order("4", "1418", {"note": "x"})
    assert caught.value.status is None
    assert "ReadTimeout" in str(caught.value)
    assert client.calls == 3


def test_a_connect_error_then_success_is_invisible(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    client = make_client(Recorder(httpx.ConnectError("refused"), ok(order_json())))

    assert client.get_order("4", "1418").id == "1418"
    assert client.calls == 2


# -- refusals ---------------------------------------------------------------------------------


def test_success_false_with_http_200_is_a_request_error_and_not_retried(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    body = {"success": False, "message": "Đơn hàng không tồn tại"}
    client = make_client(Recorder(httpx.Response(200, json=body)))

    with pytest.raises(PancakeRequestError) as caught:
        client.get_order("4", "1418")
    assert caught.value.status == 200
    assert caught.value.message == "Đơn hàng không tồn tại"
    assert client.calls == 1


def test_404_is_a_request_error_and_not_retried(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    body = {"success": False, "message": "Order not found"}
    client = make_client(Recorder(httpx.Response(404, json=body)))

    with pytest.raises(PancakeRequestError) as caught:
        client.get_order("4", "1418")
    assert caught.value.status == 404
    assert caught.value.message == "Order not found"
    assert str(caught.value) == "GET /api/v1/shops/4/orders/1418 answered 404: Order not found"
    assert client.calls == 1


def test_non_json_answer_is_a_request_error(
    make_client: Callable[[Handler], PancakeClient],
) -> None:
    client = make_client(Recorder(httpx.Response(200, text="<html>login</html>")))

    with pytest.raises(PancakeRequestError, match="not JSON"):
        client.list_warehouses("4")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(401, json={"success": False, "message": f"invalid api_key {API_KEY}"}),
        httpx.Response(200, json={"success": False, "message": f"bad key {API_KEY}"}),
        httpx.Response(500, text=f"crash at /orders?api_key={API_KEY}"),
        httpx.Response(429),
        httpx.ConnectError(f"cannot reach {BASE_URL}/shops/4/orders/1?api_key={API_KEY}"),
        httpx.ReadTimeout(f"timeout on ?api_key={API_KEY}"),
    ],
    ids=["401-echo", "200-false-echo", "500-body", "429", "connect", "timeout"],
)
def test_errors_never_contain_the_api_key(
    make_client: Callable[[Handler], PancakeClient], answer: httpx.Response | Exception
) -> None:
    client = make_client(Recorder(answer))

    with pytest.raises(PancakeError) as caught:
        client.get_order("4", "1")
    error = caught.value
    shown = "".join(traceback.format_exception(error)) + repr(error)
    assert API_KEY not in shown
    assert API_KEY not in getattr(error, "body", "")
    assert API_KEY not in (getattr(error, "message", None) or "")
    assert "/shops/4/orders/1" in str(error)
