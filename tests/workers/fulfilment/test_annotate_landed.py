"""order.annotate, called directly, against Pancakes that do more or less than they say: a PUT
that replaces the whole order, a locked order that answers success and changes nothing, and
shops that deliver to the printed note. What counts is the order Pancake shows afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from bridge.db import session_scope
from bridge.dev.sandbox import PANCAKE_API_KEY
from bridge.pancake.client import PancakeClient
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import PancakeOrder
from bridge.pancake.shops import add_shop
from bridge.pancake.vocabulary import NoteDelivery
from bridge.states import DelayNotice, FulfilmentState
from tests.e2e.world import CHATGPT, NETFLIX
from tests.workers.fulfilment.conftest import Desk, Taken
from workers.alerts.conditions import NEEDS_ATTENTION, watch_conditions
from workers.fulfilment.annotate import ORDER_LOCKED, annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.notes import begin_marker, delay_marker
from workers.fulfilment.purchase import purchase
from workers.fulfilment.redrive import retry_line
from workers.queue.dispatch import ANNOTATE, Send

STAFF = "Khách quen, giao trước 9h.\nGọi trước khi giao."
PRINTED = "Giao tận tay khách"
BUYER = {"bill_full_name": "Tran Thi B", "bill_phone_number": "0911222333"}
# What a note update must leave as it was (the simulator's order fields).
UNTOUCHED = ("items", "status", "bill_full_name", "bill_phone_number", "shipping_address")


def delivered(desk: Desk, **order: Any) -> Taken:
    """A one-line order bought and delivered; its notes untouched so far."""
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}], **(BUYER | order))
    [line_id] = taken.line_ids
    [to_deliver] = purchase(desk.ctx, line_id)
    assert deliver(desk.ctx, to_deliver.entity_id) == [Send(ANNOTATE, taken.order_pk)]
    return taken


def remote(desk: Desk, order_id: str) -> dict[str, Any]:
    return desk.sandbox.pancake.order(desk.shop_id, order_id)


def deliver_to(desk: Desk, where: NoteDelivery) -> None:
    with session_scope(desk.ctx.engine) as session:
        add_shop(session, desk.ctx.box, desk.shop_id, deliver_to=where)


def staff_write(desk: Desk, order_id: str, **fields: str) -> None:
    """Staff edit the order in Pancake (a partial PUT, merged)."""
    with PancakeClient(desk.ctx.settings.pancake_base_url, PANCAKE_API_KEY) as staff:
        staff.update_order(desk.shop_id, order_id, fields)


def credential(desk: Desk) -> str:
    [item] = desk.caoshop.ledger[-1].items
    return item


def needs_attention_alerts(desk: Desk) -> dict[str, str]:
    """The open needs-attention alerts, by line id, once the alert watcher has looked."""
    watch_conditions(desk.ctx)
    return {
        subject: message
        for (kind, subject), message in desk.open_alerts().items()
        if kind == NEEDS_ATTENTION
    }


@contextmanager
def pancake_client(desk: Desk, wrap: Callable[[PancakeClient], object]) -> Iterator[None]:
    """The steps talk to Pancake through ``wrap(client)`` meanwhile."""
    real = desk.ctx.pancake

    def wrapped(shop: PancakeShop) -> object:
        return wrap(real(shop))

    desk.ctx.pancake = wrapped  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        desk.ctx.pancake = real  # type: ignore[method-assign]


class _Through:
    """A client that passes every call on, for a test to override one."""

    def __init__(self, client: PancakeClient) -> None:
        self.client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


# -- a PUT that replaces the order --------------------------------------------------------


def test_a_replacing_pancake_keeps_the_rest_of_the_order(desk: Desk) -> None:
    desk.sandbox.pancake.put_mode = "replace"
    taken = delivered(desk, note=STAFF)
    [line_id] = taken.line_ids
    before = remote(desk, taken.order_id)

    assert annotate(desk.ctx, taken.order_pk) == []

    after = remote(desk, taken.order_id)
    assert {key: after.get(key) for key in UNTOUCHED} == {key: before[key] for key in UNTOUCHED}
    assert after["note"].startswith(STAFF + "\n\n" + begin_marker(line_id))
    assert credential(desk) in after["note"]
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED
    # Intake's read, annotate's read and its PUT: the PUT's answer stood in for a read-back.
    assert (desk.order_reads(taken.order_id), desk.note_writes(taken.order_id)) == (2, 1)


def test_a_put_that_wiped_the_order_is_noticed_and_reported(desk: Desk) -> None:
    """A careless writer's partial body on a replacing Pancake loses items, status and customer:
    the credentials are in the note, yet the line is not counted as annotated."""
    desk.sandbox.pancake.put_mode = "replace"
    taken = delivered(desk, note=STAFF)
    [line_id] = taken.line_ids

    class PartialBody(_Through):
        def write_order(
            self, shop_id: str, order: PancakeOrder, changes: dict[str, Any]
        ) -> PancakeOrder | None:
            self.client.update_order(shop_id, order.id, changes)
            return None

    with pancake_client(desk, PartialBody):
        assert annotate(desk.ctx, taken.order_pk) == []

    wiped = remote(desk, taken.order_id)
    # What replace did with the partial body.
    assert wiped["items"] == []
    assert "bill_full_name" not in wiped
    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert "items, status, customer" in line.reason
    assert list(needs_attention_alerts(desk)) == [str(line_id)]


# -- a locked order --------------------------------------------------------------------------


def test_a_locked_order_is_not_written_and_needs_a_person(desk: Desk) -> None:
    taken = delivered(desk, note=STAFF, is_locked=True)
    [line_id] = taken.line_ids

    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.note_writes(taken.order_id) == 0
    assert remote(desk, taken.order_id)["note"] == STAFF
    line = desk.line(line_id)
    assert (line.state, line.reason) == (FulfilmentState.NEEDS_ATTENTION, ORDER_LOCKED)
    alerts = needs_attention_alerts(desk)
    assert list(alerts) == [str(line_id)]
    assert "locked" in alerts[str(line_id)]

    # Staff unlock it; the operator's retry writes the credentials, and the alert goes.
    desk.sandbox.pancake.lock_order(desk.shop_id, taken.order_id, locked=False)
    assert retry_line(desk.ctx.engine, line_id, desk.clock()).state == FulfilmentState.DELIVERED
    assert annotate(desk.ctx, taken.order_pk) == []
    assert credential(desk) in desk.note(taken.order_id)
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED
    assert needs_attention_alerts(desk) == {}


def test_an_order_locked_after_the_read_answers_success_and_is_caught(desk: Desk) -> None:
    """Staff lock the order between the bridge's read and its PUT: Pancake says success and
    shows the order unchanged, so the order is read back and the line needs a person."""
    taken = delivered(desk, note=STAFF)
    [line_id] = taken.line_ids
    simulator = desk.sandbox.pancake

    class LockedAfterRead(_Through):
        def get_order(self, shop_id: str, order_id: str) -> PancakeOrder:
            order = self.client.get_order(shop_id, order_id)
            if not order.is_locked:
                simulator.lock_order(shop_id, order_id)
            return order

    with pancake_client(desk, LockedAfterRead):
        assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.note_writes(taken.order_id) == 1
    assert desk.note(taken.order_id) == STAFF
    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason == (
        "Pancake answered the note update with success, but its note lacks this line"
    )
    # The read before, the PUT, the read back.
    assert desk.order_reads(taken.order_id) == 1 + 2


# -- which note ----------------------------------------------------------------------------


def test_a_shop_delivering_to_the_printed_note_leaves_the_internal_one_alone(desk: Desk) -> None:
    deliver_to(desk, NoteDelivery.NOTE_PRINT)
    taken = delivered(desk, note=STAFF)
    [line_id] = taken.line_ids
    staff_write(desk, taken.order_id, note_print=PRINTED)
    writes = desk.note_writes(taken.order_id)

    assert annotate(desk.ctx, taken.order_pk) == []

    order = remote(desk, taken.order_id)
    assert order["note"] == STAFF
    assert order["note_print"].startswith(PRINTED + "\n\n" + begin_marker(line_id))
    assert credential(desk) in order["note_print"]
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED

    # Again: the printed note holds it all, nothing is written.
    desk.set_line(line_id, state=FulfilmentState.DELIVERED)
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note_writes(taken.order_id) == writes + 1
    assert remote(desk, taken.order_id)["note_print"] == order["note_print"]


def test_a_shop_delivering_to_both_notes_gets_the_block_in_each(desk: Desk) -> None:
    deliver_to(desk, NoteDelivery.BOTH)
    taken = delivered(desk, note=STAFF)
    [line_id] = taken.line_ids

    assert annotate(desk.ctx, taken.order_pk) == []

    order = remote(desk, taken.order_id)
    for name in ("note", "note_print"):
        assert order[name].count(credential(desk)) == 1, name
        assert begin_marker(line_id) in order[name]
    assert order["note"].startswith(STAFF)
    assert desk.note_writes(taken.order_id) == 1

    desk.set_line(line_id, state=FulfilmentState.DELIVERED)
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note_writes(taken.order_id) == 1


def test_the_delay_notice_goes_where_the_customer_looks(desk: Desk) -> None:
    for where, field, other in (
        (NoteDelivery.NOTE, "note", "note_print"),
        (NoteDelivery.NOTE_PRINT, "note_print", "note"),
        (NoteDelivery.BOTH, "note_print", "note"),
    ):
        deliver_to(desk, where)
        taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}])  # no e-mail: no buy
        [line_id] = taken.line_ids
        assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

        assert annotate(desk.ctx, taken.order_pk) == []

        order = remote(desk, taken.order_id)
        assert delay_marker(line_id) in order[field], where
        assert delay_marker(line_id) not in (order[other] or ""), where
        assert desk.line(line_id).delay_notice == DelayNotice.WRITTEN


def test_a_delay_notice_on_a_locked_order_is_dropped_with_an_alert(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}], is_locked=True)
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]

    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.note_writes(taken.order_id) == 0
    line = desk.line(line_id)
    # Still parked for its own reason (no choice can buy it), the notice given up.
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.delay_notice is None
    message = desk.open_alerts()[("note_failed", str(line_id))]
    assert "not told of the delay" in message
    assert "locked" in message


def test_a_line_delivered_while_its_delay_notice_failed_to_land_waits_for_its_own_note(
    desk: Desk,
) -> None:
    """The note update carried only the line's delay notice, and Pancake dropped it (success,
    the order unchanged). Meanwhile staff added the missing email, an operator retried, and the
    line was bought and delivered: its credentials were no part of that write, so the failed
    write does not send the line to a person; the note update its delivery asked for writes
    them."""
    taken = desk.take_in([{"variation_id": CHATGPT, "quantity": 1}], note=STAFF)  # no email
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    desk.clock.advance(desk.ctx.settings.order_reread_seconds + 1)
    meanwhile: list[Send] = []

    class DropsTheWrite(_Through):
        def write_order(
            self, shop_id: str, order: PancakeOrder, changes: dict[str, Any]
        ) -> PancakeOrder:
            staff_write(desk, taken.order_id, bill_email="khach@example.com")
            assert retry_line(desk.ctx.engine, line_id, desk.clock()).changed
            [to_deliver] = purchase(desk.ctx, line_id)
            assert desk.caoshop.complete_pending() == 1  # staff at the supplier fulfil it
            meanwhile.extend(deliver(desk.ctx, to_deliver.entity_id))
            return order  # success, and nothing written

    with pancake_client(desk, DropsTheWrite):
        assert annotate(desk.ctx, taken.order_pk) == []

    assert meanwhile == [Send(ANNOTATE, taken.order_pk)]
    assert desk.line(line_id).state == FulfilmentState.DELIVERED
    assert annotate(desk.ctx, taken.order_pk) == []
    assert credential(desk) in desk.note(taken.order_id)
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED
