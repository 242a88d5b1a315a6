"""Stock that Pancake can really sell, end to end on both backends.

Pancake reserves an order's units the moment it is created (status 0, long before any trigger)
and says so with a stock webhook naming the order (the simulator's ``reserve_stock``). The
bridge must never write supplier stock back over them, never loop on its own pushes' webhooks,
put the stock where orders are taken, and stop offering a plan it has not been able to read for
``BRIDGE_STOCK_STALE_HOURS``. What Pancake shows is read from the simulator.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from types import TracebackType

import httpx
import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.dev.simulators.pancake import split_warehouses
from bridge.pancake.shops import add_shop
from bridge.routes import WEBHOOK_PATH, WEBHOOK_SECRET_HEADER
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from mappings.audit import SYSTEM
from mappings.commands import add_choice
from tests.conftest import Backend
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SPOTIFY, build_world, purchases_per_plan
from tests.workers.stock.conftest import pushes, quantity, stock_sandbox
from workers.stock.models import CONTROL_ID, StockSyncControl, StockSyncRun
from workers.stock.report import SyncReport
from workers.stock.sync import run_exclusive

ONE_NETFLIX = [{"variation_id": NETFLIX, "quantity": 1}]
STALE_HOURS = 6.0


def started(backend: Backend, *, workers: bool) -> Sandbox:
    sandbox = build_world(stock_sandbox(backend, stock_stale_hours=STALE_HOURS))
    sandbox.pancake.reserve_stock = True
    return sandbox.start(workers=workers)


@pytest.fixture
def live(backend: Backend) -> Iterator[Sandbox]:
    """Workers and the scheduler run: webhooks and purchases cause the syncs themselves."""
    sandbox = started(backend, workers=True)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def desk(backend: Backend) -> Iterator[Sandbox]:
    """The web side only (webhooks are recorded): each test runs its syncs itself."""
    sandbox = started(backend, workers=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def sync(sandbox: Sandbox) -> SyncReport:
    return run_exclusive(sandbox.runtime.ctx, trigger="test")


def no_sync_due(sandbox: Sandbox) -> bool:
    with session_scope(sandbox.runtime.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
    return control is not None and control.requested_at is None and control.running_until is None


def quiet(sandbox: Sandbox) -> None:
    """Every webhook delivered, and every sync they (or a purchase) asked for has run."""
    assert sandbox.pancake.wait_idle()
    sandbox.wait_for(lambda: no_sync_due(sandbox), what="the stock syncs to finish")


class Highest:
    """Samples what Pancake offers of a variation, in a thread, while the block runs."""

    def __init__(self, sandbox: Sandbox, variation_id: str) -> None:
        self._sandbox, self._variation = sandbox, variation_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.value = self._read()
        self.samples = 0

    def _read(self) -> int:
        return quantity(self._sandbox, self._variation)

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.value = max(self.value, self._read())
            self.samples += 1

    def __enter__(self) -> Highest:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()


def test_pancake_never_offers_units_promised_to_open_orders(live: Sandbox) -> None:
    pancake, shop, caoshop = live.pancake, live.shop_id, live.suppliers[CAOSHOP]
    caoshop.set_stock(319, 5)
    live.wait_for(lambda: quantity(live, NETFLIX) == 5, what="the first sync")
    quiet(live)

    first = pancake.create_order(shop, items=ONE_NETFLIX, status=0)
    second = pancake.create_order(shop, items=ONE_NETFLIX, status=0)
    with Highest(live, NETFLIX) as highest:
        quiet(live)  # the reservations' webhooks, and the sync they cause
        assert quantity(live, NETFLIX) == 3, "5 in stock, 2 promised to new orders"

        calls = len(pancake.calls)
        again = sync(live)
        assert (again.pancake_calls, len(pancake.calls)) == (0, calls), "a second sync: no call"

        pancake.set_status(shop, first, 1)  # confirmed: the bridge buys it
        [line] = live.wait_settled(first, lines=1, final=True)
        assert line.state == FulfilmentState.ANNOTATED
        quiet(live)
        assert quantity(live, NETFLIX) == 3, "4 left at the supplier, 1 still promised"
    assert highest.samples > 0
    assert highest.value == 3, "Pancake never offered a unit already promised"
    assert purchases_per_plan(live)[319] == 1

    pancake.set_status(shop, second, 6)  # cancelled: Pancake gives its unit back
    quiet(live)
    assert quantity(live, NETFLIX) == 4

    calls = len(pancake.calls)
    assert sync(live).pancake_calls == 0
    assert len(pancake.calls) == calls, "our own pushes' webhooks caused no further push"


def test_stock_lands_in_the_warehouse_that_takes_orders(desk: Sandbox) -> None:
    pancake, shop = desk.pancake, "5"
    pancake.add_shop(shop, api_key=PANCAKE_API_KEY, warehouses=split_warehouses())
    store, counter = (w["id"] for w in pancake.warehouses(shop))
    secret = "split-shop-webhook-secret"
    with session_scope(desk.runtime.engine) as session:
        add_shop(session, desk.runtime.box, shop, api_key=PANCAKE_API_KEY, webhook_secret=secret)
    pancake.add_variation(shop, NETFLIX, name="Netflix", remain_quantity=7)  # in the store
    with session_scope(desk.runtime.engine) as session:
        add_choice(
            session,
            actor=SYSTEM,
            shop_id=shop,
            variation_id=NETFLIX,
            supplier_name=CAOSHOP,
            plan_id=319,
        )
    pancake.configure_webhook(
        shop,
        url=desk.bridge_url + WEBHOOK_PATH.format(shop_id=shop),
        headers={WEBHOOK_SECRET_HEADER: secret},
    )

    assert sync(desk).errors == []

    def offered(warehouse: str) -> int:
        return pancake.remain_quantity(shop, NETFLIX, warehouse_id=warehouse)

    assert (offered(counter), offered(store)) == (50, 7), "the store takes no orders: untouched"
    order = pancake.create_order(shop, items=ONE_NETFLIX, status=0)
    assert pancake.order(shop, order)["warehouse_id"] == counter
    by_hand = pancake.create_order(shop, items=ONE_NETFLIX, status=0, warehouse_id=store)
    assert pancake.wait_idle()
    before = pushes(desk)

    report = sync(desk)

    assert (offered(counter), offered(store)) == (48, 6), "both orders' units come off"
    assert pushes(desk) == before + 1
    assert [r.warehouse_id for r in report.rows if r.shop_id == shop] == [counter]
    pancake.set_status(shop, by_hand, 6)  # cancelled: its unit comes back to the store
    assert pancake.wait_idle()
    sync(desk)
    assert (offered(counter), offered(store)) == (49, 7)


def test_a_warehouse_that_stops_taking_orders_is_emptied_once(desk: Sandbox) -> None:
    pancake, shop = desk.pancake, desk.shop_id
    [first] = [w["id"] for w in pancake.warehouses(shop)]
    sync(desk)
    assert quantity(desk, NETFLIX) == 50
    second = pancake.add_warehouse(shop, name="Kho bán hàng")
    pancake.set_allow_create_order(shop, first, False)
    ctx = desk.runtime.ctx
    later = ctx.clock() + timedelta(hours=1, minutes=1)  # the listing is read again hourly
    ctx.clock = lambda: later

    report = sync(desk)

    assert report.errors == []
    for variation in (NETFLIX, SPOTIFY, CANVA):
        assert pancake.remain_quantity(shop, variation, warehouse_id=first) == 0, variation
    assert pancake.remain_quantity(shop, NETFLIX, warehouse_id=second) == 50
    calls = len(pancake.calls)
    sync(desk)
    assert len(pancake.calls) == calls, "emptied once, then left alone"


def test_a_plan_no_read_can_see_goes_to_zero_after_the_stale_time(desk: Sandbox) -> None:
    ctx = desk.runtime.ctx
    sync(desk)
    assert (quantity(desk, NETFLIX), quantity(desk, CANVA)) == (50, 50)
    with session_scope(desk.runtime.engine) as session:
        row = session.get(Supplier, CAOSHOP)
        assert row is not None
        row.base_url = "http://127.0.0.1:9/api/v1"  # nothing listens on the discard port
        session.add(row)
    desk.suppliers[CAOSHOP].set_stock(319, 7)  # a change nobody can see
    real = ctx.clock

    ctx.clock = lambda: real() + timedelta(hours=STALE_HOURS, minutes=-2)
    kept = sync(desk)
    assert quantity(desk, NETFLIX) == 50, "unread, not stale yet: the last value stays"
    assert kept.stale == []
    assert kept.errors, "the unread supplier is an error of the run"

    ctx.clock = lambda: real() + timedelta(hours=STALE_HOURS, minutes=1)
    stale = sync(desk)
    assert (quantity(desk, NETFLIX), quantity(desk, SPOTIFY)) == (0, 0)
    assert quantity(desk, CANVA) == 50, "the other supplier's plans still count"
    named = "\n".join(stale.stale)
    assert f"{CAOSHOP}/319 unread since" in named
    assert f"{CAOSHOP}/331 unread since" in named
    assert f"{CAOSHOP}/320" not in named, "a manual plan with no fixed quantity is the staff's"
    with session_scope(desk.runtime.engine) as session:
        run = session.exec(select(StockSyncRun).where(StockSyncRun.id == stale.run_id)).one()
    assert f"{CAOSHOP}/319 unread since" in (run.errors or ""), "`stock status` shows it"


def post_stock(sandbox: Sandbox, body: dict[str, object]) -> str:
    """A stock webhook as Pancake sends it; the outcome the bridge recorded."""
    response = httpx.post(
        sandbox.webhook_url,
        json={"type": "variations_warehouses", **body},
        headers={WEBHOOK_SECRET_HEADER: sandbox.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200
    outcome: str = response.json()["outcome"]
    return outcome


def test_a_push_never_causes_another_push(desk: Sandbox) -> None:
    pancake, shop = desk.pancake, desk.shop_id
    [warehouse] = [w["id"] for w in pancake.warehouses(shop)]
    sync(desk)
    assert pancake.wait_idle()
    assert no_sync_due(desk), "the echoes of the first pushes asked for nothing"
    stock = {"variation_id": NETFLIX, "warehouse_id": warehouse, "is_actual_remain_quantity": False}

    # An order's reservation that happens to leave the value we pushed is still a reservation.
    taken = {**stock, "remain_quantity": 50, "change_quantity": -1, "order_id": "AF1"}
    assert post_stock(desk, {**taken, "inserted_at": "2026-12-07 12:00:00.000001"}) == (
        "stock:queued"
    )
    echo = {**stock, "remain_quantity": 50, "change_quantity": 0}
    assert post_stock(desk, {**echo, "inserted_at": "2026-12-07 12:00:00.000002"}) == "stock:ours"

    before = pushes(desk)
    report = sync(desk)
    assert pancake.wait_idle()

    assert quantity(desk, NETFLIX) == 49, "the order's unit comes off"
    assert pushes(desk) == before + 1
    assert [r.variation_id for r in report.rows if r.push] == [NETFLIX]
    assert no_sync_due(desk), "the webhook our push caused asked for no sync"
