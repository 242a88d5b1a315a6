"""fulfilment.settle, called directly: an unknown purchase is decided from the supplier's own
order list, adopted when it is there and bought again (once) when it is not.

At the production schedule (``patient``) settlement looks early, adopts an order as soon as a look
proves it the line's, and concludes anything else (bought again, or a person) only at the window.
"""

from __future__ import annotations

import math
import threading

import pytest
from sqlalchemy import text
from sqlmodel import Session

from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState, Settlement
from tests.e2e.world import NETFLIX
from tests.faults.waiting import wait_until
from tests.workers.fulfilment.conftest import Desk, DeskFactory
from workers.fulfilment import settle as settling
from workers.fulfilment.deliver import deliver
from workers.fulfilment.purchase import purchase
from workers.fulfilment.settle import settle
from workers.queue.dispatch import ANNOTATE, DELIVER, PURCHASE, SETTLE, Send

WINDOW = 60.0
# The production schedule's waits from the send: looks at 2, 4, 8, 16 and 32 s, then 60 s.
WAITS = [2.0, 2.0, 4.0, 8.0, 16.0, 28.0]


def parked(desk: Desk, fault: str) -> tuple[int, int]:
    """A Netflix line whose orders/create met ``fault``: (order pk, line id), parked."""
    desk.caoshop.inject(fault)
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids
    [follow_up] = purchase(desk.ctx, line_id)
    assert follow_up.actor == SETTLE
    assert desk.line(line_id).state == FulfilmentState.PURCHASE_UNKNOWN
    return taken.order_pk, line_id


@pytest.fixture
def patient(open_desk: DeskFactory) -> Desk:
    """The production schedule (first look 2 s after the send, window 60 s), clock frozen."""
    desk = open_desk(settle_delay_seconds=WINDOW, settle_first_look_seconds=2.0)
    desk.clock.freeze()
    return desk


def lost(desk: Desk, faults: list[str], quantities: list[int]) -> list[tuple[int, Send]]:
    """One order of Netflix lines of ``quantities``, bought one after the other, each create
    meeting its fault: each line's id and the settle that waits for its first look."""
    for fault in faults:
        desk.caoshop.inject(fault)
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": q} for q in quantities])
    for line_id in taken.line_ids:
        assert purchase(desk.ctx, line_id) == [Send(SETTLE, line_id)], "settlement asked at once"
        assert desk.line(line_id).state == FulfilmentState.PURCHASE_UNKNOWN
    # Settlement keeps its schedule from the send: the first look is 2 s after it.
    first_looks = [(line_id, settle(desk.ctx, line_id)) for line_id in taken.line_ids]
    assert desk.supplier_calls(desk.caoshop, "/orders/list") == 0
    assert all(sends == [Send(SETTLE, line_id, 2.0)] for line_id, sends in first_looks)
    return [(line_id, sends[0]) for line_id, sends in first_looks]


def looked(desk: Desk, line_id: int, follow_up: Send) -> list[Send]:
    """Wait as the settle asked, then settle."""
    assert (follow_up.actor, follow_up.entity_id) == (SETTLE, line_id)
    desk.clock.advance(follow_up.delay_seconds)
    return settle(desk.ctx, line_id)


def test_an_early_look_adopts_an_order_the_supplier_already_lists(patient: Desk) -> None:
    [(line_id, first)] = lost(patient, ["5xx_after_commit"], [1])
    [committed] = patient.caoshop.ledger

    assert looked(patient, line_id, first) == [Send(DELIVER, line_id)]

    assert patient.caoshop.ledger == [committed], "nothing bought again"
    assert patient.supplier_calls(patient.caoshop, "/orders/list") == 1
    assert patient.line(line_id).trans_id == committed.trans_id
    [attempt] = patient.attempts(line_id)
    assert (attempt.settlement, attempt.trans_id) == (Settlement.ADOPTED, committed.trans_id)


def test_nothing_found_is_looked_for_until_the_window_and_only_then_bought_again(
    patient: Desk,
) -> None:
    [(line_id, follow_up)] = lost(patient, ["5xx_before_commit"], [1])
    waits = []
    while follow_up.actor == SETTLE:
        waits.append(follow_up.delay_seconds)
        [follow_up] = looked(patient, line_id, follow_up)
        if follow_up.actor == SETTLE:
            assert patient.line(line_id).state == FulfilmentState.PURCHASE_UNKNOWN
            assert patient.supplier_calls(patient.caoshop, "/orders/create") == 1

    assert waits == pytest.approx(WAITS)
    assert follow_up == Send(PURCHASE, line_id), "bought again only at the window"
    assert patient.supplier_calls(patient.caoshop, "/orders/list") == len(WAITS)
    [attempt] = patient.attempts(line_id)
    assert attempt.settlement == Settlement.NOT_FOUND
    assert patient.caoshop.ledger == []


