"""fulfilment.deliver, called directly: every way a supplier order ends is an end for its line.

Completed is delivered whatever the supplier hands over (every unit in one string, fewer strings
than units, nothing at all); cancelled, refunded, or cancelled with the money kept stops the line
with one alert naming the amount; a status nobody knows, or a wait past the give-up time, stops
it too. The polls back off as the wait grows. The steps' clock is moved forward instead of
sleeping (``Desk.clock``).
"""

from __future__ import annotations

import socket

import pytest

from bridge.db import session_scope
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, TAKE_BACK
from tests.workers.fulfilment.conftest import Desk, DeskFactory, Taken
from workers.alerts.conditions import watch_conditions
from workers.fulfilment.annotate import annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.notes import NOTHING_TO_HAND_OVER, begin_marker
from workers.fulfilment.purchase import purchase
from workers.fulfilment.redrive import retry_line
from workers.queue.dispatch import ANNOTATE, DELIVER, Send

EMAIL = "khach@example.com"


def bought(desk: Desk, variation_id: str, quantity: int = 1) -> tuple[Taken, int]:
    taken = desk.take_in([{"variation_id": variation_id, "quantity": quantity}], bill_email=EMAIL)
    [line_id] = taken.line_ids
    [follow_up] = purchase(desk.ctx, line_id)
    assert follow_up.actor == DELIVER
    return taken, line_id


def polled(desk: Desk, line_id: int) -> float:
    """One poll that finds the order still open: the wait until the next one."""
    [again] = deliver(desk.ctx, line_id)
    assert (again.actor, again.entity_id) == (DELIVER, line_id)
    return again.delay_seconds


def alerts_about(desk: Desk, line_id: int) -> list[str]:
    """The open alerts about the line, once the alerts watch (the scheduler's job) has run."""
    watch_conditions(desk.ctx)
    return [
        message for (_, subject), message in desk.open_alerts().items() if subject == str(line_id)
    ]


# -- completed, whatever is handed over -----------------------------------------------------------


def test_an_order_completed_with_nothing_to_hand_over_says_so_in_the_note(desk: Desk) -> None:
    desk.caoshop.switch(completion_shape="none")
    taken, line_id = bought(desk, CHATGPT, quantity=2)
    desk.caoshop.complete_pending()

    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []

    line = desk.line(line_id)
    assert (line.state, line.delivered_count) == (FulfilmentState.ANNOTATED, 2)
    assert desk.credentials(line_id) == []
    trans_id = desk.caoshop.ledger[0].trans_id
    note = desk.note(taken.order_id)
    assert f"x2 (supplier order {trans_id})\n{NOTHING_TO_HAND_OVER}\n" in note
    assert note.count(begin_marker(line_id)) == 1
    # Written once: a duplicated message, or the bridge's own echo, adds nothing.
    line_writes = desk.note_writes(taken.order_id)
    desk.set_line(line_id, state=FulfilmentState.DELIVERED)
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note(taken.order_id) == note
    assert desk.note_writes(taken.order_id) == line_writes


def test_an_instant_plan_completed_with_nothing_to_hand_over_is_delivered_at_once(
    desk: Desk,
) -> None:
    desk.caoshop.switch(real_server=True, completion_shape="none")
    taken, line_id = bought(desk, NETFLIX, quantity=3)

    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert desk.line(line_id).state == FulfilmentState.DELIVERED


def test_fewer_strings_than_units_complete_when_the_suppliers_count_says_so(desk: Desk) -> None:
    desk.caoshop.switch(completion_shape="fewer")
    taken, line_id = bought(desk, CHATGPT, quantity=3)
    desk.caoshop.complete_pending()

    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []

    [order] = desk.caoshop.ledger
    assert len(order.items) == 2  # two units a string, three units
    assert desk.credentials(line_id) == order.items
    note = desk.note(taken.order_id)
    # The normal block: no "k of n delivered" counted from strings.
    assert f"x3 (supplier order {order.trans_id})\n" + "\n".join(order.items) in note
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED


