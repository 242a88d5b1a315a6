"""fulfilment.deliver, called directly: poll the supplier until the order completes, keep its
credentials, then hand the order to the note writer."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.states import FulfilmentState
from tests.e2e.world import CHATGPT, NETFLIX
from tests.workers.fulfilment.conftest import Desk, Taken
from workers.fulfilment import deliver as delivering
from workers.fulfilment.deliver import deliver
from workers.fulfilment.held import read_held
from workers.fulfilment.purchase import purchase
from workers.queue.dispatch import ANNOTATE, DELIVER, Send

EMAIL = "khach@example.com"


def bought(desk: Desk, variation_id: str, quantity: int = 1) -> tuple[Taken, int]:
    taken = desk.take_in([{"variation_id": variation_id, "quantity": quantity}], bill_email=EMAIL)
    [line_id] = taken.line_ids
    [follow_up] = purchase(desk.ctx, line_id)
    assert follow_up.actor == DELIVER
    return taken, line_id


def test_an_instant_plan_is_delivered_and_handed_to_the_note_writer(desk: Desk) -> None:
    taken, line_id = bought(desk, NETFLIX)

    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    [order] = desk.caoshop.ledger
    assert desk.credentials(line_id) == order.items
    line = desk.line(line_id)
    assert (line.state, line.delivered_count) == (FulfilmentState.DELIVERED, 1)
    # The note is the annotate step's: delivering writes nothing into the order.
    assert desk.note_writes(taken.order_id) == 0
    # A duplicated message asks the supplier nothing more.
    reads = desk.supplier_calls(desk.caoshop, "/orders/status")
    assert deliver(desk.ctx, line_id) == []
    assert desk.supplier_calls(desk.caoshop, "/orders/status") == reads


def test_a_pending_manual_plan_is_polled_again_with_growing_waits_until_it_completes(
    desk: Desk,
) -> None:
    taken, line_id = bought(desk, CHATGPT)

    waits: list[float] = []
    for _ in range(6):
        [again] = deliver(desk.ctx, line_id)
        assert (again.actor, again.entity_id) == (DELIVER, line_id)
        waits.append(again.delay_seconds)

    # poll_initial_seconds 0.2, poll_factor 1.5, capped at poll_max_seconds 1.0.
    assert waits == pytest.approx([0.2, 0.3, 0.45, 0.675, 1.0, 1.0])
    line = desk.line(line_id)
    assert (line.state, line.polls, line.credentials_enc) == (FulfilmentState.PURCHASED, 6, None)

    assert desk.caoshop.complete_pending() == 1
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    [order] = desk.caoshop.ledger
    assert desk.line(line_id).state == FulfilmentState.DELIVERED
    assert desk.credentials(line_id) == order.items


def test_what_arrived_of_a_partial_delivery_is_written_now_and_the_rest_polled(
    desk: Desk,
) -> None:
    taken, line_id = bought(desk, CHATGPT, quantity=2)
    [order] = desk.caoshop.ledger
    desk.caoshop.deliver_partial(order.trans_id, 1)

    first = deliver(desk.ctx, line_id)

    assert first[0] == Send(ANNOTATE, taken.order_pk)
    assert [(send.actor, send.entity_id) for send in first[1:]] == [(DELIVER, line_id)]
    line = desk.line(line_id)
    assert (line.state, line.delivered_count) == (FulfilmentState.PARTIAL, 1)
    assert len(desk.credentials(line_id)) == 1

    desk.caoshop.complete_pending(order.trans_id)
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    line = desk.line(line_id)
    assert (line.state, line.delivered_count) == (FulfilmentState.DELIVERED, 2)
    assert desk.credentials(line_id) == desk.caoshop.ledger[0].items


def test_an_order_the_supplier_cancelled_stops_for_a_person(desk: Desk) -> None:
    _, line_id = bought(desk, CHATGPT)
    [order] = desk.caoshop.ledger
    desk.caoshop.cancel(order.trans_id)

    assert deliver(desk.ctx, line_id) == []

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith(f"supplier cancelled order {order.trans_id}")
    assert desk.credentials(line_id) == []


def test_one_list_read_answers_for_every_waiting_order_of_a_supplier(desk: Desk) -> None:
    """Several manual orders wait: one orders/list read finds which completed, and only those
    cost an orders/status read."""
    _, waiting = bought(desk, CHATGPT)
    taken, done = bought(desk, CHATGPT)
    desk.caoshop.complete_pending(desk.line(done).trans_id)

    follow_up = deliver(desk.ctx, waiting)

    assert follow_up[0] == Send(DELIVER, done)
    assert [(send.actor, send.entity_id) for send in follow_up[1:]] == [(DELIVER, waiting)]
    assert desk.supplier_calls(desk.caoshop, "/orders/list") == 1
    assert desk.supplier_calls(desk.caoshop, "/orders/status") == 0

    assert deliver(desk.ctx, done) == [Send(ANNOTATE, taken.order_pk)]
    assert desk.supplier_calls(desk.caoshop, "/orders/status") == 1
    assert desk.line(done).state == FulfilmentState.DELIVERED
    assert desk.line(waiting).state == FulfilmentState.PURCHASED


def test_an_order_the_supplier_cannot_show_waits_out_the_grace_period_then_stops(
    desk: Desk,
) -> None:
    """A fresh order may not be readable yet; one still unknown long after it was bought is a
    person's to look at."""
    desk.caoshop.status_lag_seconds = 3600.0  # orders/status: ORDER_NOT_FOUND for an hour
    _, line_id = bought(desk, NETFLIX)

    [again] = deliver(desk.ctx, line_id)

    assert (again.actor, again.entity_id) == (DELIVER, line_id)
    line = desk.line(line_id)
    assert line.state == FulfilmentState.PURCHASED
    assert line.last_error is not None
    assert line.last_error.startswith("ORDER_NOT_FOUND")

    desk.clock.advance(desk.ctx.settings.status_grace_seconds + 1)
    assert deliver(desk.ctx, line_id) == []

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith(f"ORDER_NOT_FOUND: supplier cannot show order {line.trans_id}")
    assert desk.credentials(line_id) == []


def test_a_refused_read_beside_a_copy_that_delivered_leaves_the_line_delivered(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of a deliver (the line's own timer and the batch poll): one completes the
    line, then the other's read is refused past the grace. The refusal is about a line that
    has moved on: it stops nothing."""
    taken, line_id = bought(desk, CHATGPT)
    desk.clock.advance(desk.ctx.settings.status_grace_seconds + 1)  # a refusal now stops a line
    assert desk.caoshop.complete_pending() == 1
    other: list[list[Send]] = []

    def other_copy_first(*args: Any) -> Any:
        if not other:
            other.append([])
            other[0] = deliver(desk.ctx, line_id)  # its read goes through as it is
            desk.caoshop.refuse("PRODUCT_NOT_FOUND", path_contains="orders/status")
        return read_held(*args)

    monkeypatch.setattr(delivering, "read_held", other_copy_first)
    assert deliver(desk.ctx, line_id) == []

    assert other == [[Send(ANNOTATE, taken.order_pk)]]
    line = desk.line(line_id)
    assert (line.state, line.reason) == (FulfilmentState.DELIVERED, None)
