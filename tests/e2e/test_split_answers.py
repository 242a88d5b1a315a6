"""One item of quantity N answered as several supplier orders (a quantity split): all of them are
the line's, bought once, and handed over together.

The docs pair nothing with anything. The real server's answer names each order's plan and
quantity, which pairs them with the item at once; an answer shaped like the docs' samples names
neither, and the line is settled from the order list instead, never bought again before that. A
split whose answer was lost altogether is found in the list too.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import Purchase, SupplierSimulator
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from tests.e2e.world import CANVA, CAOSHOP, CHATGPT, NETFLIX, SHOPKEY, lose_next_answer


def attempts(sandbox: Sandbox) -> list[PurchaseAttempt]:
    with session_scope(sandbox.runtime.engine) as session:
        return list(session.exec(select(PurchaseAttempt).order_by(col(PurchaseAttempt.id))))


def buy(sandbox: Sandbox, variation: str, quantity: int, **order: object) -> Fulfilment:
    order_id = sandbox.place_order([{"variation_id": variation, "quantity": quantity}], **order)
    [line] = sandbox.wait_settled(order_id, lines=1, timeout=30, final=True)
    return line


def assert_whole(sandbox: Sandbox, simulator: SupplierSimulator, line: Fulfilment) -> None:
    """The supplier's ledger holds the line's orders and nothing else, together its quantity;
    the bridge holds each once, for this line; the note has every unit."""
    ledger = simulator.ledger
    assert len(ledger) > 1, "the supplier split the item"
    assert sum(p.quantity for p in ledger) == line.supplier_quantity, "nothing bought twice"
    held = Counter(a.trans_id for a in attempts(sandbox) if a.trans_id)
    assert held == Counter(p.trans_id for p in ledger), "each order held once"
    assert all(a.fulfilment_id == line.id for a in attempts(sandbox))
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    assert line.trans_id == ledger[0].trans_id
    note = sandbox.note(line.order_id)
    units = [item for p in ledger for item in p.items]
    assert len(units) == line.supplier_quantity
    assert all(note.count(item) == 1 for item in units)


@pytest.mark.parametrize(
    ("variation", "name", "real_server"),
    [(NETFLIX, CAOSHOP, True), (NETFLIX, CAOSHOP, False), (CANVA, SHOPKEY, False)],
    ids=["real-server", "docs-full", "docs-short"],
)
def test_an_item_answered_as_several_orders_is_adopted_whole_and_delivered_together(
    sqlite_world: Sandbox, variation: str, name: str, real_server: bool
) -> None:
    simulator = sqlite_world.suppliers[name]
    simulator.switch(quantity_split=[1], real_server=real_server)

    line = buy(sqlite_world, variation, 3)

    assert_whole(sqlite_world, simulator, line)
    assert [p.quantity for p in simulator.ledger] == [1, 1, 1]
    first, *parts = attempts(sqlite_world)
    assert all(part.part_of == first.id for part in parts)
    assert [a.outcome for a in attempts(sqlite_world)] == [AttemptOutcome.BOUGHT] * 3
    # The real server's answer pairs the orders with the item by itself; the docs' shape does
    # not, and the order list settles it.
    assert first.settlement == (None if real_server else "adopted")


@pytest.mark.parametrize(
    ("variation", "name", "sizes"),
    [(NETFLIX, CAOSHOP, [2, 1]), (CANVA, SHOPKEY, [1])],
    ids=["full", "short"],
)
def test_a_split_whose_answer_was_lost_is_found_whole_in_the_list(
    sqlite_world: Sandbox, variation: str, name: str, sizes: list[int]
) -> None:
    simulator = sqlite_world.suppliers[name]
    simulator.switch(quantity_split=sizes, real_server=name == CAOSHOP)
    lose_next_answer(simulator)

    line = buy(sqlite_world, variation, 3)

    assert_whole(sqlite_world, simulator, line)
    assert [a.settlement for a in attempts(sqlite_world)] == ["adopted"] * len(simulator.ledger)


def status_reads(simulator: SupplierSimulator) -> int:
    return sum(1 for _, path in simulator.calls if path.endswith("/orders/status"))


def test_the_orders_of_a_manual_split_are_handed_over_only_together(sqlite_world: Sandbox) -> None:
    """A plan fulfilled by hand: the supplier completes one order of the split, then the other.
    The customer gets both units at once, never half the line."""
    simulator = sqlite_world.suppliers[CAOSHOP]
    simulator.switch(quantity_split=[1], real_server=True)
    order_id = sqlite_world.place_order(
        [{"variation_id": CHATGPT, "quantity": 2}], bill_email="khach@example.com"
    )
    sqlite_world.wait_for(lambda: len(simulator.ledger) == 2, what="the split purchase")
    first, second = simulator.ledger
    sqlite_world.wait_for(lambda: status_reads(simulator) >= 2, what="the first poll")

    simulator.complete_pending(first.trans_id)
    seen = status_reads(simulator)
    sqlite_world.wait_for(lambda: status_reads(simulator) >= seen + 4, what="two more polls")
    [line] = sqlite_world.fulfilments(order_id)
    assert line.state == FulfilmentState.PURCHASED
    assert not any(item in sqlite_world.note(order_id) for item in _items(simulator, first))

    simulator.complete_pending(second.trans_id)
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=30, final=True)

    assert_whole(sqlite_world, simulator, line)


def _items(simulator: SupplierSimulator, purchase: Purchase) -> list[str]:
    [now] = [p for p in simulator.ledger if p.trans_id == purchase.trans_id]
    return now.items
