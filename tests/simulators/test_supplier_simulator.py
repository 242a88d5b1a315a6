"""The real SupplierClient against the supplier simulator over real HTTP, in both dialects."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, Dialect, SupplierSimulator
from bridge.supplier import (
    OrderItem,
    SupplierClient,
    SupplierOutcomeUnknown,
    SupplierRateLimited,
    SupplierRefused,
)
from bridge.web.server import ServerThread

START_BALANCE = 10_000_000
INSTANT, MANUAL = 5, 6
CREDENTIAL = re.compile(r"^Account: \S+@plan5\.example \| Pass: \S+$")


@dataclass
class Env:
    sim: SupplierSimulator
    server: ServerThread
    clients: list[SupplierClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.url + "/api/v1"

    def client(self, **kwargs: Any) -> SupplierClient:
        kwargs.setdefault("read_retry_base", 0.01)
        kwargs.setdefault("read_retry_cap", 0.05)
        key = kwargs.pop("api_key", DEMO_API_KEY)
        secret = kwargs.pop("api_secret", DEMO_API_SECRET)
        client = SupplierClient(self.url, key, secret, **kwargs)
        self.clients.append(client)
        return client

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"X-API-Key": DEMO_API_KEY, "X-API-Secret": DEMO_API_SECRET}
        return httpx.request(method, self.url + path, headers=headers, **kwargs)

    def close(self) -> None:
        for client in self.clients:
            client.close()
        self.server.stop()


def stocked(dialect: Dialect = "full", **kwargs: Any) -> SupplierSimulator:
    sim = SupplierSimulator(dialect=dialect, **kwargs)
    sim.add_plan(INSTANT, name="Netflix 1 tháng", price=50_000, stock=10)
    sim.add_plan(
        MANUAL,
        name="Nâng chính chủ",
        price=200_000,
        is_instant=False,
        fields=[{"key": "email", "label": "Email", "type": "email", "required": True}],
    )
    return sim


@pytest.fixture
def start() -> Iterator[Callable[[SupplierSimulator], Env]]:
    envs: list[Env] = []

    def serve(sim: SupplierSimulator) -> Env:
        env = Env(sim, ServerThread(sim.app).start())
        envs.append(env)
        return env

    yield serve
    for env in envs:
        env.close()


@pytest.fixture(params=["full", "short"])
def env(request: pytest.FixtureRequest, start: Callable[[SupplierSimulator], Env]) -> Env:
    return start(stocked(request.param))


@pytest.fixture
def full(start: Callable[[SupplierSimulator], Env]) -> Env:
    """For behaviour that does not depend on the dialect."""
    return start(stocked("full"))


def test_instant_purchase_delivers_credentials_through_status(env: Env) -> None:
    client = env.client()
    result = client.create_order([OrderItem(plan_id=INSTANT, quantity=2)])

    [order] = result.orders
    assert order.status == "completed"
    assert result.new_balance == START_BALANCE - 100_000
    status = client.order_status(order.trans_id)
    assert status.status == "completed"
    assert len(status.items) == status.delivered_count == 2
    assert all(CREDENTIAL.match(item) for item in status.items)
    assert len(set(status.items)) == 2
    assert client.balance() == START_BALANCE - 100_000

    [purchase] = env.sim.ledger
    assert (purchase.trans_id, purchase.plan_id, purchase.quantity) == (order.trans_id, 5, 2)
    assert (purchase.status, purchase.amount, purchase.items) == (
        "completed",
        100_000,
        status.items,
    )
    assert purchase.created_at.tzinfo is not None
    [product] = [p for p in client.iter_products() if p.id == INSTANT]
    assert product.plans[0].stock_count == 8


def test_create_answer_carries_no_credentials(full: Env) -> None:
    response = full.raw("POST", "/orders/create", json={"items": [{"plan_id": INSTANT}]})

    assert response.status_code == 201
    [purchase] = full.sim.ledger
    assert len(purchase.items) == 1
    assert purchase.items[0] not in response.text
    assert "Pass:" not in response.text


def test_manual_plan_stays_pending_until_fulfilled_by_hand(env: Env) -> None:
    client = env.client()
    [order] = client.create_order(
        [OrderItem(plan_id=MANUAL, fields={"email": "buyer@example.com"})]
    ).orders

    assert order.status == "pending"
    pending = client.order_status(order.trans_id)
    assert (pending.status, pending.items, pending.delivered_count) == ("pending", [], 0)
    assert env.sim.ledger[0].fields == {"email": "buyer@example.com"}

    assert env.sim.complete_pending() == 1
    done = client.order_status(order.trans_id)
    assert done.status == "completed"
    assert len(done.items) == 1
    assert env.sim.complete_pending(order.trans_id) == 0


def test_cancelled_manual_order_is_refunded(full: Env) -> None:
    client = full.client()
    [order] = client.create_order([OrderItem(plan_id=MANUAL, fields={"email": "a@b.c"})]).orders
    full.sim.cancel(order.trans_id)

    status = client.order_status(order.trans_id)
    assert (status.status, status.items) == ("cancelled", [])
    assert client.balance() == START_BALANCE


@pytest.mark.parametrize(
    ("items", "status", "code", "says"),
    [
        ([OrderItem(plan_id=99)], 404, "PRODUCT_NOT_FOUND", ""),
        ([OrderItem(plan_id=INSTANT, quantity=11)], 400, "OUT_OF_STOCK", ""),
        (
            [OrderItem(plan_id=INSTANT, quantity=6), OrderItem(plan_id=INSTANT, quantity=5)],
            400,
            "OUT_OF_STOCK",
            "",
        ),
        ([OrderItem(plan_id=MANUAL)], 400, "CART_ERROR", "email"),
        ([OrderItem(plan_id=MANUAL, fields={"email": "  "})], 400, "CART_ERROR", "email"),
        ([OrderItem(plan_id=INSTANT), OrderItem(plan_id=99)], 404, "PRODUCT_NOT_FOUND", ""),
    ],
    ids=[
        "unknown-plan",
        "out-of-stock",
        "stock-counted-across-lines",
        "missing-field",
        "blank-field",
        "one-bad-line-spoils-all",
    ],
)
def test_create_validates_every_item_before_buying(
    full: Env, items: list[OrderItem], status: int, code: str, says: str
) -> None:
    client = full.client()
    with pytest.raises(SupplierRefused) as caught:
        client.create_order(items)

    assert (caught.value.status, caught.value.error_code) == (status, code)
    assert says in caught.value.message
    assert full.sim.ledger == []
    assert client.balance() == START_BALANCE
    assert next(client.iter_products()).plans[0].stock_count == 10


def test_insufficient_balance_buys_nothing(full: Env) -> None:
    full.sim.set_balance(99_999)
    client = full.client()
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=INSTANT, quantity=2)])

    assert (caught.value.status, caught.value.error_code) == (400, "INSUFFICIENT_BALANCE")
    assert full.sim.ledger == []
    assert client.balance() == 99_999


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"items": []}', "ITEMS_REQUIRED"),
        (b'{"coupon_code": ""}', "ITEMS_REQUIRED"),
        (b"items=5", "INVALID_JSON"),
    ],
)
def test_malformed_create_requests_are_refused(full: Env, body: bytes, code: str) -> None:
    response = full.raw("POST", "/orders/create", content=body)

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "message": response.json()["message"],
        "data": {"error_code": code},
    }
    assert full.sim.ledger == []


@pytest.mark.parametrize(
    ("key", "secret", "code"),
    [
        ("sk_live_a1b2c3d4" + "1" * 24, DEMO_API_SECRET, "INVALID_API_KEY"),
        ("", DEMO_API_SECRET, "INVALID_API_KEY"),
        (DEMO_API_KEY, "sk_secret_a1b2c3d4" + "1" * 56, "INVALID_API_SECRET"),
    ],
)
def test_wrong_credentials_are_refused(full: Env, key: str, secret: str, code: str) -> None:
    client = full.client(api_key=key, api_secret=secret)
    with pytest.raises(SupplierRefused) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])

    assert (caught.value.status, caught.value.error_code) == (401, code)
    assert full.sim.ledger == []
    with pytest.raises(SupplierRefused):
        client.balance()


def test_unknown_trans_id_is_refused_not_retried(full: Env) -> None:
    client = full.client(read_attempts=3)
    with pytest.raises(SupplierRefused) as caught:
        client.order_status("PO404")
    assert (caught.value.status, caught.value.error_code) == (404, "ORDER_NOT_FOUND")
    assert client.calls == 1


def test_products_list_pages(start: Callable[[SupplierSimulator], Env]) -> None:
    sim = SupplierSimulator()
    for plan_id in range(1, 25):
        sim.add_plan(plan_id, name=f"Plan {plan_id}")
    sim.add_plan(25, name="Made to order", is_instant=False, product_id=24, product_name="Plan 24")
    env = start(sim)
    client = env.client()

    first, last = client.list_products(page=1, limit=10), client.list_products(page=3, limit=10)
    assert ([p.id for p in first.products], first.page, first.has_more) == (
        list(range(1, 11)),
        1,
        True,
    )
    assert ([p.id for p in last.products], last.page, last.has_more) == (
        list(range(21, 25)),
        3,
        False,
    )
    assert len(env.raw("GET", "/products/list").json()["data"]["products"]) == 10
    capped = env.raw("GET", "/products/list", params={"limit": 500}).json()["data"]
    assert capped["pagination"]["per_page"] == 100

    products = list(client.iter_products())
    assert [p.id for p in products] == list(range(1, 25))
    made_to_order = products[-1].plans[-1]
    assert (made_to_order.id, made_to_order.stock_count, made_to_order.in_stock) == (25, 0, True)


def test_orders_list_is_newest_first_and_paged(env: Env) -> None:
    client = env.client()
    before = datetime.now(UTC).replace(microsecond=0)
    bought = [
        client.create_order([OrderItem(plan_id=INSTANT)]).orders[0].trans_id for _ in range(3)
    ]
    manual = client.create_order([OrderItem(plan_id=MANUAL, fields={"email": "a@b.c"})])
    after = datetime.now(UTC)

    first = client.list_orders(page=1, limit=2, status="completed")
    second = client.list_orders(page=2, limit=2, status="completed")
    assert ([o.trans_id for o in first.orders], first.has_more) == ([bought[2], bought[1]], True)
    assert ([o.trans_id for o in second.orders], second.has_more) == ([bought[0]], False)
    for order in first.orders + second.orders:
        assert (order.plan_id, order.quantity, order.status) == (INSTANT, 1, "completed")
        assert order.created_at is not None
        assert before <= order.created_at <= after

    pending = client.list_orders(status="pending").orders
    assert [o.trans_id for o in pending] == [manual.orders[0].trans_id]
    assert len(client.list_orders().orders) == 4


def test_orders_list_prints_vietnam_time(full: Env) -> None:
    full.client().create_order([OrderItem(plan_id=INSTANT)])
    [listed] = full.raw("GET", "/orders/list").json()["data"]["orders"]
    printed = datetime.strptime(listed["created_at"], "%Y-%m-%d %H:%M:%S")
    expected = full.sim.ledger[0].created_at.astimezone(UTC) + timedelta(hours=7)
    assert abs(printed - expected.replace(tzinfo=None)) < timedelta(seconds=1)


def test_5xx_after_commit_is_ambiguous_but_bought(full: Env) -> None:
    client = full.client()
    full.sim.inject("5xx_after_commit")
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])

    assert caught.value.status == 500
    [purchase] = full.sim.ledger
    assert purchase.status == "completed"
    assert client.balance() == START_BALANCE - 50_000
    # The fault was used up: the next order goes through.
    client.create_order([OrderItem(plan_id=INSTANT)])
    assert len(full.sim.ledger) == 2


def test_5xx_before_commit_buys_nothing(full: Env) -> None:
    client = full.client()
    full.sim.inject("5xx_before_commit")
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])

    assert (caught.value.status, caught.value.error_code) == (500, "CHECKOUT_ERROR")
    assert full.sim.ledger == []
    assert client.balance() == START_BALANCE


def test_drop_after_commit_is_ambiguous_but_bought(full: Env) -> None:
    client = full.client()
    full.sim.inject("drop_after_commit")
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])

    assert isinstance(caught.value.__cause__, httpx.RemoteProtocolError)
    assert len(full.sim.ledger) == 1
    assert client.calls == 1


def test_hang_after_commit_times_out_but_bought(full: Env) -> None:
    client = full.client(timeout=httpx.Timeout(5.0, read=0.3))
    full.sim.inject("hang_after_commit")
    began = time.monotonic()
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])

    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert time.monotonic() - began < full.sim.hang_seconds
    [purchase] = full.sim.ledger
    # The way to settle it: the order is in the supplier's list.
    assert [o.trans_id for o in client.list_orders().orders] == [purchase.trans_id]


def test_slow_answer_arrives_late(full: Env) -> None:
    full.sim.slow_seconds = 0.3
    full.sim.inject("slow")
    began = time.monotonic()
    full.client().create_order([OrderItem(plan_id=INSTANT)])
    assert time.monotonic() - began >= 0.3
    assert len(full.sim.ledger) == 1


def test_injected_429_hits_any_endpoint_and_reads_retry(full: Env) -> None:
    client = full.client(read_attempts=3)
    full.sim.inject("429", times=2)
    assert client.balance() == START_BALANCE
    assert (client.calls, full.sim.count_429) == (3, 2)

    full.sim.inject("429")
    with pytest.raises(SupplierRateLimited) as caught:
        client.create_order([OrderItem(plan_id=INSTANT)])
    assert caught.value.retry_after == 1.0
    assert full.sim.ledger == []


def test_rate_limit_window_with_compressed_time(start: Callable[[SupplierSimulator], Env]) -> None:
    # 3 requests a "minute" that lasts 1 s.
    env = start(stocked(rate_limit_per_minute=3, time_scale=60))
    client = env.client(read_attempts=1)
    for _ in range(3):
        client.balance()
    with pytest.raises(SupplierRateLimited) as caught:
        client.balance()

    assert caught.value.retry_after == 1.0  # whole seconds, at least 1
    assert env.sim.count_429 == 1
    time.sleep(1.05)
    assert client.balance() == START_BALANCE


def test_calls_are_recorded(full: Env) -> None:
    client = full.client()
    [order] = client.create_order([OrderItem(plan_id=INSTANT)]).orders
    client.order_status(order.trans_id)
    with pytest.raises(SupplierRefused):
        full.client(api_key="wrong", read_attempts=1).balance()

    assert full.sim.calls == [
        ("POST", "/api/v1/orders/create"),
        ("GET", "/api/v1/orders/status"),
        ("GET", "/api/v1/account/balance"),
    ]


@pytest.mark.parametrize("dialect", ["full", "short"])
def test_account_info_shapes(start: Callable[[SupplierSimulator], Env], dialect: Dialect) -> None:
    env = start(stocked(dialect, rate_limit_per_minute=60))
    env.client().create_order([OrderItem(plan_id=INSTANT)])
    data = env.raw("GET", "/account/info").json()["data"]

    if dialect == "full":
        assert data["user"]["balance"] == START_BALANCE - 50_000
        assert data["api_key"]["rate_limit"] == 60
        assert data["orders_summary"] == {"total": 1, "pending": 0, "completed": 1}
    else:
        assert (data["balance"], data["total_orders"]) == (START_BALANCE - 50_000, 1)


def test_unknown_fault_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        SupplierSimulator().inject("timeout")
