"""The supplier simulator's real-server mode and switches, read over real HTTP.

Each switch is off by default (``test_supplier_simulator.py`` holds the default answers); here
each is switched on and its answers are checked as a client would see them on the wire.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from bridge.dev.simulators.control import supplier_app
from bridge.dev.simulators.supplier import (
    AUTH_STAGE,
    BOMB_BYTES,
    DEMO_API_KEY,
    DEMO_API_SECRET,
    REFUSALS,
    TRANS_ID_ALPHABET,
    SupplierSimulator,
)
from bridge.web.server import ServerThread

START_BALANCE = 10_000_000
INSTANT, MANUAL = 5, 6
NOON = datetime(2026, 3, 1, 5, 0, 0, tzinfo=UTC)  # 12:00 in Vietnam
AUTH = {"X-API-Key": DEMO_API_KEY, "X-API-Secret": DEMO_API_SECRET}


@dataclass
class Shop:
    sim: SupplierSimulator
    server: ServerThread

    @property
    def url(self) -> str:
        return self.server.url + "/api/v1"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        kwargs.setdefault("headers", AUTH)
        kwargs.setdefault("timeout", 10)
        return httpx.request(method, self.url + path, **kwargs)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.call("GET", path, params=params)

    def create(self, *items: dict[str, Any], **extra: Any) -> httpx.Response:
        return self.call("POST", "/orders/create", json={"items": list(items), **extra})

    def status(self, trans_id: str) -> dict[str, Any]:
        answer = self.get("/orders/status", trans_id=trans_id)
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        return data

    def listed(self, **params: Any) -> list[dict[str, Any]]:
        orders: list[dict[str, Any]] = self.get("/orders/list", **params).json()["data"]["orders"]
        return orders


def stocked(**kwargs: Any) -> SupplierSimulator:
    sim = SupplierSimulator(**kwargs)
    sim.add_plan(INSTANT, name="Netflix 1 tháng", product_name="Netflix Premium", stock=10)
    sim.add_plan(
        MANUAL,
        name="Nâng chính chủ",
        price=200_000,
        is_instant=False,
        fields=[{"key": "email", "label": "Email", "type": "email", "required": True}],
    )
    return sim


@pytest.fixture
def start() -> Iterator[Callable[[SupplierSimulator], Shop]]:
    shops: list[Shop] = []

    def serve(sim: SupplierSimulator) -> Shop:
        shop = Shop(sim, ServerThread(sim.app).start())
        shops.append(shop)
        return shop

    yield serve
    for shop in shops:
        shop.server.stop()


@pytest.fixture
def real(start: Callable[[SupplierSimulator], Shop]) -> Shop:
    return start(stocked(real_server=True))


@pytest.fixture
def docs(start: Callable[[SupplierSimulator], Shop]) -> Shop:
    """The default simulator, as the docs read."""
    return start(stocked())


def refusal(answer: httpx.Response) -> tuple[int, str, str]:
    body = answer.json()
    assert body["success"] is False
    return answer.status_code, body["data"]["error_code"], body["message"]


# -- the real server's refusals -------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(AUTH_STAGE))
def test_every_auth_stage_refusal_is_401_without_retry_after(real: Shop, code: str) -> None:
    real.sim.refuse(code)
    answer = real.get("/account/balance")

    assert refusal(answer)[:2] == (401, code)
    assert "retry-after" not in answer.headers
    assert real.get("/account/balance").status_code == 200  # used up


def test_auth_stage_codes_keep_the_docs_statuses_by_default(docs: Shop) -> None:
    docs.sim.refuse("IP_NOT_ALLOWED")
    assert refusal(docs.get("/account/balance"))[:2] == (403, "IP_NOT_ALLOWED")
    docs.sim.refuse("RATE_LIMIT_EXCEEDED")
    limited = docs.get("/account/balance")
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")


def test_new_codes_are_documented_refusals(real: Shop) -> None:
    for code in ("METHOD_NOT_ALLOWED", "USER_ERROR", "PARAMS_REQUIRED", "USER_BANNED"):
        assert code in REFUSALS
    real.sim.refuse("PERMISSION_DENIED", path_contains="orders/")
    assert refusal(real.get("/orders/list"))[:2] == (403, "PERMISSION_DENIED")
    real.sim.refuse("USER_ERROR")
    assert refusal(real.get("/orders/list"))[:2] == (400, "USER_ERROR")


def test_the_real_server_enforces_permissions_and_expiry(real: Shop) -> None:
    real.sim.switch(permissions=["orders.list", "account.info"])
    assert real.get("/orders/list").status_code == 200
    assert refusal(real.create({"plan_id": INSTANT}))[:2] == (403, "PERMISSION_DENIED")
    real.sim.switch(permissions=["all"])
    assert real.create({"plan_id": INSTANT}).status_code == 201
    assert real.get("/account/info").json()["data"]["api_key"]["permissions"] == ["all"]

    real.sim.switch(key_expires_at=datetime.now(UTC) - timedelta(minutes=1))
    assert refusal(real.get("/account/info"))[:2] == (401, "EXPIRED_API_KEY")


def test_a_wrong_method_is_a_json_405_on_the_real_server(real: Shop, docs: Shop) -> None:
    answer = real.call("GET", "/orders/create")
    assert refusal(answer)[:2] == (405, "METHOD_NOT_ALLOWED")
    assert ("GET", "/api/v1/orders/create") in real.sim.calls
    assert real.call("HEAD", "/account/balance").status_code == 200

    plain = docs.call("GET", "/orders/create")
    assert (plain.status_code, plain.text) == (405, "Method Not Allowed")


# -- orders/create --------------------------------------------------------------------------------


def test_real_create_answers_201_with_the_servers_full_shape(real: Shop) -> None:
    answer = real.create({"plan_id": INSTANT, "quantity": 2}, coupon_code="NOPE10")

    assert answer.status_code == 201
    data = answer.json()["data"]
    [order] = data["orders"]
    [purchase] = real.sim.ledger
    assert order == {
        "order_id": purchase.order_id,
        "trans_id": purchase.trans_id,
        "product_id": INSTANT,
        "product_name": "Netflix Premium",
        "plan_id": INSTANT,
        "plan_name": "Netflix 1 tháng",
        "quantity": 2,
        "unit_price": "50000.00",
        "total": 100_000,
        "discount": 0,
        "final_amount": 100_000,
        "status": "completed",
    }
    assert data["summary"] == {
        "orders_count": 1,
        "original_total": 100_000,
        "discount_amount": 0,
        "coupon_code": None,
        "total_amount": 100_000,
        "new_balance": START_BALANCE - 100_000,
    }
    assert [w["code"] for w in data["warnings"]] == ["COUPON_SKIPPED"]
    assert "Pass:" not in answer.text
    assert re.fullmatch(f"[{TRANS_ID_ALPHABET}]{{7}}", purchase.trans_id)


@pytest.mark.parametrize(
    ("stock", "item", "says"),
    [
        (0, {"plan_id": INSTANT}, 'Sản phẩm "Netflix Premium" không đủ kho hàng (còn 0)'),
        (3, {"plan_id": INSTANT, "quantity": 4}, "không đủ kho hàng (còn 3)"),
        (10, {"plan_id": 99}, "Gói #99 không tồn tại"),
    ],
    ids=["sold-out", "more-than-stock", "unknown-plan"],
)
def test_real_create_refuses_stock_and_plans_with_cart_error(
    real: Shop, stock: int, item: dict[str, Any], says: str
) -> None:
    real.sim.set_stock(INSTANT, stock)
    status, code, message = refusal(real.create(item))

    assert (status, code) == (400, "CART_ERROR")
    assert says in message
    assert real.sim.ledger == []
    assert real.sim.balance == START_BALANCE


def test_docs_mode_keeps_out_of_stock_and_product_not_found(docs: Shop) -> None:
    docs.sim.set_stock(INSTANT, 0)
    assert refusal(docs.create({"plan_id": INSTANT}))[:2] == (400, "OUT_OF_STOCK")
    assert refusal(docs.create({"plan_id": 99}))[:2] == (404, "PRODUCT_NOT_FOUND")


def test_stock_running_out_inside_checkout_is_a_500_and_buys_nothing(real: Shop) -> None:
    real.sim.inject("sold_out_in_checkout")
    status, code, message = refusal(real.create({"plan_id": INSTANT}))

    assert (status, code) == (500, "CHECKOUT_ERROR")
    assert "Netflix Premium" in message
    assert (real.sim.ledger, real.sim.balance) == ([], START_BALANCE)
    # Another buyer took the rest: the next try is refused at the cart.
    assert "(còn 0)" in refusal(real.create({"plan_id": INSTANT}))[2]


def test_one_plan_over_several_items_fails_at_checkout_on_the_real_server(real: Shop) -> None:
    real.sim.set_stock(INSTANT, 5)
    answer = real.create({"plan_id": INSTANT, "quantity": 3}, {"plan_id": INSTANT, "quantity": 3})

    assert refusal(answer)[:2] == (500, "CHECKOUT_ERROR")
    assert (real.sim.ledger, real.sim.balance) == ([], START_BALANCE)


@pytest.mark.parametrize(
    ("split", "quantity", "sizes"),
    [([1], 3, [1, 1, 1]), ([2], 5, [2, 2, 1]), ([3, 1], 6, [3, 1, 1, 1])],
)
def test_quantity_split_answers_several_orders(
    real: Shop, split: list[int], quantity: int, sizes: list[int]
) -> None:
    real.sim.switch(quantity_split=split)
    answer = real.create({"plan_id": INSTANT, "quantity": quantity})

    orders = answer.json()["data"]["orders"]
    assert [o["quantity"] for o in orders] == sizes
    trans_ids = [o["trans_id"] for o in orders]
    assert len(set(trans_ids)) == len(sizes)
    assert sorted(o["trans_id"] for o in real.listed(limit=100)) == sorted(trans_ids)
    for trans_id, size in zip(trans_ids, sizes, strict=True):
        status = real.status(trans_id)
        assert (status["order"]["quantity"], len(status["delivery"]["items"])) == (size, size)
    assert real.sim.balance == START_BALANCE - 50_000 * quantity


# -- orders/status, orders/list -------------------------------------------------------------------


def test_real_status_is_the_full_dialect_even_for_a_short_dialect_shop(
    start: Callable[[SupplierSimulator], Shop],
) -> None:
    shop = start(stocked(dialect="short", real_server=True))
    created = shop.create({"plan_id": MANUAL, "fields": {"email": "a@b.c"}})
    trans_id = created.json()["data"]["orders"][0]["trans_id"]

    answer = shop.get("/orders/status", trans_id=trans_id).json()
    assert "timestamp" in answer
    order = answer["data"]["order"]
    assert (order["user_id"], order["order_source"], order["payment_status"]) == (1, "api", "paid")
    assert order["fields_data"] == {"email": "a@b.c"}
    assert answer["data"]["delivery"] == {"items": [], "delivered_count": 0, "expected_count": 1}
    assert refusal(shop.get("/orders/status"))[:2] == (400, "PARAMS_REQUIRED")
    assert "current" in shop.get("/account/balance").json()["data"]["balance"]


def test_refunded_and_cancelled_no_refund(real: Shop) -> None:
    kept = real.create({"plan_id": INSTANT}).json()["data"]["orders"][0]["trans_id"]
    returned = real.create({"plan_id": INSTANT}).json()["data"]["orders"][0]["trans_id"]
    assert real.sim.balance == START_BALANCE - 100_000

    real.sim.cancel_without_refund(kept)
    real.sim.refund(returned)

    for trans_id, status, payment in [
        (kept, "cancelled_no_refund", "paid"),
        (returned, "refunded", "refunded"),
    ]:
        answer = real.status(trans_id)
        assert (answer["order"]["status"], answer["order"]["payment_status"]) == (status, payment)
        assert answer["delivery"]["items"] == []
    assert real.sim.balance == START_BALANCE - 50_000
    assert [o["status"] for o in real.listed(status="refunded")] == ["refunded"]
    with pytest.raises(ValueError, match="refunded"):
        real.sim.refund(returned)


def test_real_orders_list_pages_by_ten_and_ignores_an_unknown_status(
    real: Shop, docs: Shop
) -> None:
    for shop in (real, docs):
        shop.sim.set_stock(INSTANT, 30)
        for _ in range(12):
            assert shop.create({"plan_id": INSTANT}).status_code == 201

    page = real.get("/orders/list").json()["data"]
    assert (len(page["orders"]), page["pagination"]["per_page"]) == (10, 10)
    assert len(real.listed(status="shipped")) == 10  # ignored, not matched
    assert len(docs.listed()) == 12  # the docs' 20
    assert docs.listed(status="shipped") == []


# -- limits ---------------------------------------------------------------------------------------


def test_refused_calls_count_against_the_real_servers_minute(
    start: Callable[[SupplierSimulator], Shop],
) -> None:
    shop = start(stocked(real_server=True, rate_limit_per_minute=4))
    wrong = {"X-API-Key": DEMO_API_KEY, "X-API-Secret": "sk_secret_" + "9" * 64}
    for _ in range(2):
        assert refusal(shop.call("GET", "/account/balance", headers=wrong))[1] == (
            "INVALID_API_SECRET"
        )
    assert refusal(shop.get("/orders/status", trans_id="NOPE123"))[1] == "ORDER_NOT_FOUND"
    assert shop.get("/account/balance").status_code == 200

    limited = shop.get("/account/balance")
    assert refusal(limited)[:2] == (401, "RATE_LIMIT_EXCEEDED")
    assert "retry-after" not in limited.headers
    assert shop.sim.count_429 == 1


def test_a_limit_lower_than_account_info_says(start: Callable[[SupplierSimulator], Shop]) -> None:
    shop = start(stocked(real_server=True))
    shop.sim.switch(enforced_rate_limit_per_minute=2)

    assert shop.get("/account/info").json()["data"]["api_key"]["rate_limit"] == 60
    assert shop.get("/account/balance").status_code == 200
    assert refusal(shop.get("/account/info"))[:2] == (401, "RATE_LIMIT_EXCEEDED")


def test_a_spent_day_is_daily_limit_exceeded(
    real: Shop, start: Callable[[SupplierSimulator], Shop]
) -> None:
    real.sim.switch(daily_limit=5, used_today=4)
    assert real.get("/account/balance").status_code == 200
    assert refusal(real.get("/account/balance"))[:2] == (401, "DAILY_LIMIT_EXCEEDED")
    assert real.sim.used_today == 6  # the refused call was logged too

    docs = start(stocked())
    docs.sim.switch(daily_limit=5, used_today=5)
    assert refusal(docs.get("/account/balance"))[:2] == (429, "RATE_LIMIT_EXCEEDED")


# -- times ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "skew", "printed"),
    [
        (7, 0, "2026-03-01 12:00:00"),
        (0, 0, "2026-03-01 05:00:00"),
        (8, 0, "2026-03-01 13:00:00"),
        (8, 90, "2026-03-01 13:01:30"),
        (7, -30, "2026-03-01 11:59:30"),
    ],
)
def test_created_at_zone_and_clock_skew_are_independent(
    start: Callable[[SupplierSimulator], Shop], zone: float, skew: float, printed: str
) -> None:
    sim = stocked(created_at_zone_hours=zone, clock_skew_seconds=skew)
    sim.clock = lambda: NOON
    shop = start(sim)
    trans_id = shop.create({"plan_id": INSTANT}).json()["data"]["orders"][0]["trans_id"]

    answer = shop.get("/orders/status", trans_id=trans_id).json()
    assert answer["timestamp"] == int(NOON.timestamp()) + skew
    assert answer["data"]["order"]["created_at"] == printed
    assert shop.listed()[0]["created_at"] == printed
    shifted = datetime.strptime(printed, "%Y-%m-%d %H:%M:%S")
    local = datetime.fromtimestamp(answer["timestamp"], timezone(timedelta(hours=zone)))
    assert shifted == local.replace(tzinfo=None)


# -- completion shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "strings", "delivered"),
    [("per_unit", 3, 3), ("none", 0, 0), ("one_string", 1, 1), ("fewer", 2, 3)],
)
def test_completion_shapes(real: Shop, shape: str, strings: int, delivered: int) -> None:
    real.sim.switch(completion_shape=shape)
    instant = real.create({"plan_id": INSTANT, "quantity": 3}).json()["data"]["orders"][0]
    manual = real.create({"plan_id": MANUAL, "quantity": 3, "fields": {"email": "a@b.c"}})
    manual_id = manual.json()["data"]["orders"][0]["trans_id"]
    assert real.sim.complete_pending() == 1
    assert real.sim.complete_pending() == 0  # nothing is delivered twice, whatever the shape

    for trans_id in (instant["trans_id"], manual_id):
        delivery = real.status(trans_id)["delivery"]
        assert len(delivery["items"]) == strings
        assert (delivery["delivered_count"], delivery["expected_count"]) == (delivered, 3)
        units = sum(item.count("Pass:") for item in delivery["items"])
        assert units == (0 if shape == "none" else 3)


# -- other orders of the same account, other customers' orders ------------------------------------


def test_web_orders_of_the_same_user_are_listed_beside_the_apis(real: Shop) -> None:
    moment = NOON - timedelta(minutes=3)
    web = real.sim.place_web_order(INSTANT, quantity=2, at=moment)
    api = real.create({"plan_id": INSTANT, "quantity": 2}).json()["data"]["orders"][0]

    assert [o["trans_id"] for o in real.listed()] == [api["trans_id"], web]
    order = real.status(web)["order"]
    assert (order["order_source"], order["user_id"], order["quantity"]) == ("web", 1, 2)
    assert order["created_at"] == "2026-03-01 11:57:00"
    assert real.sim.balance == START_BALANCE - 200_000


def test_other_customers_orders_show_only_with_the_all_permission(real: Shop) -> None:
    foreign = real.sim.place_foreign_order(INSTANT, user_id=42)
    real.sim.shadow_next_api_order(user_id=43)
    ours = real.create({"plan_id": INSTANT}).json()["data"]["orders"][0]["trans_id"]

    assert [o["trans_id"] for o in real.listed()] == [ours]
    assert real.get("/orders/status", trans_id=foreign).status_code == 404

    real.sim.switch(permissions=["all"])
    listed = real.listed()
    assert len(listed) == 3
    shadow = listed[0]
    assert shadow["trans_id"] not in (ours, foreign)
    assert (shadow["plan"]["id"], shadow["created_at"]) == (INSTANT, listed[1]["created_at"])
    assert listed[1]["trans_id"] == ours
    assert real.status(shadow["trans_id"])["order"]["user_id"] == 43
    assert real.status(foreign)["order"]["user_id"] == 42
    # Other customers pay their own orders.
    assert real.sim.balance == START_BALANCE - 50_000


# -- catalogue ------------------------------------------------------------------------------------


def catalogue(**kwargs: Any) -> SupplierSimulator:
    sim = SupplierSimulator(**kwargs)
    sim.add_category(3, "Giải Trí")
    sim.add_category(5, "Học Tập", parent_id=1)
    for plan_id in range(1, 25):
        name = f"Netflix {plan_id}" if plan_id % 2 else f"Duolingo {plan_id}"
        sim.add_plan(plan_id, name=name, category_id=3 if plan_id % 2 else 5)
    return sim


def test_products_list_first_ten_ignores_page_and_claims_more(
    start: Callable[[SupplierSimulator], Shop],
) -> None:
    shop = start(catalogue())
    shop.sim.switch(paging="first_ten")

    first, second = (shop.get("/products/list", page=p, limit=100).json()["data"] for p in (1, 2))
    assert [p["id"] for p in first["products"]] == list(range(1, 11))
    assert [p["id"] for p in second["products"]] == list(range(1, 11))
    assert first["pagination"]["total"] == 24
    assert second["pagination"]["current_page"] == 2


def test_categories_filter_and_search(start: Callable[[SupplierSimulator], Shop]) -> None:
    shop = start(catalogue())
    categories = shop.get("/categories/list").json()["data"]
    assert [(c["id"], c["name"], c["parent_id"]) for c in categories["categories"]] == [
        (3, "Giải Trí", 0),
        (5, "Học Tập", 1),
    ]

    learning = shop.get("/products/list", category_id=5, limit=100).json()["data"]
    assert [p["id"] for p in learning["products"]] == list(range(2, 25, 2))
    assert {p["category"]["id"] for p in learning["products"]} == {5}
    assert learning["pagination"]["total"] == 12
    found = shop.get("/products/list", search="netflix 1", limit=100).json()["data"]["products"]
    assert [p["id"] for p in found] == [1, 11, 13, 15, 17, 19]

    shop.sim.switch(categories_list_empty=True)
    assert shop.get("/categories/list").json()["data"] == {"categories": [], "total": 0}
    listed = shop.get("/products/list").json()["data"]["products"]
    assert listed[0]["categories"] == [listed[0]["category"]]


def test_products_without_categories_print_none(docs: Shop) -> None:
    [product, _] = docs.get("/products/list").json()["data"]["products"]
    assert list(product) == ["id", "name", "slug", "min_price", "max_price", "plans"]


# -- the wire -------------------------------------------------------------------------------------


def test_dripping_answer_beats_a_read_timeout_but_takes_its_length(real: Shop) -> None:
    seconds = 0.004
    real.sim.drip("/orders/status", seconds_per_byte=seconds)
    began = time.monotonic()
    answer = httpx.get(real.url + "/orders/status", timeout=httpx.Timeout(5.0, read=0.5))
    took = time.monotonic() - began

    assert refusal(answer)[1] == "INVALID_API_KEY"
    assert took >= len(answer.content) * seconds * 0.9
    # Other paths answer at once.
    began = time.monotonic()
    assert real.get("/account/balance").status_code == 200
    assert time.monotonic() - began < len(answer.content) * seconds

    real.sim.drip()
    assert refusal(httpx.get(real.url + "/orders/status", timeout=5))[1] == "INVALID_API_KEY"


def test_dripping_stops_when_the_client_hangs_up(real: Shop) -> None:
    real.sim.drip("/account/", seconds_per_byte=5.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.get(real.url + "/account/balance", headers=AUTH, timeout=httpx.Timeout(2, read=0.2))
    # The server is free: the next call answers, and nothing holds its shutdown up.
    assert real.get("/orders/list").status_code == 200
    began = time.monotonic()
    real.server.stop()
    assert time.monotonic() - began < 3


def test_decompression_bomb_is_small_on_the_wire(real: Shop) -> None:
    real.sim.bomb("/orders/create")
    with httpx.stream(
        "POST", real.url + "/orders/create", headers=AUTH, json={"items": [{"plan_id": 5}]}
    ) as answer:
        wire = b"".join(answer.iter_raw())
        encoding = answer.headers["content-encoding"]
        status = answer.status_code

    assert (status, encoding) == (201, "gzip")
    assert len(wire) < 200_000
    inflate, expanded, head = zlib.decompressobj(16 + zlib.MAX_WBITS), 0, b""
    rest = wire
    while rest:
        chunk = inflate.decompress(rest, 2**20)
        head = head or chunk[:40]
        expanded += len(chunk)
        rest = inflate.unconsumed_tail
    assert expanded >= BOMB_BYTES
    assert head.startswith(b'{"success": true')
    assert len(real.sim.ledger) == 1  # the handler ran: the order was bought
    assert real.get("/account/balance").json()["data"]["balance"]["current"] == 9_950_000


# -- the control API ------------------------------------------------------------------------------


def test_control_api_sets_the_new_switches() -> None:
    sim = stocked()
    server = ServerThread(supplier_app(sim)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            body = {
                "real_server": True,
                "created_at_zone_hours": 8,
                "clock_skew_seconds": -5,
                "quantity_split": [1],
                "completion_shape": "none",
                "enforced_rate_limit_per_minute": 30,
                "categories_list_empty": True,
                "drip_paths": [],
                "drip_seconds": 0.5,
                "bomb_paths": [],
                "paging": "first_ten",
            }
            switched = http.post("/_control/switches", json=body)
            assert switched.status_code == 200, switched.text
            assert {key: switched.json()[key] for key in body} == body
            assert sim.real_server
            assert sim.quantity_split == [1]
            for wrong in ({"completion_shape": "twice"}, {"quantity_split": [0]}):
                assert http.post("/_control/switches", json=wrong).status_code == 400

            created = http.post(
                "/api/v1/orders/create",
                headers=AUTH,
                json={"items": [{"plan_id": INSTANT, "quantity": 2}]},
            )
            first, second = (o["trans_id"] for o in created.json()["data"]["orders"])
            kept = http.post(
                f"/_control/orders/{first}/cancel", json={"status": "cancelled_no_refund"}
            )
            refunded = http.post(f"/_control/orders/{second}/cancel", json={"status": "refunded"})
            assert kept.json()["balance"] == START_BALANCE - 100_000
            assert refunded.json()["balance"] == START_BALANCE - 50_000
            bad = http.post(f"/_control/orders/{first}/cancel", content=json.dumps({"status": 1}))
            assert bad.status_code == 400
            statuses = [p["status"] for p in http.get("/_control/ledger").json()["purchases"]]
            assert statuses == ["cancelled_no_refund", "refunded"]
    finally:
        server.stop()


def test_switch_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown switches"):
        SupplierSimulator().switch(real_mode=True)
