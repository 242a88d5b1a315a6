"""SupplierClient against canned answers (httpx.MockTransport): parsing, error mapping, retries."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from bridge.http_errors import parse_retry_after
from bridge.supplier import (
    OrderItem,
    SupplierClient,
    SupplierError,
    SupplierOutcomeUnknown,
    SupplierRateLimited,
    SupplierRefused,
    SupplierUnreachable,
)
from bridge.supplier.budget import Ticket
from bridge.supplier.errors import SupplierDailyLimited

API_KEY = "sk_live_a1b2c3d4" + "7" * 24
API_SECRET = "sk_secret_a1b2c3d4" + "9" * 56
BASE_URL = "https://shop.test/api/v1"

Handler = Callable[[httpx.Request], httpx.Response]

FULL_STATUS = {
    "success": True,
    "timestamp": 1770020629,
    "request_id": "req_69805f15a5ed77.94324321",
    "data": {
        "order": {
            "id": 36,
            "trans_id": "PO8153690",
            "product": {"id": 21, "name": "Figma", "slug": "figma"},
            "plan": {"id": 19, "name": "Figma Edu 1 năm", "is_instant": True},
            "quantity": 2,
            "final_amount": 400000,
            "fields_data": [],
            "status": "completed",
            "created_at": "2026-02-02 15:23:14",
        },
        "delivery": {
            "items": ["Account: a@x.example | Pass: abc123", "Account: b@x.example | Pass: xyz789"],
            "delivered_count": 2,
            "expected_count": 2,
        },
        "execution_time": 0.0238,
    },
}
SHORT_STATUS = {
    "success": True,
    "data": {
        "trans_id": "ORD1703750400ABC",
        "status": "completed",
        "total_amount": 100000,
        "delivery": {"items": ["Account: c@x.example | Pass: abc123"], "delivered_count": 1},
    },
}
CREATED = {
    "success": True,
    "message": "Đơn hàng đã được tạo thành công",
    "data": {
        "orders": [
            {
                "trans_id": "ORD1703750400ABC",
                "product_name": "Sản phẩm Premium",
                "status": "completed",
                "total": 100000,
            }
        ],
        "summary": {"total_amount": 100000, "new_balance": 400000},
    },
}


def error_body(code: str, message: str = "refused") -> dict[str, Any]:
    return {"success": False, "message": message, "data": {"error_code": code}}


def answer(status: int, body: object, headers: dict[str, str] | None = None) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


def raising(exc_type: type[httpx.TransportError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("simulated", request=request)

    return handler


def make_client(handler: Handler, **kwargs: Any) -> SupplierClient:
    kwargs.setdefault("read_retry_base", 0.0)
    kwargs.setdefault("sleep", lambda seconds: None)
    return SupplierClient(
        BASE_URL, API_KEY, API_SECRET, transport=httpx.MockTransport(handler), **kwargs
    )


def test_create_order_sends_documented_request_and_parses_answer() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=CREATED)

    client = make_client(handler)
    result = client.create_order(
        [OrderItem(plan_id=18, fields={"email_dang_nhap": "a@b.example"}), OrderItem(plan_id=5)]
    )

    assert client.calls == 1
    [request] = seen
    assert request.method == "POST"
    assert str(request.url) == "https://shop.test/api/v1/orders/create"
    assert request.headers["X-API-Key"] == API_KEY
    assert request.headers["X-API-Secret"] == API_SECRET
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "items": [
            {"plan_id": 18, "quantity": 1, "fields": {"email_dang_nhap": "a@b.example"}},
            {"plan_id": 5, "quantity": 1},
        ]
    }
    assert [order.trans_id for order in result.orders] == ["ORD1703750400ABC"]
    assert result.orders[0].status == "completed"
    assert result.orders[0].total == 100000
    assert result.new_balance == 400000


def test_create_order_refuses_an_empty_order_without_calling() -> None:
    client = make_client(answer(201, CREATED))
    with pytest.raises(ValueError, match="at least one item"):
        client.create_order([])
    assert client.calls == 0


def test_status_full_dialect() -> None:
    status = make_client(answer(200, FULL_STATUS)).order_status("PO8153690")

    assert status.trans_id == "PO8153690"
    assert status.status == "completed"
    assert status.items == [
        "Account: a@x.example | Pass: abc123",
        "Account: b@x.example | Pass: xyz789",
    ]
    assert (status.delivered_count, status.expected_count) == (2, 2)
    assert (status.plan_id, status.quantity) == (19, 2)


def test_status_short_dialect() -> None:
    status = make_client(answer(200, SHORT_STATUS)).order_status("ORD1703750400ABC")

    assert status.trans_id == "ORD1703750400ABC"
    assert status.status == "completed"
    assert status.items == ["Account: c@x.example | Pass: abc123"]
    assert status.delivered_count == 1
    assert status.expected_count is None
    assert status.plan_id is None


@pytest.mark.parametrize(
    "data",
    [
        {"trans_id": 8153690, "status": "Pending"},
        {"trans_id": "8153690", "status": "pending", "delivery": None},
        {"order": {"trans_id": "8153690", "status": "pending"}, "delivery": {"items": None}},
    ],
)
def test_status_without_delivery_has_no_items(data: dict[str, Any]) -> None:
    status = make_client(answer(200, {"success": True, "data": data})).order_status("8153690")

    assert status.trans_id == "8153690"
    assert status.status == "pending"
    assert status.items == []
    assert status.delivered_count == 0


def test_status_query_carries_trans_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=SHORT_STATUS)

    make_client(handler).order_status("ORD 1&2")
    assert seen[0].url.path == "/api/v1/orders/status"
    assert seen[0].url.params["trans_id"] == "ORD 1&2"


@pytest.mark.parametrize(
    "body",
    [
        {"success": True, "data": {"balance": {"current": 93537500, "currency": "VND"}}},
        {"success": True, "data": {"balance": 93537500, "currency": "VND"}},
        {"success": True, "data": {"balance": "93537500"}},
    ],
    ids=["full", "short", "string"],
)
def test_balance_both_dialects(body: dict[str, Any]) -> None:
    assert make_client(answer(200, body)).balance() == 93_537_500.0


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (401, "INVALID_API_KEY"),
        (401, "INVALID_API_SECRET"),
        (401, "DISABLED_API_KEY"),
        (403, "IP_NOT_ALLOWED"),
        (403, "PERMISSION_DENIED"),
        (404, "PRODUCT_NOT_FOUND"),
        (400, "INSUFFICIENT_BALANCE"),
        (400, "OUT_OF_STOCK"),
        (400, "CART_ERROR"),
    ],
)
def test_4xx_with_code_is_refused(status: int, code: str) -> None:
    client = make_client(answer(status, error_body(code, "Số dư không đủ")))
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=1)])

    assert (caught.value.status, caught.value.error_code) == (status, code)
    assert caught.value.message == "Số dư không đủ"
    assert str(caught.value).startswith("POST /api/v1/orders/create: HTTP")
    assert client.calls == 1


def test_4xx_without_code_is_refused_as_unknown() -> None:
    client = make_client(answer(404, b"<html>Not Found</html>"))
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert (caught.value.status, caught.value.error_code) == (404, "UNKNOWN")


def test_200_with_success_false_is_refused() -> None:
    client = make_client(answer(200, error_body("CHECKOUT_ERROR", "Lỗi thanh toán")))
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert (caught.value.status, caught.value.error_code) == (200, "CHECKOUT_ERROR")


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (500, error_body("CHECKOUT_ERROR"), "CHECKOUT_ERROR"),
        (502, b"<html>Bad Gateway</html>", None),
        (503, b"", None),
        (201, b"<html>Fatal error</html>", None),
        (201, [1, 2], None),
        (201, {"success": True}, None),
        (201, {"success": True, "data": {"orders": []}}, None),
        (201, {"success": True, "data": {"orders": [{"status": "completed"}]}}, None),
    ],
    ids=[
        "500-with-code",
        "502-html",
        "503-empty",
        "201-not-json",
        "201-not-object",
        "201-no-data",
        "201-no-orders",
        "201-order-without-trans-id",
    ],
)
def test_ambiguous_answers_to_create_are_outcome_unknown(
    status: int, body: object, code: str | None
) -> None:
    client = make_client(answer(status, body))
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=1)])

    assert caught.value.status == status
    assert caught.value.error_code == code
    assert client.calls == 1


@pytest.mark.parametrize(
    "exc_type", [httpx.ReadTimeout, httpx.WriteTimeout, httpx.RemoteProtocolError, httpx.ReadError]
)
def test_transport_failure_after_sending_is_outcome_unknown(
    exc_type: type[httpx.TransportError],
) -> None:
    client = make_client(raising(exc_type))
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert exc_type.__name__ in str(caught.value)
    assert caught.value.status is None
    assert client.calls == 1


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_failure_to_connect_is_unreachable(exc_type: type[httpx.TransportError]) -> None:
    client = make_client(raising(exc_type))
    with pytest.raises(SupplierUnreachable):
        client.create_order([OrderItem(plan_id=1)])
    assert client.calls == 1


class RecordingBudget:
    """A budget that admits everything and records what the client told it."""

    def __init__(self) -> None:
        self.admitted: list[Ticket] = []
        self.answered_tickets: list[Ticket] = []
        self.released: list[Ticket] = []
        self.penalties: list[float | None] = []
        self.pauses: list[float] = []

    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        self.admitted.append(Ticket(f"t{len(self.admitted)}"))
        return self.admitted[-1]

    def answered(self, ticket: Ticket) -> None:
        self.answered_tickets.append(ticket)

    def release(self, ticket: Ticket) -> None:
        self.released.append(ticket)

    def penalize(self, retry_after: float | None) -> float:
        self.penalties.append(retry_after)
        return 60.0 if retry_after is None else retry_after

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)


@pytest.mark.parametrize(
    "handler",
    [answer(200, {"success": True, "data": {"balance": 1}}), answer(400, error_body("X"))],
)
def test_an_answered_request_restamps_its_budget_slot(handler: Handler) -> None:
    budget = RecordingBudget()
    client = make_client(handler, budget=budget, read_attempts=1)
    with contextlib.suppress(SupplierError):
        client.balance()
    assert budget.answered_tickets == budget.admitted == ["t0"]


def test_a_request_that_timed_out_keeps_its_budget_slot_in_flight() -> None:
    """The supplier may still receive a timed-out request later: it stays counted as unanswered."""
    budget = RecordingBudget()
    client = make_client(raising(httpx.ReadTimeout), budget=budget)
    with pytest.raises(SupplierOutcomeUnknown):
        client.create_order([OrderItem(plan_id=1)])
    assert budget.admitted == ["t0"]
    assert budget.answered_tickets == []


def test_a_reserved_slot_is_spent_by_the_order_it_was_reserved_for() -> None:
    budget = RecordingBudget()
    client = make_client(answer(200, {"success": True, "data": {}}), budget=budget)
    ticket = client.reserve_slot(max_wait=1.0)
    with contextlib.suppress(SupplierError):
        client.create_order([OrderItem(plan_id=1)], ticket=ticket)
    assert budget.admitted == ["t0"], "no second slot taken"
    assert budget.answered_tickets == ["t0"]


def test_429_is_rate_limited_with_retry_after() -> None:
    client = make_client(answer(429, error_body("RATE_LIMIT_EXCEEDED"), {"Retry-After": "7"}))
    with pytest.raises(SupplierRateLimited) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert caught.value.retry_after == 7.0
    assert client.calls == 1


def test_rate_limit_code_without_429_is_rate_limited() -> None:
    client = make_client(answer(200, error_body("RATE_LIMIT_EXCEEDED")))
    with pytest.raises(SupplierRateLimited) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert caught.value.retry_after is None


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    in_a_minute = (datetime.now(UTC) + timedelta(seconds=60)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after("3") == 3.0
    assert 55 < (parse_retry_after(in_a_minute) or 0) <= 60
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def failing_then(failures: list[Handler], final: Handler) -> Handler:
    remaining = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        return remaining.pop(0)(request) if remaining else final(request)

    return handler


def test_reads_retry_transient_failures_then_succeed() -> None:
    sleeps: list[float] = []
    handler = failing_then(
        [answer(503, b"busy"), raising(httpx.ReadError)], answer(200, SHORT_STATUS)
    )
    client = make_client(handler, read_attempts=3, sleep=sleeps.append)

    assert client.order_status("ORD1703750400ABC").status == "completed"
    assert client.calls == 3
    assert len(sleeps) == 2


def test_reads_give_up_after_read_attempts_with_the_last_error() -> None:
    client = make_client(raising(httpx.ConnectError), read_attempts=4)
    with pytest.raises(SupplierUnreachable) as caught:
        client.balance()
    assert client.calls == 4
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_reads_honour_retry_after_up_to_the_cap() -> None:
    sleeps: list[float] = []
    limited = answer(429, error_body("RATE_LIMIT_EXCEEDED"), {"Retry-After": "2"})
    too_long = answer(429, error_body("RATE_LIMIT_EXCEEDED"), {"Retry-After": "3600"})
    handler = failing_then([limited, too_long], answer(200, SHORT_STATUS))
    client = make_client(handler, read_retry_cap=30.0, sleep=sleeps.append)

    client.order_status("ORD1703750400ABC")
    assert sleeps == [2.0, 30.0]


def test_reads_do_not_retry_refusals() -> None:
    client = make_client(answer(404, error_body("ORDER_NOT_FOUND")), read_attempts=5)
    with pytest.raises(SupplierRefused) as caught:
        client.order_status("nope")
    assert caught.value.error_code == "ORDER_NOT_FOUND"
    assert client.calls == 1


def collect_errors() -> list[SupplierError]:
    """One of each error kind, including a refusal whose message echoes the credentials."""
    echo = error_body("INVALID_API_KEY", f"bad key {API_KEY} / {API_SECRET}")
    handlers: list[Handler] = [
        answer(401, echo),
        answer(500, echo),
        answer(429, echo, {"Retry-After": "1"}),
        answer(201, b"not json"),
        answer(201, {"success": True, "data": {"orders": [{"trans_id": API_SECRET}]}}),
        raising(httpx.ReadTimeout),
        raising(httpx.ConnectError),
    ]
    errors: list[SupplierError] = []
    for handler in handlers:
        client = make_client(handler, read_attempts=1)
        with pytest.raises(SupplierError) as bought:
            client.create_order([OrderItem(plan_id=1)])
        with pytest.raises(SupplierError) as read:
            client.order_status("SECRET-TRANS")
        errors += [bought.value, read.value]
    return errors


def test_error_texts_never_carry_credentials_or_query_strings() -> None:
    errors = collect_errors()
    assert len(errors) == 14
    for error in errors:
        text = f"{error} {error!r} {getattr(error, 'message', '')}"
        assert API_KEY not in text
        assert API_SECRET not in text
        assert "SECRET-TRANS" not in text
        assert "shop.test" not in text
        assert text.startswith(("POST /api/v1/orders/create", "GET /api/v1/orders/status"))


def orders_page(created_at: str) -> dict[str, Any]:
    order = {
        "id": 1234,
        "trans_id": "ORD-1705678901-ABC123",
        "product": {"id": 10, "name": "Windows 11 Pro Key"},
        "plan": {"id": "5", "name": "Gói Retail"},
        "quantity": 2,
        "status": "completed",
        "created_at": created_at,
    }
    pagination = {"current_page": 2, "per_page": 20, "total": 45, "total_pages": 3}
    return {"success": True, "data": {"orders": [order], "pagination": pagination}}


def test_list_orders_parses_created_at_in_supplier_time() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=orders_page("2026-01-19 10:30:00"))

    page = make_client(handler).list_orders(page=2, limit=20, status="completed")

    assert dict(seen[0].url.params) == {"page": "2", "limit": "20", "status": "completed"}
    [order] = page.orders
    assert (order.id, order.trans_id, order.plan_id, order.quantity) == (
        1234,
        "ORD-1705678901-ABC123",
        5,
        2,
    )
    assert order.created_at is not None
    assert order.created_at.tzinfo is not None
    # 10:30 in Vietnam (UTC+07:00) is 03:30 UTC.
    assert order.created_at == datetime(2026, 1, 19, 3, 30, tzinfo=UTC)
    # total_pages stands in for a missing has_more.
    assert (page.page, page.has_more) == (2, True)


def test_list_orders_uses_the_configured_supplier_zone() -> None:
    client = make_client(
        answer(200, orders_page("2026-01-19 10:30:00")), supplier_tz=timezone(timedelta(hours=-5))
    )
    [order] = client.list_orders().orders
    assert order.created_at == datetime(2026, 1, 19, 15, 30, tzinfo=UTC)


def test_list_orders_tolerates_a_zero_date() -> None:
    [order] = make_client(answer(200, orders_page("0000-00-00 00:00:00"))).list_orders().orders
    assert order.created_at is None


def product(product_id: int, plans: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": product_id, "name": f"Product {product_id}", "slug": "p", "plans": plans}


INSTANT_PLAN = {
    "id": 319,
    "name": "Tài khoản 1 tháng",
    "price": 375000,
    "sale_price": 0,
    "final_price": 375000,
    "is_instant": True,
    "stock_count": 50,
    "in_stock": True,
    "fields": [],
}
MANUAL_PLAN = {
    "id": "320",
    "name": "Nâng chính chủ 1 Tháng",
    "price": 1650000,
    "sale_price": 1500000,
    "is_instant": False,
    "stock_count": 0,
    "in_stock": True,
    "fields": [
        {"key": "email", "label": "Email", "type": "email", "required": True},
        {"key": "note", "required": False},
    ],
}


def test_iter_products_follows_has_more() -> None:
    pages = {
        1: [product(29, [INSTANT_PLAN, MANUAL_PLAN])],
        2: [product(30, [])],
    }
    requested: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requested.append(dict(request.url.params))
        page = int(request.url.params["page"])
        pagination = {"current_page": page, "has_more": page < len(pages)}
        return httpx.Response(
            200, json={"success": True, "data": {"products": pages[page], "pagination": pagination}}
        )

    products = list(make_client(handler).iter_products())

    assert requested == [{"page": "1", "limit": "100"}, {"page": "2", "limit": "100"}]
    assert [p.id for p in products] == [29, 30]
    instant, manual = products[0].plans
    assert (instant.id, instant.final_price, instant.stock_count, instant.in_stock) == (
        319,
        375000,
        50,
        True,
    )
    assert (manual.id, manual.is_instant, manual.stock_count, manual.in_stock) == (
        320,
        False,
        0,
        True,
    )
    # final_price missing: the sale price wins over the list price.
    assert manual.final_price == 1500000
    assert [(f.key, f.label, f.required) for f in manual.fields] == [
        ("email", "Email", True),
        ("note", "note", False),
    ]


def test_iter_products_stops_on_an_empty_page_claiming_more() -> None:
    body = {"success": True, "data": {"products": [], "pagination": {"has_more": True}}}
    client = make_client(answer(200, body))
    assert list(client.iter_products()) == []
    assert client.calls == 1


# What the platform's own server answers (DESIGN.md section 4).

REAL_CREATED = {
    "success": True,
    "message": "Đơn hàng đã được tạo thành công",
    "timestamp": 1770020629,
    "data": {
        "orders": [
            {
                "order_id": 36,
                "trans_id": "K7Q2M9X",
                "product_id": 21,
                "product_name": "Netflix Premium",
                "plan_id": 319,
                "plan_name": "Netflix Premium 1 tháng",
                "quantity": 2,
                "unit_price": "75000.00",
                "total": 150000,
                "discount": 0,
                "final_amount": 150000,
                "status": "completed",
            }
        ],
        "summary": {
            "orders_count": 1,
            "original_total": 150000,
            "discount_amount": 0,
            "coupon_code": None,
            "total_amount": 150000,
            "new_balance": 850000,
        },
        "warnings": [{"code": "COUPON_SKIPPED", "message": "Mã giảm giá X không hợp lệ"}],
    },
}


def test_the_real_servers_201_is_a_purchase() -> None:
    result = make_client(answer(201, REAL_CREATED)).create_order([OrderItem(plan_id=319)])
    [order] = result.orders
    assert (order.trans_id, order.status, order.total) == ("K7Q2M9X", "completed", 150000)
    assert result.new_balance == 850000


@pytest.mark.parametrize("status", [401, 429])
def test_a_spent_rate_limit_is_a_rate_limit_whatever_its_status(status: int) -> None:
    """The real server answers RATE_LIMIT_EXCEEDED with a 401 and no Retry-After: not a bad
    key. The key's budget is held for what it decides (a whole window), and the error says so."""
    budget = RecordingBudget()
    client = make_client(answer(status, error_body("RATE_LIMIT_EXCEEDED")), budget=budget)
    with pytest.raises(SupplierRateLimited) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert (caught.value.status, caught.value.error_code) == (status, "RATE_LIMIT_EXCEEDED")
    assert budget.penalties == [None], "no Retry-After: the budget decides how long"
    assert caught.value.retry_after is None, "nothing was announced"
    assert caught.value.resume_in == 60.0
    assert budget.answered_tickets == budget.admitted, "the refused request spent its slot"


