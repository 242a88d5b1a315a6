"""The Pancake simulator's switches for what real shops do beyond the docs (DESIGN.md §4), each
shown over real HTTP: the API under /api/v1, the control API under /_control, webhooks received
by a real endpoint. Every switch is off by default; the last tests show the defaults unchanged."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.dev.simulators.control import pancake_app
from bridge.dev.simulators.pancake import PancakeSimulator, WebhookDelivery, split_warehouses
from bridge.web.server import ServerThread

SHOP = "4"
API_KEY = "pos-key-1234567890"
SECRET = "hook-secret-abc"
NETFLIX, SPOTIFY = "var-netflix", "var-spotify"
# A stock webhook an order caused, captured from a live shop (shared/real-payloads/
# pancake-webhook-hogikids-stock-order.json), byte for byte.
CAPTURED_STOCK_ORDER = (
    '{"type":"variations_warehouses","inserted_at":"2026-07-27 04:57:04.925107",'
    '"variation_id":"ea8b07f0-6d00-44fc-974f-fe96702a4071",'
    '"warehouse_id":"8ea354a7-2350-4446-a1d5-8308353ff841","remain_quantity":0,'
    '"order_id":"AF100975192O582","change_quantity":-1,"is_actual_remain_quantity":false,'
    '"actual_remain_quantity":1}'
)
STOCK_ORDER_KEYS = list(json.loads(CAPTURED_STOCK_ORDER))


@dataclass(frozen=True)
class Hit:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """A webhook endpoint on any path that keeps each request's path, query, headers and body."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []
        self.app = Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        hit = Hit(
            request.url.path,
            dict(request.query_params),
            dict(request.headers),
            await request.body(),
        )
        with self._lock:
            self._hits.append(hit)
        return JSONResponse({"ok": True})

    @property
    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


class Plug:
    """An app slot, so one server per module serves each test's own simulator."""

    def __init__(self) -> None:
        self.target: ASGIApp | None = None
        self.app = Starlette(routes=[Mount("", app=self._forward)])

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "no simulator plugged in"
        await self.target(scope, receive, send)


@dataclass
class World:
    sim: PancakeSimulator
    http: httpx.Client  # the served simulator: /api/v1 and /_control
    hook: Receiver
    hook_url: str

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        params = {"api_key": API_KEY, **kwargs.pop("params", {})}
        return self.http.request(method, f"/api/v1{path}", params=params, **kwargs)

    def settle(self) -> None:
        """Wait (on a condition, not a clock) until every queued webhook was answered."""
        assert self.sim.wait_idle(timeout=10), "webhooks still queued"

    def hits(self) -> list[Hit]:
        """Every webhook received, once all that were queued are answered."""
        self.settle()
        return self.hook.hits

    def bodies(self, kind: str) -> list[dict[str, Any]]:
        return [b for b in (h.body for h in self.hits()) if b.get("type") == kind]

    def order_hooks(self) -> list[dict[str, Any]]:
        return self.bodies("orders")

    def stock_hooks(self) -> list[dict[str, Any]]:
        return self.bodies("variations_warehouses")

    def order(self, order_id: str) -> dict[str, Any]:
        answer = self.api("GET", f"/shops/{SHOP}/orders/{order_id}").json()
        assert answer["success"] is True
        return dict(answer["data"])

    def remain(self, variation_id: str, warehouse_id: str | None = None) -> int:
        """The sellable quantity, as GET /products/variations shows it."""
        answer = self.api("GET", f"/shops/{SHOP}/products/variations").json()
        [variation] = [v for v in answer["data"] if v["id"] == variation_id]
        rows = variation["variations_warehouses"]
        row = (
            rows[0]
            if warehouse_id is None
            else next(r for r in rows if r["warehouse_id"] == warehouse_id)
        )
        return int(row["remain_quantity"])


@pytest.fixture(scope="module")
def hook_server() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with ServerThread(hook.app) as server:
        yield hook, server.url


