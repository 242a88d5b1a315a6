"""Orders that Pancake shows cancelled, and orders staff moved past "confirmed": the supplier's
ledger and the Pancake note say what happened, not the bridge's own account."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.pancake.vocabulary import OrderStatus
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, build_world
from workers.alerts.models import Alert
from workers.fulfilment.cancel import ALERT_KIND
from workers.fulfilment.purchase import purchase


def pause(sandbox: Sandbox, supplier: str, *, paused: bool) -> None:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Supplier, supplier)
        assert row is not None
        row.paused_until = utcnow() + timedelta(hours=1) if paused else None
        session.add(row)


def alerts(sandbox: Sandbox, kind: str = ALERT_KIND) -> list[Alert]:
    """The alerts of one kind (a supplier paused on purpose, a parked line, are others)."""
    with session_scope(sandbox.runtime.engine) as session:
        return list(session.exec(select(Alert).where(Alert.kind == kind)))


def test_lines_still_waiting_are_cancelled_with_the_order_and_never_bought(
    sqlite_world: Sandbox,
) -> None:
    pause(sqlite_world, CAOSHOP, paused=True)  # every line waits for the supplier
    order_id = sqlite_world.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": NETFLIX, "quantity": 2}]
    )
    sqlite_world.wait_for(
        lambda: len(sqlite_world.fulfilments(order_id)) == 2, what="the lines to be created"
    )

    sqlite_world.pancake.set_status(sqlite_world.shop_id, order_id, OrderStatus.CANCELLED)
    lines = sqlite_world.wait_settled(order_id, lines=2, final=True)
    assert {line.state for line in lines} == {FulfilmentState.CANCELLED}

    # The supplier comes back and the delayed purchase messages arrive: nothing is bought.
    pause(sqlite_world, CAOSHOP, paused=False)
    for line in lines:
        assert line.id is not None
        assert purchase(sqlite_world.runtime.ctx, line.id) == []
    assert sqlite_world.suppliers[CAOSHOP].ledger == []
    assert "pancake-bridge" not in sqlite_world.note(order_id)
    assert alerts(sqlite_world) == [], "nothing was bought, nothing to alert about"


def test_an_order_cancelled_after_its_purchase_alerts_and_gets_no_note(
    sqlite_world: Sandbox,
) -> None:
    supplier = sqlite_world.suppliers[CAOSHOP]
    order_id = sqlite_world.place_order(
        [{"variation_id": CHATGPT, "quantity": 1}], bill_email="khach@example.com"
    )
    sqlite_world.wait_for(
        lambda: any(line.trans_id for line in sqlite_world.fulfilments(order_id)),
        what="the manual plan to be bought",
    )
    [purchase_made] = supplier.ledger

    sqlite_world.pancake.set_status(sqlite_world.shop_id, order_id, OrderStatus.DELETED)
    sqlite_world.wait_for(lambda: bool(alerts(sqlite_world)), what="the alert")
    [alert] = alerts(sqlite_world)
    assert purchase_made.trans_id in alert.message
    assert "cancelled" in alert.message

    supplier.complete_pending()  # the supplier delivers anyway: nothing goes into a deleted order
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert "cancelled in Pancake" in (line.reason or "")
    assert "pancake-bridge" not in sqlite_world.note(order_id)
    assert len(supplier.ledger) == 1


def test_an_order_first_seen_past_confirmed_is_fulfilled(sqlite_world: Sandbox) -> None:
    order_id = sqlite_world.pancake.create_order(
        sqlite_world.shop_id, items=[{"variation_id": NETFLIX, "quantity": 1}], status=0
    )
    sqlite_world.pancake.set_status(sqlite_world.shop_id, order_id, OrderStatus.PACKING)

    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    [bought] = sqlite_world.suppliers[CAOSHOP].ledger
    assert bought.items[0] in sqlite_world.note(order_id)


def test_a_line_that_waited_reads_its_order_again_before_buying(tmp_path: Path) -> None:
    """Cancelled while the line waited, and no webhook said so: the purchase looks first."""
    settings = fast_settings(
        migrated_sqlite_url(tmp_path),
        order_reread_seconds=0.0,  # every purchase counts as having waited
        catchup_interval_seconds=3600.0,  # the catch-up would find the cancellation too
    )
    world = build_world(Sandbox(settings)).start()
    try:
        pause(world, CAOSHOP, paused=True)
        order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        # The worker's own purchase has concluded that it must wait (else it could read the
        # order before the cancellation and decide after the pause is lifted below).
        world.wait_for(
            lambda: any(
                "paused" in (line.last_error or "") for line in world.fulfilments(order_id)
            ),
            what="the line to wait for the paused supplier",
        )
        world.pancake.send_webhooks = False
        world.pancake.set_status(world.shop_id, order_id, OrderStatus.CANCELLED)
        pause(world, CAOSHOP, paused=False)

        [line] = world.fulfilments(order_id)
        assert line.id is not None
        assert purchase(world.runtime.ctx, line.id) == []
        [line] = world.fulfilments(order_id)
        assert line.state == FulfilmentState.CANCELLED
        assert world.suppliers[CAOSHOP].ledger == []
    finally:
        world.stop()