def test_an_order_the_supplier_lists_late_is_adopted_by_the_look_that_sees_it(
    patient: Desk,
) -> None:
    patient.caoshop.switch(list_lag_seconds=math.inf)  # bought, not listed yet
    [(line_id, follow_up)] = lost(patient, ["5xx_after_commit"], [1])
    [committed] = patient.caoshop.ledger
    for _ in range(3):  # the looks at 2, 4 and 8 s see nothing
        [follow_up] = looked(patient, line_id, follow_up)
    assert follow_up == Send(SETTLE, line_id, 8.0)
    patient.caoshop.switch(list_lag_seconds=0.0)

    assert looked(patient, line_id, follow_up) == [Send(DELIVER, line_id)]  # at 16 s

    assert patient.caoshop.ledger == [committed]
    assert patient.line(line_id).trans_id == committed.trans_id


def test_purchases_lost_together_pair_with_their_orders_on_an_early_look(patient: Desk) -> None:
    """A crash loses two alike purchases: the first look pairs them by rank, as the window
    would, and neither is bought again."""
    parked_lines = lost(patient, ["5xx_after_commit"] * 2, [1, 1])
    first, second = patient.caoshop.ledger

    for line_id, follow_up in parked_lines:
        assert looked(patient, line_id, follow_up) == [Send(DELIVER, line_id)]

    assert [patient.line(line_id).trans_id for line_id, _ in parked_lines] == [
        first.trans_id,
        second.trans_id,
    ]
    assert len(patient.caoshop.ledger) == 2


def test_an_early_reading_that_cannot_tell_waits_for_the_window_before_asking_a_person(
    patient: Desk,
) -> None:
    """Two alike purchases lost together, one order listed: whose it is cannot be told (the
    other's may yet be listed). The early looks leave both lines be; past the window and the
    patience for purchases lost together, a person decides, and nothing is bought again."""
    parked_lines = lost(patient, ["5xx_after_commit", "5xx_before_commit"], [1, 1])
    line_id, follow_up = parked_lines[0]
    elapsed = 0.0
    while elapsed + follow_up.delay_seconds < WINDOW:
        elapsed += follow_up.delay_seconds
        [follow_up] = looked(patient, line_id, follow_up)
        assert follow_up.actor == SETTLE
        assert patient.line(line_id).state == FulfilmentState.PURCHASE_UNKNOWN
    assert elapsed == pytest.approx(32.0)

    follow_ups = [follow_up]
    for _ in range(30):  # the patience: looked at every 2 s for 30 s
        follow_ups = looked(patient, line_id, follow_ups[0])
        if not follow_ups:
            break
    assert follow_ups == []

    line = patient.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION, line.reason
    [attempt] = patient.attempts(line_id)
    assert (attempt.settlement, attempt.trans_id) == (Settlement.AMBIGUOUS, None)
    assert len(patient.caoshop.ledger) == 1
    assert patient.supplier_calls(patient.caoshop, "/orders/create") == 2


def test_an_early_look_does_not_adopt_beside_a_purchase_of_another_quantity(
    patient: Desk,
) -> None:
    """Purchases of 1 and 2 units of one plan lost together: the parts of a split listed one by
    one could pass for the single unit's order, so an early look adopts nothing; the window's
    look adopts each line's own order."""
    (single, early), (double, _) = lost(patient, ["5xx_after_commit"] * 2, [1, 1 + 1])
    one, two = patient.caoshop.ledger

    [follow_up] = looked(patient, single, early)
    assert patient.supplier_calls(patient.caoshop, "/orders/list") == 1, "it looked"
    assert follow_up == Send(SETTLE, single, 2.0), "and looks again at 4 s"
    assert patient.line(single).state == FulfilmentState.PURCHASE_UNKNOWN

    patient.clock.advance(WINDOW)
    assert settle(patient.ctx, single) == [Send(DELIVER, single)]
    assert settle(patient.ctx, double) == [Send(DELIVER, double)]
    assert (patient.line(single).trans_id, patient.line(double).trans_id) == (
        one.trans_id,
        two.trans_id,
    )
    assert len(patient.caoshop.ledger) == 2


