"""Fallbacks, refusals everywhere, partial deliveries, one line per purchase, operator re-drives."""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import MultiItem
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from tests.conftest import migrated_sqlite_url
from tests.e2e.world import (
    CAOSHOP,
    CHATGPT,
    NETFLIX,
    SHOPKEY,
    SPOTIFY,
    all_credentials,
    second_choice,
)
from workers.alerts.models import Alert
from workers.fulfilment.notes import begin_marker, delay_marker, end_marker
from workers.fulfilment.redrive import resend_line, retry_line


def test_out_of_stock_on_the_first_choice_is_served_by_the_second(sqlite_world: Sandbox) -> None:
    second_choice(sqlite_world, NETFLIX, SHOPKEY, 77)
    sqlite_world.suppliers[CAOSHOP].set_stock(319, 0)

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert (line.supplier_name, line.plan_id) == (SHOPKEY, 77)
    assert sqlite_world.suppliers[CAOSHOP].ledger == []
    assert len(sqlite_world.suppliers[SHOPKEY].ledger) == 1


def test_insufficient_balance_everywhere_needs_attention_then_retry_after_top_up(
    sqlite_world: Sandbox,
) -> None:
    second_choice(sqlite_world, NETFLIX, SHOPKEY, 77)
    for simulator in sqlite_world.suppliers.values():
        simulator.set_balance(0)

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    assert line.id is not None
    sqlite_world.wait_for(lambda: delay_marker(line.id or 0) in sqlite_world.note(order_id))
    time.sleep(1.5)  # several sweeps: the delay line is still written only once

    [line] = sqlite_world.fulfilments(order_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert "INSUFFICIENT_BALANCE" in (line.reason or "")
    assert sqlite_world.note(order_id).count(delay_marker(line.id or 0)) == 1
    assert CAOSHOP not in sqlite_world.note(order_id), "the customer sees no supplier names"
    expected = {
        ("insufficient_balance", CAOSHOP),
        ("insufficient_balance", SHOPKEY),
        ("needs_attention", str(line.id)),  # raised by the next sweep after the line parked
    }

    def alerts() -> set[tuple[str, str]]:
        with session_scope(sqlite_world.runtime.engine) as session:
            return {(a.kind, a.subject) for a in session.exec(select(Alert))}

    sqlite_world.wait_for(lambda: alerts() == expected, what=f"the alerts {expected}")

    sqlite_world.suppliers[CAOSHOP].set_balance(1_000_000)
    engine = sqlite_world.runtime.engine
    first = retry_line(engine, line.id or 0, utcnow())
    second = retry_line(engine, line.id or 0, utcnow())
    assert (first.state, first.changed) == (FulfilmentState.PENDING, True), "pending again"
    assert not second.changed, "nothing to retry"

    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    assert len(sqlite_world.suppliers[CAOSHOP].ledger) == 1
    assert sqlite_world.suppliers[SHOPKEY].ledger == []
    note = sqlite_world.note(order_id)
    assert delay_marker(line.id or 0) not in note, "the credentials replace the delay notice"
    assert note.count(all_credentials(sqlite_world)[0]) == 1


def test_a_partial_delivery_is_written_and_the_rest_follows(world: Sandbox) -> None:
    order_id = world.place_order(
        [{"variation_id": CHATGPT, "quantity": 3}], bill_email="buyer@example.com"
    )
    supplier = world.suppliers[CAOSHOP]
    world.wait_for(lambda: len(supplier.ledger) == 1, what="the purchase")
    trans_id = supplier.ledger[0].trans_id

    supplier.deliver_partial(trans_id, 1)
    world.wait_for(
        lambda: (
            world.fulfilments(order_id)[0].state == FulfilmentState.PARTIAL
            and bool(supplier.ledger[0].items[0] in world.note(order_id))
        ),
        what="the partial delivery in the note",
    )
    [line] = world.fulfilments(order_id)
    assert line.delivered_count == 1

    supplier.complete_pending(trans_id)
    [line] = world.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    credentials = supplier.ledger[0].items
    assert len(credentials) == 3
    note = world.note(order_id)
    for credential in credentials:
        assert note.count(credential) == 1
    assert len(supplier.ledger) == 1


@pytest.mark.parametrize("multi_item", ["in_order", "reversed", "merged", "partial"])
def test_each_line_is_bought_alone_and_gets_its_own_credentials(
    world: Sandbox, multi_item: MultiItem
) -> None:
    """However a supplier answers a multi-item orders/create (the docs show only one item), each
    line is bought by its own call, exactly once, and its note block holds that order's units."""
    supplier = world.suppliers[CAOSHOP]
    supplier.multi_item = multi_item
    order_id = world.place_order(
        [
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 2},
            {"variation_id": NETFLIX, "quantity": 1},
        ]
    )
    world.wait_settled(order_id, lines=3, final=True)

    creates = [call for call in supplier.calls if call == ("POST", "/api/v1/orders/create")]
    assert len(creates) == 3
    assert sorted((p.plan_id, p.quantity) for p in supplier.ledger) == [
        (319, 1),
        (319, 1),
        (331, 4),
    ]
    orders = {p.trans_id: p for p in supplier.ledger}
    note = world.note(order_id)
    for line in world.fulfilments(order_id):
        assert line.state == FulfilmentState.ANNOTATED
        assert line.id is not None
        assert line.trans_id is not None
        bought = orders[line.trans_id]
        assert (bought.plan_id, bought.quantity) == (line.plan_id, line.supplier_quantity)
        block = note.split(begin_marker(line.id))[1].split(end_marker(line.id))[0]
        assert [item for item in bought.items if item in block] == bought.items
        others = [i for p in orders.values() if p.trans_id != line.trans_id for i in p.items]
        assert not [item for item in others if item in block], "another line's credentials"


def test_a_failing_supplier_is_paused_and_lines_move_to_the_next_choice(tmp_path: object) -> None:
    from pathlib import Path

    from tests.conftest import fast_settings
    from tests.e2e.world import build_world

    assert isinstance(tmp_path, Path)
    settings = fast_settings(
        migrated_sqlite_url(tmp_path), breaker_threshold=2, breaker_pause_seconds=60.0
    )
    sandbox = build_world(Sandbox(settings)).start()
    try:
        second_choice(sandbox, NETFLIX, SHOPKEY, 77)
        with session_scope(sandbox.runtime.engine) as session:
            caoshop = session.get(Supplier, CAOSHOP)
            assert caoshop is not None
            caoshop.base_url = "http://127.0.0.1:9/api/v1"  # nothing listens there: unreachable
            session.add(caoshop)

        order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        [line] = sandbox.wait_settled(order_id, lines=1, final=True, timeout=30)

        assert line.state == FulfilmentState.ANNOTATED
        assert line.supplier_name == SHOPKEY
        with session_scope(sandbox.runtime.engine) as session:
            caoshop = session.get(Supplier, CAOSHOP)
            assert caoshop is not None
            assert caoshop.paused_until is not None
            assert caoshop.paused_until > utcnow()
            assert caoshop.failure_streak >= 2
    finally:
        sandbox.stop()


def test_resend_rewrites_a_missing_block_once(sqlite_world: Sandbox) -> None:
    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 2}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    credentials = all_credentials(sqlite_world)
    # Staff wipe the note by accident.
    pancake = sqlite_world.runtime.ctx.pancake
    from bridge.db import session_scope as scope
    from bridge.pancake.models import PancakeShop

    with scope(sqlite_world.runtime.engine) as session:
        shop = session.get(PancakeShop, sqlite_world.shop_id)
        assert shop is not None
        pancake(shop).update_order(sqlite_world.shop_id, order_id, {"note": "ghi chú mới"})

    engine = sqlite_world.runtime.engine
    first = resend_line(engine, line.id or 0, utcnow())
    second = resend_line(engine, line.id or 0, utcnow())
    assert first.changed
    assert second.changed
    assert second.state == FulfilmentState.DELIVERED, "every credential is stored: write them"
    sqlite_world.wait_for(
        lambda: all(c in sqlite_world.note(order_id) for c in credentials), what="the resent block"
    )
    time.sleep(1.0)

    note = sqlite_world.note(order_id)
    assert note.startswith("ghi chú mới")
    for credential in credentials:
        assert note.count(credential) == 1
    [line] = sqlite_world.fulfilments(order_id)
    assert line.state == FulfilmentState.ANNOTATED
    assert len(sqlite_world.suppliers[CAOSHOP].ledger) == 1
