"""What starts a stock sync: Pancake's stock webhooks, purchases and the one scheduler."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import dramatiq
import httpx
import pytest
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.runtime.wiring import Runtime
from tests.conftest import REDIS_URL, Backend
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY, UNMAPPED, build_world
from tests.workers.stock.conftest import (
    SECRET_KEY,
    catalogue_reads,
    pushes,
    quantity,
    stock_sandbox,
)
from workers.fulfilment.models import WebhookEvent
from workers.queue.broker import build_broker
from workers.queue.dispatch import STOCK_SYNC, Send
from workers.stock.models import CONTROL_ID, StockSyncRun
from workers.stock.sync import run_exclusive, sync_stock
from workers.stock.triggers import (
    periodic_stock_sync,
    request_stock_sync,
    stock_sync_after_purchase,
)


def finished_runs(sandbox: Sandbox) -> list[StockSyncRun]:
    with session_scope(sandbox.runtime.engine) as session:
        statement = (
            select(StockSyncRun)
            .where(col(StockSyncRun.finished_at).is_not(None))
            .order_by(col(StockSyncRun.id))
        )
        return list(session.exec(statement))


def _unfinished_runs(sandbox: Sandbox) -> int:
    with session_scope(sandbox.runtime.engine) as session:
        statement = select(StockSyncRun).where(col(StockSyncRun.finished_at).is_(None))
        return len(list(session.exec(statement)))


def outcomes(sandbox: Sandbox, kind: str = "variations_warehouses") -> list[str]:
    with session_scope(sandbox.runtime.engine) as session:
        statement = (
            select(WebhookEvent.outcome)
            .where(WebhookEvent.kind == kind)
            .order_by(col(WebhookEvent.id))
        )
        return list(session.exec(statement))


def post_stock(sandbox: Sandbox, variation_id: str, remain: int, warehouse_id: str) -> str:
    body = {
        "type": "variations_warehouses",
        "variation_id": variation_id,
        "warehouse_id": warehouse_id,
        "remain_quantity": remain,
        "actual_remain_quantity": remain,
        "change_quantity": -1,
        "is_actual_remain_quantity": False,
        "inserted_at": f"2026-11-20 04:02:00.{time.monotonic_ns() % 1_000_000:06d}",
    }
    response = httpx.post(
        sandbox.webhook_url,
        content=json.dumps(body),
        headers={"X-Bridge-Secret": sandbox.webhook_secret},
        timeout=10,
    )
    assert response.status_code == 200
    outcome: str = response.json()["outcome"]
    return outcome


def test_stock_webhooks_are_told_apart_without_calling_anyone(world: Sandbox) -> None:
    run_exclusive(world.runtime.ctx, trigger="test")
    assert world.pancake.wait_idle()
    warehouse = world.pancake.warehouses(world.shop_id)[0]["id"]
    pancake_calls, supplier_calls = len(world.pancake.calls), len(world.suppliers[CAOSHOP].calls)

    assert post_stock(world, NETFLIX, 50, warehouse) == "stock:ours"
    assert post_stock(world, NETFLIX, 49, warehouse) == "stock:queued"
    assert post_stock(world, UNMAPPED, 3, warehouse) == "ignored:stock"
    assert post_stock(world, NETFLIX, 7, "another-warehouse") == "ignored:stock"

    assert len(world.pancake.calls) == pancake_calls
    assert len(world.suppliers[CAOSHOP].calls) == supplier_calls
    # The echoes of the sync's own pushes were recognised as ours, not as staff edits.
    assert outcomes(world)[:3] == ["stock:ours"] * 3


def test_a_burst_of_twenty_stock_webhooks_causes_one_push(backend: Backend) -> None:
    debounce = 2.0
    sandbox = build_world(stock_sandbox(backend, stock_debounce_seconds=debounce)).start()
    try:
        # The scheduler's first tick asks for the first sync (none ran yet).
        sandbox.wait_for(lambda: len(finished_runs(sandbox)) == 1, what="the first sync")
        assert quantity(sandbox, NETFLIX) == 50
        assert sandbox.pancake.wait_idle()
        before = pushes(sandbox)

        started = time.monotonic()
        for staff_value in range(100, 120):  # staff (or sales) change it 20 times in a row
            sandbox.pancake.set_quantity(sandbox.shop_id, NETFLIX, staff_value)
        assert sandbox.pancake.wait_idle()
        assert time.monotonic() - started < debounce, "the burst must fit in the debounce"
        sandbox.wait_for(lambda: len(finished_runs(sandbox)) == 2, what="the webhook sync")
        time.sleep(debounce + 0.5)  # nothing else may follow

        runs = finished_runs(sandbox)
        assert len(runs) == 2
        assert (runs[1].trigger, runs[1].changed) == ("webhook", 1)
        assert pushes(sandbox) == before + 1
        assert quantity(sandbox, NETFLIX) == 50, "supplier stock wins over the staff edit"
        stock_outcomes = outcomes(sandbox)
        assert stock_outcomes.count("stock:queued") == 20
        assert stock_outcomes[-1] == "stock:ours", "the echo of our push is not a new edit"
    finally:
        sandbox.stop()


def test_one_scheduler_requests_the_periodic_sync_when_two_worker_sets_run(
    backend: Backend,
) -> None:
    sandbox = build_world(
        stock_sandbox(backend, stock_sync_interval_seconds=1.0, sweep_interval_seconds=0.2)
    ).start()
    broker: dramatiq.Broker | None = None
    if backend.broker is not None:  # the same Redis queue, through a broker of its own
        broker = build_broker(REDIS_URL, namespace=backend.broker.namespace)  # type: ignore[attr-defined]
    second = Runtime(sandbox.runtime.settings, secret_key=SECRET_KEY, broker=broker)
    try:
        second.start_workers()  # workers and a scheduler, as on a second host
        # Three periodic syncs, however long a loaded machine makes each: two schedulers would
        # start them twice per interval, which the spacing below refuses.
        deadline = time.monotonic() + 60
        while len(finished_runs(sandbox)) < 3:
            assert time.monotonic() < deadline, "fewer than 3 periodic syncs in 60 s"
            time.sleep(0.1)
        ticks = [sandbox.runtime.scheduler.tick(), second.scheduler.tick()]
    finally:
        second.stop()
    try:
        # No sync starts from here on, and the one under way (if any) finishes: the counts
        # below are of the same runs.
        sandbox.runtime.scheduler.stop()
        deadline = time.monotonic() + 30
        while _unfinished_runs(sandbox):
            assert time.monotonic() < deadline, "a sync did not finish in 30 s"
            time.sleep(0.1)
        runs = finished_runs(sandbox)
        assert sorted(ticks) == [False, True], "one lease holder"
        assert len(runs) >= 3, [run.started_at for run in runs]
        assert {run.trigger for run in runs} == {"periodic"}
        for earlier, later in zip(runs, runs[1:], strict=False):
            assert earlier.finished_at is not None
            assert later.started_at >= earlier.finished_at, "never two syncs at once"
            assert later.started_at - earlier.started_at >= timedelta(seconds=0.9)
        reads = catalogue_reads(sandbox.suppliers[CAOSHOP])
        assert reads in (len(runs), len(runs) + 1), "one catalogue read per supplier per sync"
        assert catalogue_reads(sandbox.suppliers[SHOPKEY]) == reads
    finally:
        sandbox.stop()


def test_requests_are_debounced_until_the_sync_starts(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    now = ctx.clock()
    with session_scope(world.runtime.engine) as session:
        conn = session.connection()
        first = request_stock_sync(conn, now, trigger="webhook", delay=2, stale_after=60)
        again = [
            request_stock_sync(conn, now, trigger="webhook", delay=2, stale_after=60)
            for _ in range(5)
        ]
        lost = request_stock_sync(
            conn, now + timedelta(seconds=61), trigger="webhook", delay=2, stale_after=60
        )

    assert first == [Send(STOCK_SYNC, CONTROL_ID, 2)]
    assert again == [[]] * 5
    assert lost == [Send(STOCK_SYNC, CONTROL_ID, 2)], "a request whose message was lost"

    run_exclusive(ctx, trigger="test")  # a sync serves every pending request
    with session_scope(world.runtime.engine) as session:
        after = request_stock_sync(
            session.connection(), ctx.clock(), trigger="webhook", delay=2, stale_after=60
        )
    assert after == [Send(STOCK_SYNC, CONTROL_ID, 2)]


def test_a_purchase_of_a_synced_plan_requests_a_debounced_sync(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    with session_scope(world.runtime.engine) as session:
        unsynced = stock_sync_after_purchase(
            ctx, session, supplier_name=SHOPKEY, plan_ids=[999, 319]
        )
        synced = stock_sync_after_purchase(ctx, session, supplier_name=CAOSHOP, plan_ids=[999, 319])
        burst = stock_sync_after_purchase(ctx, session, supplier_name=SHOPKEY, plan_ids=[77])

    assert unsynced == []
    assert synced == [Send(STOCK_SYNC, CONTROL_ID, ctx.settings.stock_debounce_seconds)]
    assert burst == [], "one sync already requested"
    world.runtime.dispatch(synced)
    world.runtime.start_workers(with_scheduler=False)
    world.wait_for(lambda: len(finished_runs(world)) == 1, what="the requested sync")
    [run] = finished_runs(world)
    assert run.trigger == "purchase"
    assert quantity(world, CANVA) == 50


def test_automatic_syncs_are_spaced_to_fit_the_daily_budget(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    # 10,000 requests a day, half for catalogues: a sync reading 2 pages of one supplier (plus
    # its balance) may run every 3 x 86,400 / 5,000 = 51.84 s, whatever the interval says.
    ctx.settings = ctx.settings.model_copy(
        update={"supplier_daily_limit": 10_000, "stock_sync_interval_seconds": 1.0}
    )
    for plan_id in range(1000, 1100):
        world.suppliers[CAOSHOP].add_plan(plan_id, name=f"Plan {plan_id}")
    start = datetime.now(UTC)
    ctx.clock = lambda: start
    run_exclusive(ctx, trigger="test")
    ctx.clock = lambda: start + timedelta(seconds=5)

    assert periodic_stock_sync(ctx) == [], "the interval passed, the spacing did not"
    with session_scope(world.runtime.engine) as session:
        sends = request_stock_sync(
            session.connection(), ctx.clock(), trigger="webhook", delay=0, stale_after=60
        )
    assert sends == [Send(STOCK_SYNC, CONTROL_ID, 0)]
    [later] = sync_stock(ctx, CONTROL_ID)

    assert later.actor == STOCK_SYNC
    assert later.delay_seconds == pytest.approx(51.84 - 5)
    assert len(finished_runs(world)) == 1, "nothing ran: the request waits its turn"
    ctx.clock = lambda: start + timedelta(seconds=52)

    assert sync_stock(ctx, CONTROL_ID) == []

    assert [run.trigger for run in finished_runs(world)] == ["test", "webhook"]
