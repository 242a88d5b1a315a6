"""Which listed orders a purchase whose answer was lost bought, and how a split reads as one:
decided by content, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.supplier.adoption import (
    Adopt,
    Candidate,
    NothingBought,
    Owner,
    Sibling,
    Siblings,
    Undecided,
    decide,
    decide_named,
    siblings_of,
)
from bridge.supplier.schemas import CreatedOrder, ListedOrder, OrderItem, OrderStatus
from bridge.supplier.split import answered_split, combined_status

T0 = datetime(2026, 12, 7, 5, 0, 0, tzinfo=UTC)


def listed(trans_id: str, quantity: int = 1, seconds: float = 0, plan_id: int = 319) -> ListedOrder:
    return ListedOrder(
        trans_id=trans_id,
        plan_id=plan_id,
        quantity=quantity,
        status="completed",
        created_at=T0 + timedelta(seconds=seconds),
    )


def ours(order: ListedOrder) -> Candidate:
    return Candidate(order, "1", "api")


@pytest.mark.parametrize(
    ("candidate", "own_user", "owner"),
    [
        (Candidate(listed("A"), "1", "api"), "1", Owner.OURS),
        (Candidate(listed("A"), "2", "api"), "1", Owner.FOREIGN),
        (Candidate(listed("A"), "1", "web"), "1", Owner.FOREIGN),
        (Candidate(listed("A"), None, "web"), None, Owner.FOREIGN),
        (Candidate(listed("A"), "1", "api"), None, Owner.UNPROVEN),
        (Candidate(listed("A"), None, None), None, Owner.OURS),  # the short dialect says nothing
        (Candidate(listed("A"), "1", " API "), "1", Owner.OURS),
    ],
)
def test_whose_an_order_is_reads_only_what_the_supplier_shows(
    candidate: Candidate, own_user: str | None, owner: Owner
) -> None:
    assert candidate.owner(own_user) == owner


def test_the_one_order_of_the_quantity_is_adopted() -> None:
    mine = listed("A", 2)
    assert decide([ours(mine)], "1", 2) == Adopt((mine,))


def test_no_candidate_means_nothing_was_bought() -> None:
    assert decide([], "1", 1) == NothingBought()
    strangers = [Candidate(listed("W"), "1", "web"), Candidate(listed("F"), "2", "api")]
    assert decide(strangers, "1", 1) == NothingBought()


def test_two_candidates_are_never_guessed_between() -> None:
    decision = decide([ours(listed("A")), ours(listed("B", seconds=1))], "1", 1)
    assert isinstance(decision, Undecided)
    assert "A" in decision.reason
    assert "B" in decision.reason


def test_an_order_that_cannot_be_proven_ours_stops_the_line() -> None:
    """The key's own user is not known, and the order names one: it may be another's."""
    decision = decide([Candidate(listed("A"), "2", "api")], None, 1)
    assert isinstance(decision, Undecided)


def test_the_parts_of_a_split_placed_together_are_adopted_oldest_first() -> None:
    parts = [listed("B", 1, seconds=1), listed("A", 2, seconds=0)]
    assert decide([ours(p) for p in parts], "1", 3) == Adopt((parts[1], parts[0]))


@pytest.mark.parametrize(
    "orders",
    [
        [listed("A", 1), listed("B", 1)],  # two units, three bought
        [listed("A", 1), listed("B", 1, seconds=300), listed("C", 1, seconds=301)],  # not together
        [listed("A", 3), listed("B", 1), listed("C", 2)],  # the whole, or a split: which?
    ],
    ids=["short", "apart", "whole-or-split"],
)
def test_parts_that_do_not_make_up_the_item_are_not_adopted(orders: list[ListedOrder]) -> None:
    assert isinstance(decide([ours(o) for o in orders], "1", 3), Undecided)


def test_an_order_that_fits_no_reading_is_another_purchases() -> None:
    """One order of the quantity bought, and a smaller one that makes up nothing: the latter is
    some other purchase's (lost alongside, say), and the reading is the whole order."""
    whole = listed("A", 3)
    assert decide([ours(whole), ours(listed("B", 1))], "1", 3) == Adopt((whole,))
    assert isinstance(decide([ours(listed("B", 1))], "1", 3), Undecided), "none makes it up"