@pytest.fixture(scope="module")
def pancake_server() -> Iterator[tuple[Plug, str]]:
    plug = Plug()
    with ServerThread(plug.app) as server:
        yield plug, server.url


@pytest.fixture
def make_world(
    hook_server: tuple[Receiver, str], pancake_server: tuple[Plug, str]
) -> Iterator[Callable[..., World]]:
    """``make_world(**keywords)``: a simulator built with those keywords, one shop whose webhook
    points at the receiver (with the secret header), two variations with 10 units each."""
    hook, hook_base = hook_server
    plug, base_url = pancake_server
    opened: list[tuple[PancakeSimulator, httpx.Client]] = []

    def make(
        *, warehouses: list[dict[str, Any]] | None = None, hook_path: str = "/hook", **keywords: Any
    ) -> World:
        hook.clear()
        sim = PancakeSimulator(**keywords)
        sim.add_shop(SHOP, api_key=API_KEY, warehouses=warehouses)
        stocked = sim.warehouses(SHOP)[-1]["id"]  # the last listed: the one that takes orders
        for variation_id, name in ((NETFLIX, "Netflix 1 month"), (SPOTIFY, "Spotify 1 year")):
            sim.add_variation(
                SHOP, variation_id, name=name, remain_quantity=10, warehouse_id=stocked
            )
        hook_url = hook_base + hook_path
        sim.configure_webhook(SHOP, url=hook_url, headers={"X-Bridge-Secret": SECRET})
        plug.target = pancake_app(sim)
        http = httpx.Client(base_url=base_url, timeout=10)
        opened.append((sim, http))
        return World(sim, http, hook, hook_url)

    yield make
    for sim, http in opened:
        http.close()
        sim.close()  # waits for queued webhooks, so none leaks into the next test


# -- 1. old orders, and a bulk status change ----------------------------------------------------


def test_old_orders_are_history_until_they_move_to_money_received(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    joined = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    first, *rest = world.sim.add_old_orders(
        SHOP, before=joined, items=[{"variation_id": NETFLIX, "quantity": 1}], count=4
    )
    assert world.order_hooks() == [], "nobody listened when they were made"

    listed = world.api("GET", f"/shops/{SHOP}/orders", params={"page_size": 10}).json()["data"]
    assert len(listed) == 4
    for order in listed:
        assert order["status"] == 3
        assert order["status_name"] == "delivered"
        assert datetime.fromisoformat(order["inserted_at"]).replace(tzinfo=UTC) < joined
        assert order["updated_at"] == order["inserted_at"]

    world.sim.set_status(SHOP, first, 16)
    world.sim.set_statuses(SHOP, rest, 16)

    hooks = world.order_hooks()
    assert [str(b["id"]) for b in hooks] == [first, *rest], "one webhook per order, in order"
    assert {(b["status"], b["status_name"]) for b in hooks} == {(16, "money_received")}
    for body in hooks:
        assert datetime.fromisoformat(body["inserted_at"]).replace(tzinfo=UTC) < joined
        assert body["updated_at"] > body["inserted_at"]
    assert all(world.order(order_id)["status"] == 16 for order_id in [first, *rest])


def test_a_bulk_update_naming_an_unknown_order_changes_nothing(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    old = world.sim.add_old_orders(SHOP, before=datetime(2026, 1, 1, tzinfo=UTC), items=[], count=2)

    with pytest.raises(KeyError):
        world.sim.set_statuses(SHOP, [*old, "999"], 16)

    assert [world.order(order_id)["status"] for order_id in old] == [3, 3]
    assert world.order_hooks() == []


def test_an_order_created_with_an_old_inserted_at_sends_it(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(
        SHOP, items=[], status=3, inserted_at=datetime(2025, 12, 31, 23, 59, 59, 123456)
    )

    [body] = world.order_hooks()
    assert body["inserted_at"] == "2025-12-31T23:59:59.123456", "naive means UTC"
    assert world.order(order_id)["inserted_at"] == body["inserted_at"]


# -- 2. what an order PUT does ------------------------------------------------------------------


def test_a_merging_put_answers_the_whole_order_after_the_write(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX}], status=1)

    answer = world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"note": "code: X"})

    assert answer.status_code == 200
    assert set(answer.json()) == {"success", "data"}
    assert answer.json()["success"] is True
    assert answer.json()["data"] == world.order(order_id)
    assert answer.json()["data"]["note"] == "code: X"
    assert answer.json()["data"]["items"][0]["variation_id"] == NETFLIX


