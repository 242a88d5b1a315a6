"""The real PancakeClient against the Pancake simulator over real HTTP, webhooks included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.dev.simulators.pancake import PancakeSimulator, WebhookDelivery
from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.schemas import QuantityUpdate
from bridge.web.server import ServerThread, free_port

SHOP = "4"
API_KEY = "pos-key-1234567890"
SECRET = "hook-secret-abc"
VARIATION = "415040f4-ab63-465e-8699-e9ebfff4c6c7"


class Receiver:
    """A webhook endpoint that keeps every body and its headers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self._hits.append((dict(request.headers), body))
        return JSONResponse({"ok": True})

    @property
    def hits(self) -> list[tuple[dict[str, str], dict[str, Any]]]:
        with self._lock:
            return list(self._hits)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.hits]


class Plug:
    """An app slot, so one server per module serves each test's own simulator.

    Starting and stopping uvicorn costs about 0.2 s; per test that would dominate the run.
    """

    def __init__(self) -> None:
        self.target: ASGIApp | None = None
        self.app = Starlette(routes=[Mount("", app=self._forward)])

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.target is not None, "no simulator plugged in"
        await self.target(scope, receive, send)


@pytest.fixture(scope="module")
def hook_server() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with ServerThread(hook.app) as server:
        yield hook, server.url + "/hook"


@pytest.fixture(scope="module")
def pancake_server() -> Iterator[tuple[Plug, str]]:
    plug = Plug()
    with ServerThread(plug.app) as server:
        yield plug, server.url + "/api/v1"


@pytest.fixture
def receiver(hook_server: tuple[Receiver, str]) -> tuple[Receiver, str]:
    hook, _ = hook_server
    hook.clear()
    return hook_server


@pytest.fixture
def simulator(receiver: tuple[Receiver, str]) -> Iterator[PancakeSimulator]:
    _, hook_url = receiver
    # Closing waits for queued webhooks, so none leaks into the next test's receiver.
    with PancakeSimulator() as sim:
        sim.add_shop(SHOP, api_key=API_KEY)
        sim.configure_webhook(SHOP, url=hook_url, headers={"X-Bridge-Secret": SECRET})
        sim.add_variation(SHOP, VARIATION, name="Netflix 1 month", retail_price=70_000)
        yield sim


@pytest.fixture
def api_url(simulator: PancakeSimulator, pancake_server: tuple[Plug, str]) -> str:
    plug, url = pancake_server
    plug.target = simulator.app
    return url


@pytest.fixture
def client(api_url: str) -> Iterator[PancakeClient]:
    with PancakeClient(api_url, API_KEY, attempts=3, sleep=lambda _: None) as pancake:
        yield pancake


def settle(simulator: PancakeSimulator) -> None:
    assert simulator.wait_idle(timeout=5), "webhooks still queued"


# -- orders and their webhooks ----------------------------------------------------------------


def test_create_and_status_change_send_flat_order_webhooks_with_configured_headers(
    simulator: PancakeSimulator, receiver: tuple[Receiver, str]
) -> None:
    hook, _ = receiver
    order_id = simulator.create_order(SHOP, items=[{"variation_id": VARIATION, "quantity": 2}])
    simulator.set_status(SHOP, order_id, 1)
    settle(simulator)

    assert simulator.deliveries == [
        WebhookDelivery("orders", order_id, 200),
        WebhookDelivery("orders", order_id, 200),
    ]
    (created_headers, created), (_, confirmed) = hook.hits
    assert created_headers["x-bridge-secret"] == SECRET
    assert created["type"] == "orders"
    assert "data" not in created, "production bodies are flat"
    assert str(created["id"]) == order_id
    assert (created["status"], confirmed["status"]) == (0, 1)
    assert confirmed["status_name"] == "submitted"
    [item] = created["items"]
    assert item["variation_id"] == VARIATION
    assert item["quantity"] == 2
    assert item["variation_info"]["name"] == "Netflix 1 month"
    assert item["product_id"] == simulator.variation(SHOP, VARIATION)["product_id"]


