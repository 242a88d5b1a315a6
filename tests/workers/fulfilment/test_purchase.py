"""fulfilment.purchase, called directly: what the supplier's books show after each call, the
line's state, and the follow-up the step asks for."""

from __future__ import annotations

from bridge.states import AttemptOutcome, DelayNotice, FulfilmentState
from tests.e2e.world import CANVA, CAOSHOP, CHATGPT, NETFLIX, SHOPKEY, SPOTIFY, second_choice
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.purchase import purchase
from workers.queue.dispatch import ANNOTATE, DELIVER, PURCHASE, SETTLE, Send


def test_a_line_is_bought_once_and_a_duplicated_message_buys_nothing(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids

    follow_up = purchase(desk.ctx, line_id)

    [bought] = desk.caoshop.ledger
    assert (bought.plan_id, bought.quantity) == (319, 1)
    # An instant plan is complete at once: delivery is read now, not after a poll's wait.
    assert follow_up == [Send(DELIVER, line_id, 0.0)]
    line = desk.line(line_id)
    assert line.state == FulfilmentState.PURCHASED
    assert (line.supplier_name, line.trans_id) == (CAOSHOP, bought.trans_id)

    assert purchase(desk.ctx, line_id) == []
    assert len(desk.caoshop.ledger) == 1
    assert desk.line(line_id).state == FulfilmentState.PURCHASED
    [attempt] = desk.attempts(line_id)
    assert (attempt.outcome, attempt.trans_id) == (AttemptOutcome.BOUGHT, bought.trans_id)


def test_each_line_is_bought_by_its_own_order_at_its_own_supplier(desk: Desk) -> None:
    taken = desk.take_in(
        [
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 2},  # 2 supplier units per POS item
            {"variation_id": CANVA, "quantity": 1},
        ]
    )
    netflix, spotify, canva = taken.line_ids

    for line_id in taken.line_ids:
        assert [send.actor for send in purchase(desk.ctx, line_id)] == [DELIVER]

    assert [(p.plan_id, p.quantity) for p in desk.caoshop.ledger] == [(319, 1), (331, 4)]
    assert [(p.plan_id, p.quantity) for p in desk.shopkey.ledger] == [(77, 1)]
    assert desk.line(spotify).supplier_quantity == 4
    assert desk.line(canva).trans_id == desk.shopkey.ledger[0].trans_id
    assert desk.line(netflix).trans_id == desk.caoshop.ledger[0].trans_id


def test_a_sold_out_first_choice_falls_back_to_the_next(desk: Desk) -> None:
    second_choice(desk.sandbox, NETFLIX, SHOPKEY, 77)
    desk.caoshop.set_stock(319, 0)
    [line_id] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids

    # The refusal proves nothing was bought: the line goes back to buying at once.
    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id)]
    assert desk.caoshop.ledger == []
    assert desk.line(line_id).state == FulfilmentState.PENDING

    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]

    assert desk.caoshop.ledger == []
    [bought] = desk.shopkey.ledger
    line = desk.line(line_id)
    assert (line.state, line.supplier_name, line.trans_id) == (
        FulfilmentState.PURCHASED,
        SHOPKEY,
        bought.trans_id,
    )
    refused, won = desk.attempts(line_id)
    assert (refused.outcome, refused.error_code) == (AttemptOutcome.REFUSED, "OUT_OF_STOCK")
    assert won.outcome == AttemptOutcome.BOUGHT


def test_a_line_no_choice_can_serve_stops_for_a_person_and_the_customer_hears_of_it(
    desk: Desk,
) -> None:
    desk.caoshop.set_balance(0)
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids

    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id)]
    # Every choice is ruled out now: a person acts, and the note gets a delay notice.
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    assert desk.caoshop.ledger == []
    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason == f"INSUFFICIENT_BALANCE: supplier {CAOSHOP} plan 319"
    assert line.delay_notice == DelayNotice.PENDING
    assert ("insufficient_balance", CAOSHOP) in desk.open_alerts()
    # Asked again (a duplicated message), it neither buys nor asks for a second notice.
    assert purchase(desk.ctx, line_id) == []


def test_a_manual_plan_is_bought_with_its_fields_filled_from_the_order(desk: Desk) -> None:
    email = "khach@example.com"
    [line_id] = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}], bill_email=email).line_ids

    # Not instant: the first look at its status comes after the first poll's wait.
    initial = desk.ctx.settings.poll_initial_seconds
    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, initial)]

    [bought] = desk.caoshop.ledger
    assert (bought.plan_id, bought.fields, bought.status) == (320, {"email": email}, "pending")
    line = desk.line(line_id)
    assert (line.state, line.supplier_status) == (FulfilmentState.PURCHASED, "pending")


def test_a_field_the_order_lacks_buys_nothing_and_names_the_field(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}])  # no bill_email
    [line_id] = taken.line_ids

    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    assert desk.caoshop.ledger == []
    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert "missing field: email ({order.bill_email} is empty in the order)" in line.reason
    assert desk.attempts(line_id) == []


def test_a_lost_answer_parks_the_line_and_it_is_never_bought_blindly(desk: Desk) -> None:
    desk.caoshop.inject("5xx_after_commit")
    [line_id] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids

    follow_up = purchase(desk.ctx, line_id)

    # The supplier committed the order; the bridge cannot know it: it settles later.
    assert len(desk.caoshop.ledger) == 1
    assert follow_up == [Send(SETTLE, line_id)]
    line = desk.line(line_id)
    assert (line.state, line.trans_id) == (FulfilmentState.PURCHASE_UNKNOWN, None)
    [attempt] = desk.attempts(line_id)
    assert attempt.outcome == AttemptOutcome.UNKNOWN
    assert attempt.sent_at is not None

    assert purchase(desk.ctx, line_id) == []
    assert len(desk.caoshop.ledger) == 1


def test_a_rate_limited_purchase_waits_as_long_as_the_supplier_asks(desk: Desk) -> None:
    desk.caoshop.inject("429")  # Retry-After: 1
    [line_id] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids

    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id, 1.0)]

    assert desk.caoshop.ledger == []
    line = desk.line(line_id)
    assert (line.state, line.failures) == (FulfilmentState.PENDING, 1)
    [attempt] = desk.attempts(line_id)
    assert (attempt.outcome, attempt.error_code) == (AttemptOutcome.REFUSED, "RATE_LIMIT_EXCEEDED")
