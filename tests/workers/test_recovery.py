"""The database, not the queue, guarantees progress: lost messages and dead workers lose nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from bridge.db import session_scope
from bridge.models import AttemptOutcome, FulfilmentState, PurchaseAttempt
from bridge.sandbox import Sandbox
from tests.conftest import Backend, fast_settings
from tests.e2e.world import NETFLIX, all_credentials, build_world
from workers.dispatch import PURCHASE
from workers.intake import intake
from workers.purchase import _claim, purchase
from workers.sweep import sweep


def test_messages_lost_before_any_worker_ran_are_resent_by_the_sweep(backend: Backend) -> None:
    sandbox = build_world(backend.sandbox(lease_seconds=1.0)).start(workers=False)
    try:
        order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        sandbox.runtime.broker.flush_all()  # the intake message is gone, as after a crash

        sandbox.runtime.start_workers()
        [line] = sandbox.wait_settled(order_id, lines=1, timeout=20)

        assert line.state == FulfilmentState.ANNOTATED
        assert len(sandbox.suppliers["caoshop-sim"].ledger) == 1
        [credential] = all_credentials(sandbox)
        assert sandbox.note(order_id).count(credential) == 1
    finally:
        sandbox.stop()


def test_a_worker_that_died_mid_purchase_leaves_the_line_parked(
    tmp_path: Path,
) -> None:
    settings = fast_settings(f"sqlite:///{tmp_path / 'bridge.db'}", lease_seconds=5.0)
    sandbox = build_world(Sandbox(settings)).start(workers=False)
    ctx = sandbox.runtime.ctx
    try:
        sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        # Run intake by hand, then do what a worker does up to sending orders/create: claim the
        # line and commit its attempt. The worker then "dies": the answer is never recorded.
        [send] = intake(ctx, 1)
        assert send.actor == PURCHASE
        supplier = sandbox.suppliers["caoshop-sim"]
        claimed = _claim(ctx, send.entity_id)
        assert claimed is not None
        _, _, attempt_id = claimed

        assert sweep(ctx) == [], "the lease has not expired yet: nothing to do"
        later = ctx.clock() + timedelta(seconds=6)
        ctx.clock = lambda: later
        sends = sweep(ctx)

        assert sends == []
        [row] = sandbox.fulfilments()
        assert row.state == FulfilmentState.PURCHASE_UNKNOWN
        with session_scope(sandbox.runtime.engine) as session:
            attempt = session.get(PurchaseAttempt, attempt_id)
            assert attempt is not None
            assert attempt.outcome == AttemptOutcome.UNKNOWN
        # Even a stray duplicate of the purchase message buys nothing now.
        assert purchase(ctx, send.entity_id) == []
        assert supplier.ledger == []
        with session_scope(sandbox.runtime.engine) as session:
            assert len(session.exec(select(PurchaseAttempt)).all()) == 1
    finally:
        sandbox.stop()