def test_purchases_lost_together_pair_with_as_many_orders_by_rank() -> None:
    """Alike purchases (same plan, quantity, fields) lost together: the first sent takes the
    oldest order. Another count, or goods that differ, are not paired."""
    orders = [listed("B", seconds=1), listed("A")]
    candidates = [ours(o) for o in orders]
    assert decide(candidates, "1", 1, Siblings(2, 0)) == Adopt((orders[1],))
    assert decide(candidates, "1", 1, Siblings(2, 1)) == Adopt((orders[0],))
    assert isinstance(decide(candidates, "1", 1, Siblings(3, 0)), Undecided), "one is missing"
    assert isinstance(decide(candidates, "1", 1, Siblings(2, 0, alike=False)), Undecided)
    assert decide([], "1", 1, Siblings(2, 1)) == NothingBought()


def test_the_fields_an_order_shows_tell_purchases_apart() -> None:
    """Where the supplier shows each order's fields, only those bought with ours can be ours;
    siblings with other fields then do not compete for them."""
    mine = Candidate(listed("A"), "1", "api", {"email": "an@example.com"})
    theirs = Candidate(listed("B"), "1", "api", {"email": "binh@example.com"})
    assert decide([mine, theirs], "1", 1, fields={"email": "an@example.com"}) == Adopt(
        (mine.order,)
    )
    now = listed("A").created_at
    assert now is not None
    alongside = [
        Sibling(1, now, {"email": "an@example.com"}),
        Sibling(2, now, {"email": "binh@example.com"}),
    ]
    told_apart = siblings_of(alongside, 2, {"email": "binh@example.com"}, [mine, theirs])
    assert (told_apart.count, told_apart.rank, told_apart.alike) == (1, 0, True)
    # Not shown (the short dialect): the two compete, and their goods differ.
    blind = [ours(listed("A")), ours(listed("B"))]
    unshown = siblings_of(alongside, 2, {"email": "binh@example.com"}, blind)
    assert (unshown.count, unshown.rank, unshown.alike) == (2, 1, False)


def test_orders_a_create_answer_named_are_adopted_when_the_list_shows_they_make_up_the_item() -> (
    None
):
    parts = [listed("A", 2), listed("B", 1)]
    assert decide_named(parts, [], 319, 3) == Adopt(tuple(parts))
    assert decide_named([listed("A", 3)], [], 319, 3) == Adopt((listed("A", 3),))
    # Never bought again: a missing order, or one of another plan or quantity, goes to a person.
    assert isinstance(decide_named(parts[:1], ["B"], 319, 3), Undecided)
    assert isinstance(
        decide_named([listed("A", 2), listed("B", 1, plan_id=7)], [], 319, 3), Undecided
    )
    assert isinstance(decide_named(parts, [], 319, 4), Undecided)


def created(trans_id: str, quantity: int | None, plan_id: int | None = 319) -> CreatedOrder:
    return CreatedOrder(trans_id=trans_id, status="completed", quantity=quantity, plan_id=plan_id)


def test_a_create_answer_pairs_its_orders_with_the_item_only_by_content() -> None:
    item = OrderItem(plan_id=319, quantity=3)
    assert answered_split([created("A", 1), created("B", 2)], item)
    assert answered_split([created("A", 1, None), created("B", 2, None)], item)
    assert not answered_split([created("A", 1), created("B", 1)], item), "short of the item"
    assert not answered_split([created("A", None), created("B", None)], item), "docs' shape"
    assert not answered_split([created("A", 1), created("B", 2, 320)], item), "another plan"
    assert not answered_split([created("A", 1), created("A", 2)], item), "one order twice"


def status(trans_id: str, state: str, items: list[str], quantity: int = 1) -> OrderStatus:
    return OrderStatus.model_validate(
        {
            "order": {"trans_id": trans_id, "status": state, "quantity": quantity, "plan_id": 319},
            "delivery": {"items": items, "expected_count": quantity},
        }
    )


def test_a_lines_orders_read_as_one_hand_over_their_units_only_together() -> None:
    done = status("A", "completed", ["a1"])
    waiting = status("B", "pending", [])
    half = combined_status([done, waiting], "A", 319)
    assert (half.status, half.items, half.delivered_count) == ("pending", [], 0)
    assert (half.trans_id, half.quantity, half.expected_count) == ("A", 2, 2)

    whole = combined_status([done, status("B", "completed", ["b1", "b2"], 2)], "A", 319)
    assert (whole.status, whole.items, whole.delivered_count) == (
        "completed",
        ["a1", "b1", "b2"],
        3,
    )
    assert whole.quantity == 3


def test_a_part_taken_back_or_of_another_plan_shows_in_the_whole() -> None:
    taken_back = combined_status(
        [status("A", "completed", ["a1"]), status("B", "refunded", [])], "A", 319
    )
    assert taken_back.status == "refunded"
    other = status("B", "completed", ["b1"]).model_copy(update={"plan_id": 7})
    assert combined_status([status("A", "completed", ["a1"]), other], "A", 319).plan_id == 7