def test_a_replacing_put_loses_every_field_the_body_omits(
    make_world: Callable[..., World],
) -> None:
    world = make_world(put_mode="replace")
    order_id = world.sim.create_order(
        SHOP, items=[{"variation_id": NETFLIX, "quantity": 2}], status=1, note="staff note"
    )
    before = world.order(order_id)

    answer = world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"note": "code: X"})

    after = answer.json()["data"]
    assert answer.json()["success"] is True
    assert after == world.order(order_id)
    assert after["note"] == "code: X"
    assert (after["items"], after["status"], after["status_name"]) == ([], 0, "new")
    for lost in ("bill_full_name", "bill_phone_number", "shipping_address", "warehouse_id"):
        assert lost not in after
    assert (after["id"], after["inserted_at"]) == (before["id"], before["inserted_at"])
    assert world.order_hooks()[-1] == {**after, "type": "orders"}

    world.sim.put_mode = "merge"  # a switch can be flipped while serving
    world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"status": 1})
    assert world.order(order_id)["note"] == "code: X"


def test_a_locked_order_answers_success_and_ignores_the_edit(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX}], status=1)
    world.sim.lock_order(SHOP, order_id)
    assert world.order_hooks()[-1]["is_locked"] is True, "locking is a change: webhook sent"
    before = world.order(order_id)
    sent = len(world.sim.deliveries)

    answer = world.api(
        "PUT", f"/shops/{SHOP}/orders/{order_id}", json={"note": "code: X", "status": 6}
    )

    assert answer.status_code == 200
    assert answer.json() == {"success": True, "data": before}
    assert world.order(order_id) == before
    world.settle()
    assert len(world.sim.deliveries) == sent, "nothing changed, so no webhook"

    world.sim.lock_order(SHOP, order_id, locked=False)
    world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"note": "code: X"})
    assert world.order(order_id)["note"] == "code: X"


# -- 3. reservations ----------------------------------------------------------------------------


def test_a_new_order_reserves_its_units_and_sends_the_stock_webhook(
    make_world: Callable[..., World],
) -> None:
    world = make_world(reserve_stock=True)
    [warehouse] = world.sim.warehouses(SHOP)
    # Two lines of one variation (8.) reserve their sum; the stock webhook follows the order's.
    order_id = world.sim.create_order(
        SHOP,
        items=[
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 1},
            {"variation_id": NETFLIX, "quantity": 2},
        ],
    )

    assert (world.remain(NETFLIX), world.remain(SPOTIFY)) == (7, 9)
    kinds = [h.body["type"] for h in world.hits()]
    assert kinds == ["orders", "variations_warehouses", "variations_warehouses"]
    netflix, spotify = world.stock_hooks()
    assert list(netflix) == STOCK_ORDER_KEYS, "the keys, in the order Pancake sent them"
    assert netflix == {
        "type": "variations_warehouses",
        "inserted_at": netflix["inserted_at"],
        "variation_id": NETFLIX,
        "warehouse_id": warehouse["id"],
        "remain_quantity": 7,
        "order_id": int(order_id),
        "change_quantity": -3,
        "is_actual_remain_quantity": False,
        "actual_remain_quantity": 10,
    }
    assert " " in netflix["inserted_at"], "stock webhooks stamp with a space"
    assert (spotify["change_quantity"], spotify["remain_quantity"]) == (-1, 9)
    assert all(h.headers["x-bridge-secret"] == SECRET for h in world.hits())