def test_a_retry_after_is_passed_to_the_budget() -> None:
    budget = RecordingBudget()
    limited = answer(429, error_body("RATE_LIMIT_EXCEEDED"), {"Retry-After": "7"})
    with pytest.raises(SupplierRateLimited) as caught:
        make_client(limited, budget=budget).create_order([OrderItem(plan_id=1)])
    assert budget.penalties == [7.0]
    assert caught.value.retry_after == caught.value.resume_in == 7.0


@pytest.mark.parametrize("status", [401, 429])
def test_a_spent_day_pauses_the_key_until_the_suppliers_next_day(status: int) -> None:
    budget = RecordingBudget()
    zone = timezone(timedelta(hours=8))
    client = make_client(
        answer(status, error_body("DAILY_LIMIT_EXCEEDED", "Vượt quá giới hạn request trong ngày")),
        budget=budget,
        supplier_tz=zone,
        read_attempts=3,
    )
    with pytest.raises(SupplierDailyLimited) as caught:
        client.balance()
    assert client.calls == 1, "no retry can cure a spent day"
    local = datetime.now(zone)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    to_midnight = (midnight - local).total_seconds()
    wait = caught.value.resume_in
    assert wait is not None
    assert wait == pytest.approx(to_midnight, abs=5) or wait == pytest.approx(3600, abs=5)
    assert budget.pauses == [wait]
    assert budget.penalties == [], "a spent day teaches nothing about the minute"
    assert caught.value.message == "Vượt quá giới hạn request trong ngày"


@pytest.mark.parametrize(
    "code", ["EXPIRED_API_KEY", "USER_BANNED", "API_DISABLED", "IP_NOT_ALLOWED", "INVALID_API_KEY"]
)
def test_the_real_servers_other_401s_are_refusals(code: str) -> None:
    budget = RecordingBudget()
    client = make_client(answer(401, error_body(code)), budget=budget)
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=1)])
    assert (caught.value.status, caught.value.error_code) == (401, code)
    assert budget.penalties == budget.pauses == []
    assert budget.answered_tickets == budget.admitted, "the refused request spent its slot"