def test_one_string_for_every_unit_is_written_at_once_and_the_line_ends_after_the_grace(
    desk: Desk,
) -> None:
    """Completed with one string for three units looks just like one unit of three delivered in
    part: the string is written at once, the rest awaited for status_grace_seconds, then the
    line is delivered (never needs_attention, never polled for ever)."""
    desk.caoshop.switch(completion_shape="one_string")
    taken, line_id = bought(desk, CHATGPT, quantity=3)
    desk.caoshop.complete_pending()

    first = deliver(desk.ctx, line_id)
    assert first[0] == Send(ANNOTATE, taken.order_pk)
    assert [(send.actor, send.entity_id) for send in first[1:]] == [(DELIVER, line_id)]
    assert annotate(desk.ctx, taken.order_pk) == []
    [order] = desk.caoshop.ledger
    [string] = order.items
    note = desk.note(taken.order_id)
    assert f"x3 (supplier order {order.trans_id})\n{string}\n" in note  # no "1 of 3"
    assert desk.line(line_id).state == FulfilmentState.PARTIAL

    polled(desk, line_id)  # within the grace: still awaiting the rest
    desk.clock.advance(desk.ctx.settings.status_grace_seconds)
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []

    line = desk.line(line_id)
    assert (line.state, line.delivered_count) == (FulfilmentState.ANNOTATED, 3)
    assert desk.note(taken.order_id) == note, "nothing more to write"
    assert alerts_about(desk, line_id) == []


# -- taken back by the supplier -------------------------------------------------------------------


@pytest.mark.parametrize("action", sorted(TAKE_BACK))
def test_an_order_the_supplier_takes_back_stops_the_line_with_one_alert_naming_the_amount(
    desk: Desk, action: str
) -> None:
    take_back, says, repaid = TAKE_BACK[action]
    _, line_id = bought(desk, CHATGPT)
    [order] = desk.caoshop.ledger
    balance = desk.caoshop.balance
    assert polled(desk, line_id) > 0
    take_back(desk.caoshop, order.trans_id)

    assert deliver(desk.ctx, line_id) == []

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith(f"supplier cancelled order {order.trans_id}")
    assert says in line.reason
    [alert] = alerts_about(desk, line_id)
    assert says in alert
    assert alerts_about(desk, line_id) == [alert], "the next watch raises nothing more"
    assert desk.caoshop.balance == balance + repaid
    # Stopped: a stray message asks the supplier nothing, and nothing is bought again.
    reads = desk.supplier_calls(desk.caoshop, "/orders/status")
    assert deliver(desk.ctx, line_id) == []
    assert desk.supplier_calls(desk.caoshop, "/orders/status") == reads
    assert len(desk.caoshop.ledger) == 1


def test_a_cancel_seen_in_the_suppliers_list_is_read_and_ends_its_line(desk: Desk) -> None:
    """Two manual orders wait, so one orders/list read serves both; the refunded one is then read
    by itself, and ends."""
    _, waiting = bought(desk, CHATGPT)
    _, refunded = bought(desk, CHATGPT)
    desk.caoshop.refund(desk.line(refunded).trans_id or "")

    follow_up = deliver(desk.ctx, waiting)

    assert follow_up[0] == Send(DELIVER, refunded)
    assert deliver(desk.ctx, refunded) == []
    assert desk.line(refunded).state == FulfilmentState.NEEDS_ATTENTION
    assert desk.line(waiting).state == FulfilmentState.PURCHASED


# -- a status nobody knows ------------------------------------------------------------------------


def set_status(simulator: SupplierSimulator, trans_id: str, status: str) -> None:
    """A word the platform's server never sends (another server, a plugin): the simulator speaks
    only the real ones, so the test writes it into the shop's books itself."""
    with simulator._lock:
        simulator._orders[trans_id].status = status


def test_a_status_nobody_knows_stops_the_line_after_the_grace(desk: Desk) -> None:
    _, line_id = bought(desk, CHATGPT)
    trans_id = desk.line(line_id).trans_id or ""
    set_status(desk.caoshop, trans_id, "on_hold")

    polled(desk, line_id)  # it may yet clear up
    assert desk.line(line_id).supplier_status == "on_hold"
    desk.clock.advance(desk.ctx.settings.status_grace_seconds)
    assert deliver(desk.ctx, line_id) == []

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason == (
        f"supplier order {trans_id} has status 'on_hold', which the bridge does not know: "
        "it stopped polling"
    )
    assert len(alerts_about(desk, line_id)) == 1