def test_cancelling_gives_the_units_back_and_restoring_takes_them_again(
    make_world: Callable[..., World],
) -> None:
    world = make_world(reserve_stock=True)
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 2}])
    world.sim.set_status(SHOP, order_id, 1)
    assert world.remain(NETFLIX) == 8, "confirming keeps the reservation"

    world.sim.set_status(SHOP, order_id, 6)
    assert world.remain(NETFLIX) == 10
    world.sim.restore_order(SHOP, order_id)
    assert world.remain(NETFLIX) == 8

    assert [(b["change_quantity"], b["remain_quantity"]) for b in world.stock_hooks()] == [
        (-2, 8),
        (2, 10),
        (-2, 8),
    ]
    assert [b["status"] for b in world.order_hooks()] == [0, 1, 6, 1]
    with pytest.raises(ValueError, match="not cancelled"):
        world.sim.restore_order(SHOP, order_id)


def test_a_put_cancelling_a_reserving_order_gives_the_units_back(
    make_world: Callable[..., World],
) -> None:
    world = make_world(reserve_stock=True)
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 4}])

    world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"status": 6})

    assert world.remain(NETFLIX) == 10
    assert [b["change_quantity"] for b in world.stock_hooks()] == [-4, 4]


# -- 4. warehouses ------------------------------------------------------------------------------


def test_orders_go_to_the_first_warehouse_that_takes_orders(
    make_world: Callable[..., World],
) -> None:
    world = make_world(warehouses=split_warehouses(), reserve_stock=True)

    listed = world.api("GET", f"/shops/{SHOP}/warehouses").json()["data"]
    assert [w["allow_create_order"] for w in listed] == [False, True]
    main, selling = (w["id"] for w in listed)
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 1}])

    assert world.order(order_id)["warehouse_id"] == selling
    assert world.order_hooks()[0]["warehouse_id"] == selling
    assert (world.remain(NETFLIX, main), world.remain(NETFLIX, selling)) == (0, 9)
    [stock] = world.stock_hooks()
    assert stock["warehouse_id"] == selling

    chosen = world.sim.create_order(SHOP, items=[], warehouse_id=main)
    assert world.order(chosen)["warehouse_id"] == main
    world.sim.set_allow_create_order(SHOP, main, True)
    assert world.order(world.sim.create_order(SHOP, items=[]))["warehouse_id"] == main


# -- 5. item edits, restore, partial return -----------------------------------------------------


def test_item_edits_each_send_the_order_webhook_and_move_totals(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 2}])
    [line] = world.order(order_id)["items"]

    world.sim.set_item_quantity(SHOP, order_id, line["id"], 5)
    world.sim.set_item_quantity(SHOP, order_id, line["id"], 1)
    world.sim.swap_item_variation(SHOP, order_id, line["id"], SPOTIFY)

    hooks = world.order_hooks()
    assert [b["items"][0]["quantity"] for b in hooks] == [2, 5, 1, 1]
    assert [b["total_price"] for b in hooks] == [200_000, 500_000, 100_000, 100_000]
    swapped = hooks[-1]["items"][0]
    assert (swapped["id"], swapped["variation_id"]) == (line["id"], SPOTIFY)
    assert swapped["variation_info"]["name"] == "Spotify 1 year"
    assert world.order(order_id)["items"] == hooks[-1]["items"]
    assert len({b["updated_at"] for b in hooks}) == 4


def test_item_edits_move_the_reservation(make_world: Callable[..., World]) -> None:
    world = make_world(reserve_stock=True)
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 2}])
    [line] = world.order(order_id)["items"]

    world.sim.set_item_quantity(SHOP, order_id, line["id"], 3)
    world.sim.swap_item_variation(SHOP, order_id, line["id"], SPOTIFY)

    assert (world.remain(NETFLIX), world.remain(SPOTIFY)) == (10, 7)
    moves = [(b["variation_id"], b["change_quantity"]) for b in world.stock_hooks()]
    assert moves == [(NETFLIX, -2), (NETFLIX, -1), (SPOTIFY, -3), (NETFLIX, 3)]


