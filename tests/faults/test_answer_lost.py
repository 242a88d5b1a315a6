"""Purchases whose answer is lost are settled against the supplier's order list, never re-bought.

"Order created, answer lost": the supplier commits the order, then the answer hangs past the
bridge's timeout, the connection drops mid-body, or a 5xx comes back. The bridge must find the
order in ``orders/list`` and adopt it. A 5xx *before* the commit looks the same from outside; there
the list shows nothing and the line is bought once, afterwards.
"""

from __future__ import annotations

from collections import Counter

from bridge.states import FulfilmentState
from tests.faults.conftest import MakeWorld
from tests.faults.world import CANVA, CAOSHOP, DONE, NETFLIX, SHOPKEY, FaultWorld

AFTER_COMMIT = {
    CAOSHOP: ["hang_after_commit", "drop_after_commit", "5xx_after_commit"],
    SHOPKEY: ["drop_after_commit", "5xx_after_commit", "hang_after_commit"],
}


def _settlements(world: FaultWorld, supplier: str) -> Counter[str | None]:
    return Counter(a.settlement for a in world.attempts() if a.supplier_name == supplier)


def _assert_bought_once_each(world: FaultWorld) -> None:
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    per_line = world.ledger_check().per_line
    for row in world.lines():
        assert row.state == FulfilmentState.ANNOTATED
        assert len(per_line.get(row.id or -1, [])) == 1, f"line {row.id}"


def test_answers_lost_after_commit_are_settled_by_adoption(make_world: MakeWorld) -> None:
    world = make_world()
    for name, faults in AFTER_COMMIT.items():
        simulator = world.supplier(name)
        simulator.hang_seconds = 4.0  # well past the bridge's 1 s supplier timeout
        for fault in faults:
            simulator.inject(fault)
    world.start_workers(3)

    # Same plan, same quantity, bought concurrently: adoption has to pick the right order.
    for product in (NETFLIX, CANVA):
        for _ in range(3):
            world.place_order([(product, 1)])
    for _ in range(2):
        world.place_order([(NETFLIX, 1), (CANVA, 1)])  # after the faults are used up
    world.wait_all_settled(timeout=60, states=DONE)

    _assert_bought_once_each(world)
    assert world.purchases_of(CAOSHOP) == 5
    assert world.purchases_of(SHOPKEY) == 5
    for name, faults in AFTER_COMMIT.items():
        assert _settlements(world, name)["adopted"] == len(faults), name
    for row in world.lines():
        attempts = world.attempts(row.id)
        adopted = [a for a in attempts if a.settlement == "adopted"]
        for attempt in adopted:
            assert attempt.trans_id == row.trans_id, f"line {row.id} adopted another order"
        # Never a second orders/create for a line whose first order was adopted.
        assert len(attempts) == 1, f"line {row.id}: {[(a.outcome, a.settlement) for a in attempts]}"


def test_a_5xx_before_commit_is_settled_not_found_then_bought_once(
    make_world: MakeWorld,
) -> None:
    world = make_world()
    world.supplier(CAOSHOP).inject("5xx_before_commit")
    world.supplier(SHOPKEY).inject("5xx_before_commit")
    world.start_workers(3)

    world.place_order([(NETFLIX, 2)])
    world.place_order([(CANVA, 1)])
    world.wait_all_settled(timeout=60, states=DONE)

    _assert_bought_once_each(world)
    assert world.purchases_of(CAOSHOP) == 1
    assert world.purchases_of(SHOPKEY) == 1
    for row in world.lines():
        first, *later = world.attempts(row.id)
        assert first.settlement == "not_found", f"line {row.id}"
        assert first.trans_id is None
        assert [a.trans_id for a in later] == [row.trans_id]