def test_client_reads_the_order_as_created(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    order_id = simulator.create_order(
        SHOP,
        items=[{"variation_id": VARIATION, "quantity": 3}],
        status=1,
        bill_email="buyer@example.com",
    )

    order = client.get_order(SHOP, order_id)

    assert order.id == order_id
    assert order.shop_id == SHOP
    assert order.status == 1
    assert [(i.variation_id, i.quantity, i.name) for i in order.items] == [
        (VARIATION, 3, "Netflix 1 month")
    ]
    assert order.raw["bill_email"] == "buyer@example.com"
    assert ("GET", f"/shops/{SHOP}/orders/{order_id}") in simulator.calls


@pytest.mark.parametrize(
    ("order_id", "json_id"),
    [("AF100975192O582", "AF100975192O582"), ("123456789012345678", 123456789012345678)],
)
def test_marketplace_and_long_numeric_ids(
    simulator: PancakeSimulator,
    client: PancakeClient,
    receiver: tuple[Receiver, str],
    order_id: str,
    json_id: object,
) -> None:
    hook, _ = receiver
    assert simulator.create_order(SHOP, items=[], order_id=order_id) == order_id
    settle(simulator)

    assert hook.bodies[0]["id"] == json_id
    assert client.get_order(SHOP, order_id).id == order_id


def test_note_put_changes_only_the_note_and_the_webhook_is_sent_again(
    simulator: PancakeSimulator, client: PancakeClient, receiver: tuple[Receiver, str]
) -> None:
    hook, _ = receiver
    order_id = simulator.create_order(
        SHOP, items=[{"variation_id": VARIATION, "quantity": 1}], status=1, note="call first"
    )
    before = simulator.order(SHOP, order_id)

    client.update_order(SHOP, order_id, {"note": "call first\n---\ncode: XYZ"})
    settle(simulator)

    after = simulator.order(SHOP, order_id)
    assert after["note"] == "call first\n---\ncode: XYZ"
    assert after["updated_at"] > before["updated_at"]
    unchanged = {k: v for k, v in after.items() if k not in ("note", "updated_at")}
    assert unchanged == {k: v for k, v in before.items() if k not in ("note", "updated_at")}
    assert [b["note"] for b in hook.bodies] == ["call first", "call first\n---\ncode: XYZ"]
    assert [d.type for d in simulator.deliveries] == ["orders", "orders"]


def test_replayed_webhooks_keep_their_order(
    simulator: PancakeSimulator, receiver: tuple[Receiver, str]
) -> None:
    hook, _ = receiver
    order_id = simulator.create_order(SHOP, items=[])
    for status in (17, 1, 8, 2, 3):
        simulator.set_status(SHOP, order_id, status)
    simulator.send_order_webhook(SHOP, order_id)
    settle(simulator)

    assert [b["status"] for b in hook.bodies] == [0, 17, 1, 8, 2, 3, 3]


def test_shuffled_webhooks_vary_key_order_but_not_content(
    receiver: tuple[Receiver, str],
) -> None:
    hook, hook_url = receiver
    with PancakeSimulator(shuffle_webhook_keys=True) as sim:
        sim.add_shop(SHOP, api_key=API_KEY)
        sim.configure_webhook(SHOP, url=hook_url, headers={})
        order_id = sim.create_order(SHOP, items=[])
        for _ in range(3):
            sim.send_order_webhook(SHOP, order_id)
        settle(sim)

    bodies = hook.bodies
    assert all(body == bodies[0] for body in bodies)
    assert len({tuple(body) for body in bodies}) > 1, "key order should differ between sends"


def test_webhook_config_over_http_routes_orders_to_the_new_url(
    simulator: PancakeSimulator, api_url: str, receiver: tuple[Receiver, str]
) -> None:
    hook, hook_url = receiver
    settings = {
        "webhook_enable": True,
        "webhook_url": hook_url,
        "webhook_types": ["orders"],
        "webhook_headers": {"X-Bridge-Secret": "rotated"},
    }
    answer = httpx.put(
        f"{api_url}/shops/{SHOP}", params={"api_key": API_KEY}, json={"shop": settings}
    )
    assert answer.json()["success"] is True

    simulator.create_order(SHOP, items=[])
    settle(simulator)

    assert simulator.webhook_config(SHOP)["webhook_types"] == ["orders"]
    assert hook.hits[0][0]["x-bridge-secret"] == "rotated"


def test_a_dead_receiver_is_recorded_and_does_not_stall_the_queue(
    simulator: PancakeSimulator, receiver: tuple[Receiver, str]
) -> None:
    hook, hook_url = receiver
    dead_url = f"http://127.0.0.1:{free_port()}/hook"
    simulator.configure_webhook(SHOP, url=dead_url, headers={})
    first = simulator.create_order(SHOP, items=[])
    simulator.configure_webhook(SHOP, url=hook_url, headers={})
    second = simulator.create_order(SHOP, items=[])
    settle(simulator)

    failed, delivered = simulator.deliveries
    assert (failed.ref_id, delivered) == (first, WebhookDelivery("orders", second, 200))
    assert isinstance(failed.result, str)
    assert "ConnectError" in failed.result
    assert [str(b["id"]) for b in hook.bodies] == [second]


# -- stock ------------------------------------------------------------------------------------


def test_update_quantity_sets_stock_and_sends_variations_warehouses_webhooks(
    simulator: PancakeSimulator, client: PancakeClient, receiver: tuple[Receiver, str]
) -> None:
    hook, _ = receiver
    [warehouse] = client.list_warehouses(SHOP)
    simulator.add_variation(SHOP, "v-2", name="Spotify 1 year", remain_quantity=4)

    client.update_quantities(
        SHOP,
        [
            QuantityUpdate(variation_id=VARIATION, warehouse_id=warehouse.id, remain_quantity=15),
            QuantityUpdate(variation_id="v-2", warehouse_id=warehouse.id, remain_quantity=1),
        ],
    )
    settle(simulator)

    page = client.list_variations(SHOP)
    stock = {v.id: v.remain_in(warehouse.id) for v in page.variations}
    assert stock == {VARIATION: 15, "v-2": 1}
    assert [(b["type"], b["variation_id"], b["change_quantity"]) for b in hook.bodies] == [
        ("variations_warehouses", VARIATION, 15),
        ("variations_warehouses", "v-2", -3),
    ]
    assert hook.bodies[0]["warehouse_id"] == warehouse.id
    assert hook.bodies[0]["is_actual_remain_quantity"] is False


def test_update_quantity_with_an_unknown_warehouse_is_refused_with_http_200(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    entry = QuantityUpdate(variation_id=VARIATION, warehouse_id="nope", remain_quantity=5)

    with pytest.raises(PancakeRequestError) as caught:
        client.update_quantities(SHOP, [entry])
    assert caught.value.status == 200
    assert caught.value.message is not None
    assert "nope" in caught.value.message
    assert simulator.variation(SHOP, VARIATION)["remain_quantity"] == 0


def test_variations_are_paginated(simulator: PancakeSimulator, client: PancakeClient) -> None:
    for index in range(2):
        simulator.add_variation(SHOP, f"extra-{index}", name=f"Extra {index}")

    first = client.list_variations(SHOP, page_number=1, page_size=2)
    second = client.list_variations(SHOP, page_number=2, page_size=2)

    assert [v.id for v in first.variations] == [VARIATION, "extra-0"]
    assert first.has_more
    assert [v.name for v in second.variations] == ["Extra 1"]
    assert not second.has_more


# -- faults and auth --------------------------------------------------------------------------


def test_an_injected_503_is_retried_by_the_client(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    order_id = simulator.create_order(SHOP, items=[])
    simulator.inject(503, times=2, path_contains="/orders/")

    assert client.get_order(SHOP, order_id).id == order_id
    assert client.calls == 3
    assert [m for m, _ in simulator.calls] == ["GET", "GET", "GET"]


def test_an_injected_429_outlasting_the_attempts_raises_with_retry_after(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    simulator.inject(429, times=3, retry_after=7)

    with pytest.raises(PancakeUnavailable) as caught:
        client.list_warehouses(SHOP)
    assert (caught.value.status, caught.value.retry_after) == (429, 7.0)
    assert len(client.list_warehouses(SHOP)) == 1, "the fault is used up"


def test_a_fault_only_hits_matching_paths(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    order_id = simulator.create_order(SHOP, items=[])
    simulator.inject(200, path_contains="/warehouses")

    assert client.get_order(SHOP, order_id).id == order_id
    with pytest.raises(PancakeRequestError) as caught:
        client.list_warehouses(SHOP)
    assert caught.value.status == 200


def test_wrong_api_key_is_refused_with_401(simulator: PancakeSimulator, api_url: str) -> None:
    order_id = simulator.create_order(SHOP, items=[])

    with (
        PancakeClient(api_url, "wrong-key") as stranger,
        pytest.raises(PancakeRequestError) as caught,
    ):
        stranger.get_order(SHOP, order_id)
    assert caught.value.status == 401
    assert "wrong-key" not in str(caught.value)
    without_key = httpx.get(f"{api_url}/shops/{SHOP}/orders/{order_id}")
    assert without_key.status_code == 401
    assert without_key.json()["success"] is False


def test_unknown_shop_and_order_answer_404(client: PancakeClient) -> None:
    with pytest.raises(PancakeRequestError) as unknown_order:
        client.get_order(SHOP, "999999")
    with pytest.raises(PancakeRequestError) as unknown_shop:
        client.get_order("no-such-shop", "1")

    assert unknown_order.value.status == unknown_shop.value.status == 404
    assert unknown_order.value.message == "Order not found"