def test_a_partial_return_carries_returned_counts(make_world: Callable[..., World]) -> None:
    world = make_world()
    order_id = world.sim.create_order(
        SHOP,
        items=[{"variation_id": NETFLIX, "quantity": 2}, {"variation_id": SPOTIFY}],
        status=3,
    )
    netflix, spotify = (item["id"] for item in world.order(order_id)["items"])

    world.sim.partly_return(SHOP, order_id, {netflix: 1})

    body = world.order_hooks()[-1]
    assert (body["status"], body["status_name"]) == (15, "partly_returned")
    assert [(i["id"], i["returned_count"]) for i in body["items"]] == [(netflix, 1), (spotify, 0)]
    with pytest.raises(ValueError, match="not 0..quantity"):
        world.sim.partly_return(SHOP, order_id, {spotify: 2})


# -- 6. webhook headers, secrets in the URL, the ping -------------------------------------------


def test_without_custom_headers_the_secret_rides_in_the_url(
    make_world: Callable[..., World],
) -> None:
    world = make_world(send_webhook_headers=False, hook_path="/hook/t0k3n?secret=s3cr3t&x=1")
    world.sim.create_order(SHOP, items=[])

    [hit] = world.hits()
    assert "x-bridge-secret" not in hit.headers
    assert hit.headers["content-type"] == "application/json"
    assert (hit.path, hit.query) == ("/hook/t0k3n", {"secret": "s3cr3t", "x": "1"})
    assert world.sim.webhook_config(SHOP)["webhook_headers"] == {"X-Bridge-Secret": SECRET}


def test_saving_the_webhook_url_sends_the_test_ping(make_world: Callable[..., World]) -> None:
    world = make_world(ping_on_webhook_save=True)
    world.settle()
    world.hook.clear()
    saved = {"webhook_enable": True, "webhook_url": world.hook_url + "?secret=new"}

    answer = world.api("PUT", f"/shops/{SHOP}", json={"shop": saved})

    assert answer.json()["success"] is True
    world.settle()
    [hit] = world.hits()
    assert hit.body == {"test": True}
    assert hit.query == {"secret": "new"}
    assert hit.headers["x-bridge-secret"] == SECRET
    assert world.sim.deliveries[-1] == WebhookDelivery("ping", SHOP, 200)

    world.api("PUT", f"/shops/{SHOP}", json={"shop": {"webhook_email": "a@b.c"}})
    world.sim.send_ping(SHOP)
    world.settle()
    assert [h.body for h in world.hits()] == [{"test": True}] * 2, "only a saved URL pings"


# -- 7. status codes 19 and 20 ------------------------------------------------------------------


def test_status_19_has_no_label_and_20_is_ordered(make_world: Callable[..., World]) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[], status=19)
    assert world.order(order_id)["status_name"] is None

    answer = world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"status": 20})
    assert answer.json()["data"]["status_name"] == "ordered"
    world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"status": 19})

    assert [(b["status"], b["status_name"]) for b in world.order_hooks()] == [
        (19, None),
        (20, "ordered"),
        (19, None),
    ]
    listed = world.api("GET", f"/shops/{SHOP}/orders", params={"status": 19}).json()["data"]
    assert [str(o["id"]) for o in listed] == [order_id]
    refused = world.api("PUT", f"/shops/{SHOP}/orders/{order_id}", json={"status": 18})
    assert refused.status_code == 422


# -- the control API ----------------------------------------------------------------------------


def test_the_control_api_sets_the_new_switches(make_world: Callable[..., World]) -> None:
    world = make_world()
    new = {
        "put_mode": "replace",
        "reserve_stock": True,
        "send_webhook_headers": False,
        "ping_on_webhook_save": True,
    }

    answer = world.http.post("/_control/switches", json=new)

    assert answer.status_code == 200
    assert {key: answer.json()[key] for key in new} == new
    assert (world.sim.put_mode, world.sim.reserve_stock) == ("replace", True)
    assert world.http.post("/_control/switches", json={"put_mode": "wipe"}).status_code == 400
    assert world.http.post("/_control/switches", json={"reserve_stock": 1}).status_code == 400


