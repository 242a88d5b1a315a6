"""order.annotate, called directly: what the Pancake order's note says afterwards, and how
often the bridge wrote it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bridge.states import DelayNotice, FulfilmentState
from tests.e2e.world import CANVA, CAOSHOP, CHATGPT, NETFLIX
from tests.workers.fulfilment.conftest import Desk, Taken
from workers.fulfilment import annotate as annotating
from workers.fulfilment.annotate import LINE_FAILED_ALERT, annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.notes import begin_marker, delay_marker, end_marker
from workers.fulfilment.purchase import purchase
from workers.queue.dispatch import ANNOTATE, Send

STAFF = "Khách quen, giao trước 9h.\nGọi trước khi giao."


def delivered(desk: Desk, items: list[dict[str, object]], **order: object) -> Taken:
    """An order whose lines were all bought and delivered; the note untouched so far."""
    taken = desk.take_in(items, **order)
    for line_id in taken.line_ids:
        [to_deliver] = purchase(desk.ctx, line_id)
        assert deliver(desk.ctx, to_deliver.entity_id) == [Send(ANNOTATE, taken.order_pk)]
    return taken


def test_credentials_are_written_once_below_the_staffs_note(desk: Desk) -> None:
    taken = delivered(desk, [{"variation_id": NETFLIX, "quantity": 1}], note=STAFF)
    [line_id] = taken.line_ids
    [credential] = desk.caoshop.ledger[0].items

    assert annotate(desk.ctx, taken.order_pk) == []

    note = desk.note(taken.order_id)
    assert note.startswith(STAFF + "\n\n" + begin_marker(line_id) + "\n")
    assert note.endswith(credential + "\n" + end_marker(line_id))
    assert note.count(credential) == 1
    assert desk.note_writes(taken.order_id) == 1
    line = desk.line(line_id)
    assert (line.state, line.annotated_count) == (FulfilmentState.ANNOTATED, 1)

    # A duplicated message: nothing left to write, and Pancake is not even asked.
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note(taken.order_id) == note
    assert desk.note_writes(taken.order_id) == 1


def test_a_retry_after_a_crash_between_the_write_and_the_commit_adds_nothing(
    desk: Desk,
) -> None:
    taken = delivered(desk, [{"variation_id": NETFLIX, "quantity": 1}], note=STAFF)
    [line_id] = taken.line_ids
    assert annotate(desk.ctx, taken.order_pk) == []
    note = desk.note(taken.order_id)
    # The PUT went through, the commit did not: the line still says delivered.
    desk.set_line(line_id, state=FulfilmentState.DELIVERED, annotated_count=0)

    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.note(taken.order_id) == note
    assert desk.note_writes(taken.order_id) == 1, "the block is there: no second PUT"
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED


def test_every_delivered_line_of_an_order_gets_its_own_block(desk: Desk) -> None:
    taken = delivered(
        desk,
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 1}],
    )
    netflix, canva = taken.line_ids

    assert annotate(desk.ctx, taken.order_pk) == []

    note = desk.note(taken.order_id)
    for line_id, supplier in ((netflix, desk.caoshop), (canva, desk.shopkey)):
        [credential] = supplier.ledger[0].items
        block = note[note.index(begin_marker(line_id)) : note.index(end_marker(line_id))]
        assert credential in block
        assert desk.line(line_id).state == FulfilmentState.ANNOTATED
    assert desk.note_writes(taken.order_id) == 1


def test_a_line_that_cannot_be_bought_tells_the_customer_of_the_delay_once(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}], note=STAFF)  # no email
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    assert annotate(desk.ctx, taken.order_pk) == []

    note = desk.note(taken.order_id)
    assert note.startswith(STAFF + "\n\n" + delay_marker(line_id))
    assert "Delivery is delayed" in note
    # Customer-safe: neither the supplier nor the reason is named.
    assert CAOSHOP not in note
    assert "missing field" not in note
    assert desk.line(line_id).delay_notice == DelayNotice.WRITTEN

    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note_writes(taken.order_id) == 1


def test_pancake_refusing_the_order_ends_the_line_failed_with_an_alert(desk: Desk) -> None:
    taken = delivered(desk, [{"variation_id": NETFLIX, "quantity": 1}], note=STAFF)
    [line_id] = taken.line_ids
    desk.sandbox.pancake.inject(403, path_contains=f"/orders/{taken.order_id}")

    # A refusal will not pass by itself: no retry is scheduled.
    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.note(taken.order_id) == STAFF
    line = desk.line(line_id)
    assert line.state == FulfilmentState.FAILED
    assert line.reason is not None
    assert line.reason.startswith("could not write the note")
    assert (LINE_FAILED_ALERT, str(line_id)) in desk.open_alerts()


def test_while_another_annotator_holds_the_order_it_comes_back_shortly(desk: Desk) -> None:
    taken = delivered(desk, [{"variation_id": NETFLIX, "quantity": 1}])
    held_until = desk.clock() + timedelta(seconds=desk.ctx.settings.lease_seconds)
    desk.set_order(taken.order_pk, annotate_lock_until=held_until)

    assert annotate(desk.ctx, taken.order_pk) == [Send(ANNOTATE, taken.order_pk, 1.0)]
    assert desk.note_writes(taken.order_id) == 0

    # A holder that died lets its lock run out.
    desk.clock.advance(desk.ctx.settings.lease_seconds + 1)
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note_writes(taken.order_id) == 1
    assert desk.line(taken.line_ids[0]).state == FulfilmentState.ANNOTATED


def test_credentials_that_arrive_while_the_note_is_written_are_written_after_it(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The supplier hands over the rest of a partial order while Pancake answers the note
    update: the line is not taken for annotated with what the note does not hold yet."""
    taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 2}], bill_email="khach@example.com")
    [line_id] = taken.line_ids
    purchase(desk.ctx, line_id)
    [order] = desk.caoshop.ledger
    desk.caoshop.deliver_partial(order.trans_id, 1)
    assert deliver(desk.ctx, line_id)[0] == Send(ANNOTATE, taken.order_pk)
    desk.caoshop.complete_pending(order.trans_id)
    judge = annotating._judge
    meanwhile: list[list[Send]] = []

    def rest_arrives_meanwhile(*args: Any) -> Any:
        meanwhile.append(deliver(desk.ctx, line_id))
        return judge(*args)

    monkeypatch.setattr(annotating, "_judge", rest_arrives_meanwhile)
    assert annotate(desk.ctx, taken.order_pk) == []
    monkeypatch.undo()
    assert meanwhile == [[Send(ANNOTATE, taken.order_pk)]]
    first, second = desk.caoshop.ledger[0].items
    assert first in desk.note(taken.order_id)
    assert second not in desk.note(taken.order_id)

    # The delivery's own note update writes the rest.
    assert annotate(desk.ctx, taken.order_pk) == []

    note = desk.note(taken.order_id)
    assert (note.count(first), note.count(second)) == (1, 1)
    line = desk.line(line_id)
    assert (line.state, line.annotated_count) == (FulfilmentState.ANNOTATED, 2)