# -- waiting: backoff and the give-up time --------------------------------------------------------


def test_polls_back_off_with_the_wait_and_stop_at_the_give_up_time(
    open_desk: DeskFactory,
) -> None:
    """The production waits (5 s doubling to 10 minutes, then a tenth of the wait so far): a
    manual order left pending is read a few dozen times in 72 hours instead of 432, the last read
    falls on the give-up moment, and then the line stops with one alert."""
    desk = open_desk(
        poll_initial_seconds=5.0,
        poll_factor=2.0,
        poll_max_seconds=600.0,
        supplier_rate_limit=1000,
    )
    _, line_id = bought(desk, CHATGPT)
    give_up = desk.ctx.settings.delivery_give_up_hours * 3600
    assert give_up == 72 * 3600

    delays: list[float] = []
    waited = 0.0
    while True:
        follow_up = deliver(desk.ctx, line_id)
        if not follow_up:
            break
        [again] = follow_up
        delays.append(again.delay_seconds)
        desk.clock.advance(again.delay_seconds)
        waited += again.delay_seconds

    assert delays[:8] == [5, 10, 20, 40, 80, 160, 320, 600]
    assert all(a <= b for a, b in zip(delays, delays[1:-1], strict=False)), "never shorter"
    assert max(delays) > 4 * 3600, "a wait of days is read a few times a day"
    assert waited == pytest.approx(give_up, abs=5)  # the steps themselves take real time
    reads = desk.supplier_calls(desk.caoshop, "/orders/status")
    assert reads == len(delays) + 1 < 60

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason == (
        f"supplier order {line.trans_id} is still 'pending' after 72 hours: the bridge stopped "
        "polling (BRIDGE_DELIVERY_GIVE_UP_HOURS)"
    )
    assert len(alerts_about(desk, line_id)) == 1
    assert len(desk.caoshop.ledger) == 1


def test_a_line_that_gave_up_polls_again_after_a_retry_and_is_delivered(
    open_desk: DeskFactory,
) -> None:
    desk = open_desk(delivery_give_up_hours=1.0)
    taken, line_id = bought(desk, CHATGPT)
    polled(desk, line_id)
    desk.clock.advance(3600)
    assert deliver(desk.ctx, line_id) == []
    assert desk.line(line_id).state == FulfilmentState.NEEDS_ATTENTION

    retry_line(desk.ctx.engine, line_id, desk.clock())
    # A new wait: the hour counts from now, not from the purchase.
    assert polled(desk, line_id) > 0
    assert desk.line(line_id).state == FulfilmentState.PURCHASED
    assert alerts_about(desk, line_id) == [], "the retry resolved it"
    desk.caoshop.complete_pending()
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, taken.order_pk)]
    assert len(desk.caoshop.ledger) == 1


def test_a_supplier_that_never_answers_is_given_up_on_too(open_desk: DeskFactory) -> None:
    desk = open_desk(delivery_give_up_hours=1.0)
    _, line_id = bought(desk, CHATGPT)
    # The supplier's server is gone: nothing listens where the bridge reads it any more.
    with session_scope(desk.ctx.engine) as session:
        supplier = session.get(Supplier, CAOSHOP)
        assert supplier is not None
        supplier.base_url = f"http://127.0.0.1:{closed_port()}/api/v1"
        session.add(supplier)

    [again] = deliver(desk.ctx, line_id)
    assert again.delay_seconds <= 3600
    desk.clock.advance(3600)
    assert deliver(desk.ctx, line_id) == []

    line = desk.line(line_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    # The last word it had from the supplier (the purchase's), and why none came since.
    assert line.reason.startswith(
        f"supplier order {line.trans_id} is still 'pending' after 60 minutes: the bridge stopped "
        "polling (BRIDGE_DELIVERY_GIVE_UP_HOURS); last error: GET /api/v1/orders/status: "
        "supplier unreachable"
    )
    assert len(alerts_about(desk, line_id)) == 1


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