def test_the_control_api_places_old_locked_and_warehoused_orders(
    make_world: Callable[..., World],
) -> None:
    world = make_world(warehouses=split_warehouses())
    main = world.sim.warehouses(SHOP)[0]["id"]
    items = [{"variation_id": NETFLIX, "quantity": 1}]

    old = world.http.post(
        f"/_control/shops/{SHOP}/orders",
        json={"items": items, "before": "2026-02-01T00:00:00", "count": 2},
    ).json()
    placed = world.http.post(
        f"/_control/shops/{SHOP}/orders",
        json={
            "items": items,
            "warehouse_id": main,
            "inserted_at": "2026-01-15T10:00:00+07:00",
            "is_locked": True,
        },
    ).json()

    assert [world.order(i)["status"] for i in old["order_ids"]] == [3, 3]
    order = world.order(placed["order_id"])
    assert (order["warehouse_id"], order["is_locked"]) == (main, True)
    assert order["inserted_at"] == "2026-01-15T03:00:00.000000"
    assert [str(b["id"]) for b in world.order_hooks()] == [placed["order_id"]]
    bad = world.http.post(
        f"/_control/shops/{SHOP}/orders", json={"items": items, "before": "yesterday"}
    )
    assert bad.status_code == 400


def test_the_control_api_moves_to_19_and_returns_part_of_an_order(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 2}])
    [line] = world.order(order_id)["items"]
    status_url = f"/_control/shops/{SHOP}/orders/{order_id}/status"

    moved = world.http.post(status_url, json={"status": 19}).json()
    returned = world.http.post(
        status_url, json={"status": 15, "returned": {str(line["id"]): 1}}
    ).json()

    assert (moved["status"], moved["status_name"]) == (19, None)
    assert returned["status"] == 15
    assert world.order(order_id)["items"][0]["returned_count"] == 1
    wrong = world.http.post(status_url, json={"status": 5, "returned": {str(line["id"]): 1}})
    assert wrong.status_code == 400
    assert world.http.post(status_url, json={"status": 18}).status_code == 400


# -- defaults stay as they were -----------------------------------------------------------------


def test_by_default_nothing_is_reserved_headers_are_sent_and_no_ping(
    make_world: Callable[..., World],
) -> None:
    world = make_world()
    order_id = world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX, "quantity": 3}])
    world.sim.set_status(SHOP, order_id, 6)
    world.api("PUT", f"/shops/{SHOP}", json={"shop": {"webhook_url": world.hook_url}})

    assert world.remain(NETFLIX) == 10
    assert world.stock_hooks() == []
    assert [h.body["status"] for h in world.hits()] == [0, 6], "no ping"
    assert all(h.headers["x-bridge-secret"] == SECRET for h in world.hits())
    order = world.order(order_id)
    assert "is_locked" not in order
    assert all("returned_count" not in item for item in order["items"])
    assert (world.sim.put_mode, world.sim.reserve_stock) == ("merge", False)
    assert (world.sim.send_webhook_headers, world.sim.ping_on_webhook_save) == (True, False)


def test_the_captured_stock_webhook_time_shape_matches(make_world: Callable[..., World]) -> None:
    """The reservation webhook's ``inserted_at`` parses like the captured one (space, µs)."""
    world = make_world(reserve_stock=True)
    world.sim.clock = lambda: datetime(2026, 7, 27, 4, 57, 4, 925107, tzinfo=UTC)
    world.sim.create_order(SHOP, items=[{"variation_id": NETFLIX}])

    [stock] = world.stock_hooks()
    assert stock["inserted_at"] == json.loads(CAPTURED_STOCK_ORDER)["inserted_at"]
