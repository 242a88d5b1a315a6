"""Purchases whose answer is lost are settled against the supplier's order list, never re-bought.

"Order created, answer lost": the supplier commits the order, then the answer hangs past the
bridge's timeout, the connection drops mid-body, or a 5xx comes back. The bridge must find the
order in ``orders/list`` and adopt it. A 5xx *before* the commit looks the same from outside; there
the list shows nothing and the line is bought once, afterwards.
"""

from __future__ import annotations

from collections import Counter

from bridge.states import AttemptOutcome, FulfilmentState
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

    # Same plan, same quantity, bought concurrently: their answers lost together, the purchases
    # pair with the orders one to one (alike goods), and none is bought again.
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
        # Never a second orders/create for a line whose first order was adopted (an attempt
        # never sent, e.g. while the supplier's share of the workers was busy, is none).
        sent = [a for a in attempts if a.outcome != AttemptOutcome.NOT_SENT]
        assert len(sent) == 1, f"line {row.id}: {[(a.outcome, a.settlement) for a in attempts]}"


def test_a_lost_answer_beside_an_order_it_cannot_tell_apart_goes_to_a_person(
    make_world: MakeWorld,
) -> None:
    """The key's own user bought the plan through the API outside the bridge a moment before a
    purchase loses its answer: two orders, one purchase. Neither is guessed, nothing is bought
    again, and the ledger counts no double purchase: the line names both orders for the person
    who decides."""
    world = make_world()
    simulator = world.supplier(CAOSHOP)
    world.buy_outside(NETFLIX)
    simulator.inject("drop_after_commit")
    world.start_workers(2)

    world.place_order([(NETFLIX, 1)])
    [line] = world.wait_all_settled(timeout=60)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert world.purchases_of(CAOSHOP) == 2, "nothing bought again"
    assert all(p.trans_id in (line.reason or "") for p in simulator.ledger)
    [attempt] = world.attempts(line.id)
    assert (attempt.settlement, attempt.trans_id) == ("ambiguous", None)
    check = world.ledger_check()
    assert (check.double_purchases, len(check.awaiting)) == (0, 1), check.problems()
    assert world.lost_lines() == []


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
        sent = [a for a in world.attempts(row.id) if a.outcome != AttemptOutcome.NOT_SENT]
        first, *later = sent
        assert first.settlement == "not_found", f"line {row.id}"
        assert first.trans_id is None
        assert [a.trans_id for a in later] == [row.trans_id]