def test_an_order_whose_answer_was_lost_is_adopted_instead_of_bought_again(desk: Desk) -> None:
    settle_delay = desk.ctx.settings.settle_delay_seconds  # 0.5
    desk.clock.freeze()
    order_pk, line_id = parked(desk, "5xx_after_commit")
    [committed] = desk.caoshop.ledger
    desk.clock.advance(0.2)

    # Too early: a supplier may list a fresh order late. Come back when the delay is over,
    # without reading anything yet.
    [early] = settle(desk.ctx, line_id)
    assert (early.actor, early.entity_id) == (SETTLE, line_id)
    assert early.delay_seconds == pytest.approx(settle_delay - 0.2)
    assert desk.supplier_calls(desk.caoshop, "/orders/list") == 0

    desk.clock.advance(early.delay_seconds)
    assert settle(desk.ctx, line_id) == [Send(DELIVER, line_id)]

    assert desk.caoshop.ledger == [committed], "nothing bought again"
    line = desk.line(line_id)
    assert (line.state, line.trans_id) == (FulfilmentState.PURCHASED, committed.trans_id)
    [attempt] = desk.attempts(line_id)
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.BOUGHT, Settlement.ADOPTED)
    assert (attempt.trans_id, attempt.amount) == (committed.trans_id, committed.amount)

    # A duplicated settle changes nothing; the adopted order delivers its credentials.
    assert settle(desk.ctx, line_id) == []
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, order_pk)]
    assert desk.credentials(line_id) == committed.items
    assert len(desk.caoshop.ledger) == 1


def test_a_copy_of_a_settle_beside_one_that_adopts_leaves_the_line_bought(
    pg_desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one settle (a redelivery, the sweep) at once on PostgreSQL: one reads the
    line still parked, and the other adopts the order before the first reads the attempt. The
    first must not then take the bought line for one parked without an attempt."""
    desk = pg_desk
    desk.clock.freeze()
    _, line_id = parked(desk, "5xx_after_commit")
    [committed] = desk.caoshop.ledger
    desk.clock.advance(desk.ctx.settings.settle_delay_seconds)
    answers: dict[str, list[Send]] = {}
    other = threading.Thread(target=lambda: answers.update(other=settle(desk.ctx, line_id)))
    read_attempt = settling._open_attempt

    def other_copy_first(session: Session, fulfilment_id: int) -> PurchaseAttempt | None:
        if not other.is_alive() and "other" not in answers:
            # The first copy has read the line: the other copy runs now, to its end or until it
            # waits for the first.
            other.start()
            wait_until(
                lambda: "other" in answers or waits_for_a_lock(desk) > 0, 30, "the other copy"
            )
        return read_attempt(session, fulfilment_id)

    monkeypatch.setattr(settling, "_open_attempt", other_copy_first)
    answers["first"] = settle(desk.ctx, line_id)
    other.join(30)

    assert sorted(answers.values(), key=len) == [[], [Send(DELIVER, line_id)]]
    line = desk.line(line_id)
    assert (line.state, line.trans_id) == (FulfilmentState.PURCHASED, committed.trans_id)
    [attempt] = desk.attempts(line_id)
    assert (attempt.settlement, attempt.trans_id) == (Settlement.ADOPTED, committed.trans_id)
    assert desk.caoshop.ledger == [committed], "nothing bought again"


def waits_for_a_lock(desk: Desk) -> int:
    """How many of the database's sessions wait for a row another holds."""
    with desk.ctx.engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return int(waiting)


def test_a_purchase_that_never_committed_is_bought_again_exactly_once(desk: Desk) -> None:
    _, line_id = parked(desk, "5xx_before_commit")
    assert desk.caoshop.ledger == []
    desk.clock.advance(desk.ctx.settings.settle_delay_seconds)

    assert settle(desk.ctx, line_id) == [Send(PURCHASE, line_id)]

    assert desk.line(line_id).state == FulfilmentState.PENDING
    [attempt] = desk.attempts(line_id)
    assert attempt.settlement == Settlement.NOT_FOUND
    # A second copy of the settle message must not send the line back to buying again.
    assert settle(desk.ctx, line_id) == []

    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]
    assert purchase(desk.ctx, line_id) == []
    [bought] = desk.caoshop.ledger
    assert desk.line(line_id).trans_id == bought.trans_id


def test_an_order_another_line_bought_is_never_adopted(desk: Desk) -> None:
    """The list shows an order of the same plan and quantity, but it is another line's."""
    [other] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids
    _, line_id = parked(desk, "5xx_before_commit")
    assert purchase(desk.ctx, other) == [Send(DELIVER, other, 0.0)]
    [theirs] = desk.caoshop.ledger
    desk.clock.advance(desk.ctx.settings.settle_delay_seconds)

    assert settle(desk.ctx, line_id) == [Send(PURCHASE, line_id)]

    assert desk.line(other).trans_id == theirs.trans_id
    assert desk.line(line_id).trans_id is None
    [attempt] = desk.attempts(line_id)
    assert (attempt.settlement, attempt.trans_id) == (Settlement.NOT_FOUND, None)
