"""The database, not the queue, guarantees progress: lost messages and dead workers lose nothing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.models import PurchaseAttempt
from bridge.pancake.client import PancakeClient
from bridge.pancake.schemas import PancakeOrder
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from tests.conftest import Backend, fast_settings, migrated_sqlite_url
from tests.e2e.world import NETFLIX, all_credentials, build_world
from workers.fulfilment.claims import recover_dead_workers
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import Purchase, _decide, mark_sent, purchase
from workers.fulfilment.settle import settle
from workers.fulfilment.sweep import sweep
from workers.queue.dispatch import DELIVER, INTAKE, PURCHASE, SETTLE, Send
from workers.queue.models import WorkerProcess


def test_messages_lost_before_any_worker_ran_are_resent_by_the_sweep(backend: Backend) -> None:
    sandbox = build_world(backend.sandbox(lease_seconds=1.0, supplier_timeout_seconds=0.4)).start(
        workers=False
    )
    try:
        order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        sandbox.runtime.broker.flush_all()  # the intake message is gone, as after a crash

        sandbox.runtime.start_workers()
        # Final: under load a purchase can outlive the 1 s lease and be parked for settling
        # while its answer is on the way; the line must still end annotated, bought once.
        [line] = sandbox.wait_settled(order_id, lines=1, timeout=30, final=True)

        assert line.state == FulfilmentState.ANNOTATED
        assert len(sandbox.suppliers["caoshop-sim"].ledger) == 1
        [credential] = all_credentials(sandbox)
        assert sandbox.note(order_id).count(credential) == 1
    finally:
        sandbox.stop()


@pytest.mark.parametrize("committed", [True, False], ids=["order-committed", "never-arrived"])
def test_a_worker_that_died_mid_purchase_is_settled_not_blindly_rebought(
    tmp_path: Path, committed: bool
) -> None:
    settings = fast_settings(
        migrated_sqlite_url(tmp_path), lease_seconds=5.0, supplier_timeout_seconds=2.0
    )
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    try:
        sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        # Do by hand what a worker does: intake, claim the line and commit its attempt, mark it
        # sent, send orders/create (or not: the request never arrived), then "die" before
        # recording the answer.
        [send] = intake(ctx, 1)
        assert send.actor == PURCHASE
        line_id = send.entity_id
        decided = _decide(ctx, line_id)
        assert isinstance(decided, Purchase)
        claim = decided.claim
        supplier = sandbox.suppliers["caoshop-sim"]
        assert mark_sent(ctx, claim)
        if committed:
            ctx.supplier(decided.supplier).create_order([claim.item])

        assert sweep(ctx) == [], "the lease has not expired yet: nothing to do"
        real_clock = ctx.clock
        ctx.clock = lambda: real_clock() + timedelta(seconds=6)
        assert sweep(ctx) == [Send(SETTLE, line_id)]
        [row] = sandbox.fulfilments()
        assert row.state == FulfilmentState.PURCHASE_UNKNOWN
        # A stray duplicate of the purchase message buys nothing while the line is parked.
        assert purchase(ctx, line_id) == []

        follow_up = settle(ctx, line_id)

        with session_scope(sandbox.runtime.engine) as session:
            attempt = session.get(PurchaseAttempt, claim.attempt_id)
            assert attempt is not None
            settlement = attempt.settlement
            adopted = attempt.trans_id
        if committed:
            assert settlement == "adopted"
            assert follow_up == [Send(DELIVER, line_id)]
            assert adopted == supplier.ledger[0].trans_id
        else:
            assert settlement == "not_found"
            assert follow_up == [Send(PURCHASE, line_id)]
            [bought] = purchase(ctx, line_id)
            assert bought.actor == DELIVER
        assert len(supplier.ledger) == 1, "exactly one purchase either way"
    finally:
        sandbox.stop()


def test_two_copies_of_one_settle_buy_the_line_once(tmp_path: Path) -> None:
    """A settle message delivered twice: both copies read the supplier's list at once, the first
    finds nothing and the line is bought again; the second, concluding while that purchase is in
    flight, must not send the line back to buying."""
    settings = fast_settings(
        migrated_sqlite_url(tmp_path), lease_seconds=8.0, supplier_timeout_seconds=3.0
    )
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    supplier = sandbox.suppliers["caoshop-sim"]
    try:
        sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        [send] = intake(ctx, 1)
        line_id = send.entity_id
        decided = _decide(ctx, line_id)
        assert isinstance(decided, Purchase)
        assert mark_sent(ctx, decided.claim)  # claimed and sent; the request never arrived
        real_clock = ctx.clock
        ctx.clock = lambda: real_clock() + timedelta(seconds=9)
        assert sweep(ctx) == [Send(SETTLE, line_id)]

        supplier.list_latency_seconds = 0.6  # each copy spends over a second reading the list
        supplier.create_latency_seconds = 1.0  # the re-purchase is in flight meanwhile
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(settle, ctx, line_id)
            time.sleep(0.2)
            second = pool.submit(settle, ctx, line_id)
            assert first.result(timeout=10) == [Send(PURCHASE, line_id)]
            [bought] = purchase(ctx, line_id)
            late = second.result(timeout=10)

        assert bought.actor == DELIVER
        assert late == [], "the second copy found the attempt settled and left the line alone"
        for follow_up in late:  # what a worker would have run next
            purchase(ctx, follow_up.entity_id)
        assert len(supplier.ledger) == 1, "bought exactly once"
        [row] = sandbox.fulfilments()
        assert row.state == FulfilmentState.PURCHASED
        assert row.trans_id == supplier.ledger[0].trans_id
    finally:
        sandbox.stop()


def test_a_confirmation_arriving_while_intake_reads_the_order_is_not_lost(tmp_path: Path) -> None:
    """Intake reads "new" from Pancake; before it records "skipped", staff confirm the order and
    that webhook is recorded. Intake must not bury the order as skipped."""
    sandbox = build_world(Sandbox(fast_settings(f"sqlite:///{tmp_path / 'b.db'}"))).start(
        workers=False
    )
    ctx = sandbox.runtime.ctx
    shop = sandbox.shop_id
    try:
        order_id = sandbox.pancake.create_order(
            shop, items=[{"variation_id": NETFLIX, "quantity": 1}], status=0
        )
        # A stale or reordered copy claiming "confirmed" queues an intake...
        stale = sandbox.pancake.order(shop, order_id) | {"type": "orders", "status": 1}
        response = httpx.post(
            sandbox.webhook_url, json=stale, headers={"X-Bridge-Secret": sandbox.webhook_secret}
        )
        assert response.json()["outcome"] == "queued"
        assert sandbox.pancake.wait_idle()
        real = ctx.pancake

        class ConfirmedDuringRead:
            def __init__(self, client: PancakeClient) -> None:
                self.client = client

            def get_order(self, shop_id: str, order: str) -> PancakeOrder:
                remote = self.client.get_order(shop_id, order)  # still "new"
                sandbox.pancake.set_status(shop_id, order, 1)  # staff confirm right now
                assert sandbox.pancake.wait_idle()
                return remote

        ctx.pancake = lambda row: ConfirmedDuringRead(real(row))  # type: ignore[method-assign,assignment,return-value]
        [again] = intake(ctx, 1)
        ctx.pancake = real  # type: ignore[method-assign]

        assert again == Send(INTAKE, 1), "the order is read again, not buried as skipped"
        [purchase_line] = intake(ctx, 1)
        assert purchase_line.actor == PURCHASE
        assert [line.variation_id for line in sandbox.fulfilments(order_id)] == [NETFLIX]
    finally:
        sandbox.stop()


def _claimed(sandbox: Sandbox) -> tuple[int, Purchase]:
    """An order taken in and its line claimed (attempt committed), as a worker does first."""
    ctx = sandbox.runtime.ctx
    sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    assert sandbox.pancake.wait_idle()
    [send] = intake(ctx, 1)
    decided = _decide(ctx, send.entity_id)
    assert isinstance(decided, Purchase)
    return send.entity_id, decided


def _register_worker(sandbox: Sandbox, worker_id: str, beat_ago: float) -> None:
    ctx = sandbox.runtime.ctx
    with session_scope(ctx.engine) as session:
        session.add(
            WorkerProcess(
                id=worker_id,
                host="elsewhere",
                pid=1,
                beat_at=ctx.clock() - timedelta(seconds=beat_ago),
            )
        )


@pytest.mark.parametrize("sent", [False, True], ids=["never-sent", "sent"])
def test_a_dead_workers_purchase_is_taken_back_without_waiting_for_its_lease(
    tmp_path: Path, sent: bool
) -> None:
    """The lease is ten minutes: only the heartbeat can tell the worker is gone. A claim never
    marked sent is bought again at once; a sent one is settled, never bought blindly."""
    settings = fast_settings(
        migrated_sqlite_url(tmp_path), lease_seconds=600.0, supplier_timeout_seconds=2.0
    )
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    supplier = sandbox.suppliers["caoshop-sim"]
    try:
        ctx.worker_id = "dead-host:41:0001"
        line_id, decided = _claimed(sandbox)
        if sent:
            assert mark_sent(ctx, decided.claim)
        _register_worker(sandbox, ctx.worker_id, beat_ago=settings.heartbeat_timeout_seconds / 2)
        assert recover_dead_workers(ctx) == [], "beating recently: alive, its claim stands"
        with session_scope(ctx.engine) as session:
            row = session.get(WorkerProcess, ctx.worker_id)
            assert row is not None
            row.beat_at = ctx.clock() - timedelta(seconds=settings.heartbeat_timeout_seconds + 1)
            session.add(row)

        follow_up = recover_dead_workers(ctx)

        [line] = sandbox.fulfilments()
        with session_scope(ctx.engine) as session:
            attempt = session.get(PurchaseAttempt, decided.claim.attempt_id)
            assert attempt is not None
            outcome = attempt.outcome
            gone = session.get(WorkerProcess, ctx.worker_id)
        if sent:
            assert follow_up == [Send(SETTLE, line_id)]
            assert (line.state, outcome) == (FulfilmentState.PURCHASE_UNKNOWN, "unknown")
        else:
            assert follow_up == [Send(PURCHASE, line_id)]
            assert (line.state, outcome) == (FulfilmentState.PENDING, "not_sent")
            [bought] = purchase(ctx, line_id)
            assert bought.actor == DELIVER
            assert len(supplier.ledger) == 1
        assert gone is None, "a dead worker with nothing left to take back is forgotten"
    finally:
        sandbox.stop()


def test_a_worker_taken_for_dead_while_waiting_for_budget_sends_nothing(tmp_path: Path) -> None:
    """The owner is alive, waiting for budget, when its claim is taken back (its heartbeat
    lapsed, say the database was slow for it): the new owner buys, the old one must not."""
    settings = fast_settings(migrated_sqlite_url(tmp_path), supplier_timeout_seconds=2.0)
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    supplier = sandbox.suppliers["caoshop-sim"]
    try:
        ctx.worker_id = "slow-host:7:0002"
        line_id, decided = _claimed(sandbox)
        _register_worker(sandbox, ctx.worker_id, beat_ago=settings.heartbeat_timeout_seconds + 1)
        assert recover_dead_workers(ctx) == [Send(PURCHASE, line_id)]

        assert not mark_sent(ctx, decided.claim), "the old owner's mark finds its claim gone"
        [bought] = purchase(ctx, line_id)  # the new owner
        assert bought.actor == DELIVER
        assert len(supplier.ledger) == 1, "bought exactly once"
    finally:
        sandbox.stop()


def test_the_old_owner_stops_at_its_mark_and_buys_nothing(tmp_path: Path) -> None:
    """The whole purchase step of a worker wrongly taken for dead: its claim is taken back while
    it waits for budget, and it returns without sending."""
    settings = fast_settings(
        migrated_sqlite_url(tmp_path),
        supplier_timeout_seconds=2.0,
        supplier_rate_limit=2,
        supplier_rate_margin=1,
        supplier_rate_window_seconds=2.0,
        supplier_budget_wait_seconds=5.0,
    )
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    supplier = sandbox.suppliers["caoshop-sim"]
    try:
        ctx.worker_id = "slow-host:8:0003"
        sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        [send] = intake(ctx, 1)
        line_id = send.entity_id
        with session_scope(ctx.engine) as session:
            caoshop = session.get(Supplier, "caoshop-sim")
        assert caoshop is not None
        ctx.supplier(caoshop).balance()  # the one request the window allows: the purchase waits
        with ThreadPoolExecutor(1) as pool:
            owner = pool.submit(purchase, ctx, line_id)
            deadline = time.monotonic() + 5
            while sandbox.fulfilments()[0].state != FulfilmentState.PURCHASING:
                assert time.monotonic() < deadline, "the owner never claimed the line"
                time.sleep(0.02)
            # Its claim is committed and it waits for budget; its heartbeat has lapsed.
            _register_worker(sandbox, ctx.worker_id, settings.heartbeat_timeout_seconds + 1)
            assert recover_dead_workers(ctx) == [Send(PURCHASE, line_id)]
            assert owner.result(timeout=10) == [], "the old owner sent nothing"
        assert supplier.ledger == []
        [bought] = purchase(ctx, line_id)
        assert bought.actor == DELIVER
        assert len(supplier.ledger) == 1
    finally:
        sandbox.stop()
