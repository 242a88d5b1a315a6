"""The sweep, called directly: a row whose lease ran out had its message lost; its step is sent
again, once per lease, and a purchase whose worker vanished is taken back without buying twice."""

from __future__ import annotations

import pytest

from bridge.states import AttemptOutcome, FulfilmentState
from tests.e2e.world import CANVA, NETFLIX
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.annotate import annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import Purchase, _decide, purchase
from workers.fulfilment.redrive import retry_line
from workers.fulfilment.settle import settle
from workers.fulfilment.sweep import resend_lost_queue, sweep
from workers.queue.dispatch import ANNOTATE, DELIVER, INTAKE, PURCHASE, SETTLE, Send

NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def lease_runs_out(desk: Desk) -> None:
    desk.clock.advance(desk.ctx.settings.lease_seconds + 1)


def test_an_order_whose_intake_message_was_lost_is_sent_again_once_its_lease_ran_out(
    desk: Desk,
) -> None:
    order_pk = desk.reported(desk.place_order(NETFLIX_LINE))  # ...and its message is lost

    assert sweep(desk.ctx) == [], "within its lease the message may still come"
    lease_runs_out(desk)
    assert sweep(desk.ctx) == [Send(INTAKE, order_pk)]
    # The lease starts again: the next sweep leaves it to the message just sent.
    assert sweep(desk.ctx) == []

    [purchase_send] = intake(desk.ctx, order_pk)
    assert purchase_send.actor == PURCHASE


def test_a_bought_line_whose_delivery_message_was_lost_is_delivered(desk: Desk) -> None:
    taken = desk.take_in(NETFLIX_LINE)
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]  # lost
    lease_runs_out(desk)

    assert sweep(desk.ctx) == [Send(DELIVER, line_id)]

    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert desk.line(line_id).state == FulfilmentState.DELIVERED
    assert len(desk.caoshop.ledger) == 1


def test_lines_waiting_for_the_note_are_sent_as_one_annotate_per_order(desk: Desk) -> None:
    taken = desk.take_in(NETFLIX_LINE + [{"variation_id": CANVA, "quantity": 1}])
    for line_id in taken.line_ids:
        purchase(desk.ctx, line_id)
        deliver(desk.ctx, line_id)  # its annotate message is lost
    lease_runs_out(desk)

    assert sweep(desk.ctx) == [Send(ANNOTATE, taken.order_pk)]


def test_a_purchase_whose_worker_vanished_before_sending_is_bought_once(desk: Desk) -> None:
    [line_id] = desk.take_in(NETFLIX_LINE).line_ids
    # A worker claims the line and commits its attempt, then dies before the request goes out.
    decided = _decide(desk.ctx, line_id)
    assert isinstance(decided, Purchase)
    assert sweep(desk.ctx) == []
    lease_runs_out(desk)

    assert sweep(desk.ctx) == [Send(PURCHASE, line_id)]

    [attempt] = desk.attempts(line_id)
    assert attempt.outcome == AttemptOutcome.NOT_SENT
    assert desk.line(line_id).state == FulfilmentState.PENDING
    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]
    assert len(desk.caoshop.ledger) == 1


def test_a_line_that_ended_is_left_alone(desk: Desk) -> None:
    desk.caoshop.set_stock(319, 0)
    taken = desk.take_in(NETFLIX_LINE)
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id)]
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]  # the delay notice
    lease_runs_out(desk)
    # Its delay notice is still to be written: that much is sent again.
    assert sweep(desk.ctx) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []
    lease_runs_out(desk)

    assert sweep(desk.ctx) == []
    assert desk.line(line_id).state == FulfilmentState.NEEDS_ATTENTION


def test_a_lost_embedded_queue_sends_every_step_again_when_it_is_due(desk: Desk) -> None:
    """A process starting on the embedded broker knows its queue is gone: it does not wait for
    the leases, and a step not due yet is sent with the wait it had left."""
    desk.clock.freeze()
    order_pk = desk.reported(desk.place_order(NETFLIX_LINE))
    desk.caoshop.inject("5xx_after_commit")
    [line_id] = desk.take_in(NETFLIX_LINE).line_ids
    settle_delay = desk.ctx.settings.settle_delay_seconds  # 0.5
    assert purchase(desk.ctx, line_id) == [Send(SETTLE, line_id)]
    assert settle(desk.ctx, line_id) == [Send(SETTLE, line_id, settle_delay)]  # its first look
    desk.clock.advance(0.2)

    settle_send, intake_send = sorted(resend_lost_queue(desk.ctx), key=lambda s: s.actor)

    assert intake_send == Send(INTAKE, order_pk)
    assert (settle_send.actor, settle_send.entity_id) == (SETTLE, line_id)
    assert settle_send.delay_seconds == pytest.approx(settle_delay - 0.2)


def test_a_lost_embedded_queue_leaves_a_line_parked_for_an_operator_alone(desk: Desk) -> None:
    """Its delay notice could not be written (Pancake refused the order): the note writer parked
    the line, without a lease, until an operator's retry. A restart does not undo that."""
    desk.caoshop.set_stock(319, 0)
    taken = desk.take_in(NETFLIX_LINE)
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id)]
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]  # the delay notice
    desk.sandbox.pancake.inject(403, path_contains=f"/orders/{taken.order_id}")
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.line(line_id).lease_until is None

    assert resend_lost_queue(desk.ctx) == []
    assert sweep(desk.ctx) == []


def test_a_line_being_bought_keeps_its_lease_when_its_delay_notice_cannot_be_written(
    desk: Desk,
) -> None:
    """An operator retried a line whose delay notice was still to be written, and then Pancake
    refused the note: the notice is given up, but the line's own purchase is not parked."""
    desk.caoshop.set_stock(319, 0)
    taken = desk.take_in(NETFLIX_LINE)
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(PURCHASE, line_id)]
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]  # the delay notice
    desk.caoshop.set_stock(319, 5)
    assert retry_line(desk.ctx.engine, line_id, desk.clock()).changed
    desk.sandbox.pancake.inject(403, path_contains=f"/orders/{taken.order_id}")
    assert annotate(desk.ctx, taken.order_pk) == []
    line = desk.line(line_id)
    assert line.state == FulfilmentState.PENDING
    assert line.lease_until is not None

    # Its purchase message was lost: once its lease runs out the sweep sends it again.
    desk.clock.advance((line.lease_until - desk.clock()).total_seconds() + 1)
    assert sweep(desk.ctx) == [Send(PURCHASE, line_id)]
    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]
    assert len(desk.caoshop.ledger) == 1
