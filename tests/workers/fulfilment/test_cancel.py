"""A sale called off in Pancake (``workers/fulfilment/cancel.py``), through the steps that see
it: intake reading a cancelled order, a waiting line re-reading its order before buying, and the
note writer. Lines not yet bought are never bought; nothing is written into a cancelled order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bridge.pancake.client import PancakeClient
from bridge.states import FulfilmentState, OrderState
from tests.e2e.world import CANVA, NETFLIX
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment import intake as intaking
from workers.fulfilment import reported as reporting
from workers.fulfilment.annotate import annotate
from workers.fulfilment.bounds import order_problem
from workers.fulfilment.cancel import ALERT_KIND
from workers.fulfilment.deliver import deliver
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import purchase
from workers.queue.dispatch import ANNOTATE, DELIVER, INTAKE, PURCHASE, Send

CANCELLED = 6
TWO_LINES = [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 1}]


def test_a_cancelled_order_stops_every_line_not_yet_bought(desk: Desk) -> None:
    taken = desk.take_in(TWO_LINES)
    desk.sandbox.pancake.set_status(desk.shop_id, taken.order_id, CANCELLED)

    assert desk.report(taken.order_id) == [Send(INTAKE, taken.order_pk)]
    assert intake(desk.ctx, taken.order_pk) == []

    assert desk.order_row(taken.order_pk).state == OrderState.CANCELLED
    for line in desk.lines(taken.order_pk):
        assert line.state == FulfilmentState.CANCELLED
        assert line.reason == f"order {taken.order_id} has status 6 in Pancake: the sale is off"
    # The purchase messages intake sent earlier arrive now: they buy nothing.
    for line_id in taken.line_ids:
        assert purchase(desk.ctx, line_id) == []
    assert desk.caoshop.ledger == []
    assert desk.shopkey.ledger == []
    assert desk.note_writes(taken.order_id) == 0
    assert desk.open_alerts() == {}, "nothing was spent: nobody needs to act"


def test_a_line_bought_before_the_cancel_is_alerted_and_its_credentials_stay_out_of_the_note(
    desk: Desk,
) -> None:
    taken = desk.take_in(TWO_LINES)
    netflix, canva = taken.line_ids
    assert purchase(desk.ctx, netflix) == [Send(DELIVER, netflix, 0.0)]
    assert deliver(desk.ctx, netflix) == [Send(ANNOTATE, taken.order_pk)]
    desk.sandbox.pancake.set_status(desk.shop_id, taken.order_id, CANCELLED)
    [order] = desk.caoshop.ledger

    assert desk.report(taken.order_id) == [Send(INTAKE, taken.order_pk)]
    assert intake(desk.ctx, taken.order_pk) == []
    # The note writer's message, sent when the line was delivered, comes after the cancel.
    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.line(canva).state == FulfilmentState.CANCELLED
    assert purchase(desk.ctx, canva) == []
    assert desk.shopkey.ledger == []
    line = desk.line(netflix)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason == "the order was cancelled in Pancake after delivery; credentials kept"
    assert desk.credentials(netflix) == order.items, "kept for `fulfilments resend`"
    assert desk.note_writes(taken.order_id) == 0
    alert = desk.open_alerts()[(ALERT_KIND, f"{desk.shop_id}:{taken.order_id}:{netflix}")]
    assert f"supplier order {order.trans_id} at caoshop-sim" in alert


def test_a_line_that_waited_reads_its_order_again_before_buying(desk: Desk) -> None:
    """No webhook told the bridge of the cancel; the line's copy of the order is old."""
    [line_id] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids
    order_id = desk.line(line_id).order_id
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, CANCELLED)
    reads = desk.order_reads(order_id)
    desk.clock.advance(desk.ctx.settings.order_reread_seconds + 1)

    assert purchase(desk.ctx, line_id) == []

    assert desk.order_reads(order_id) == reads + 1
    assert desk.caoshop.ledger == []
    line = desk.line(line_id)
    assert line.state == FulfilmentState.CANCELLED
    assert desk.order_row(line.order_pk).state == OrderState.CANCELLED


def test_a_fresh_line_is_bought_without_reading_its_order_again(desk: Desk) -> None:
    [line_id] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids
    order_id = desk.line(line_id).order_id
    reads = desk.order_reads(order_id)

    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]

    assert desk.order_reads(order_id) == reads
    assert len(desk.caoshop.ledger) == 1


def test_a_cancelled_order_the_bridge_never_saw_costs_nothing(desk: Desk) -> None:
    order_id = desk.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, CANCELLED)

    assert desk.report(order_id) == []

    assert desk.order_reads(order_id) == 0
    assert desk.sandbox.fulfilments() == []


def cancelled_meanwhile(desk: Desk, order_id: str, order_pk: int) -> None:
    """Staff cancel the order, its webhook comes, and the intake it queues runs (if one is)."""
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, CANCELLED)
    if desk.report(order_id):
        assert intake(desk.ctx, order_pk) == []


def test_a_line_whose_order_is_cancelled_while_it_reads_the_order_again_buys_nothing(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line reads its waiting order (still confirmed), and before it records that read the
    cancel's own intake has read and cancelled the order: the older read must not win."""
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids
    desk.clock.advance(desk.ctx.settings.order_reread_seconds + 1)
    read = PancakeClient.get_order
    once: list[bool] = []

    def cancel_while_answering(client: PancakeClient, shop_id: str, order_id: str) -> Any:
        remote = read(client, shop_id, order_id)
        if not once:
            once.append(True)
            cancelled_meanwhile(desk, taken.order_id, taken.order_pk)
        return remote

    monkeypatch.setattr(PancakeClient, "get_order", cancel_while_answering)
    sends = purchase(desk.ctx, line_id)
    monkeypatch.undo()
    for send in sends:
        assert send.actor == PURCHASE
        assert purchase(desk.ctx, send.entity_id) == []

    assert desk.caoshop.ledger == [], "nothing bought for a cancelled sale"
    assert desk.order_row(taken.order_pk).state == OrderState.CANCELLED
    assert [line.state for line in desk.lines(taken.order_pk)] == [FulfilmentState.CANCELLED]


def test_an_intake_whose_order_is_cancelled_while_it_reads_creates_nothing_to_buy(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Intake read the order confirmed; the cancel's webhook came before intake recorded the
    read: it reads again before any line is bought."""
    order_id = desk.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    order_pk = desk.reported(order_id)

    def cancel_while_judging(*args: Any, **kwargs: Any) -> Any:
        desk.sandbox.pancake.set_status(desk.shop_id, order_id, CANCELLED)
        assert desk.report(order_id) == [], "an intake is queued already: it reads again"
        return order_problem(*args, **kwargs)

    monkeypatch.setattr(intaking, "order_problem", cancel_while_judging)
    assert intake(desk.ctx, order_pk) == [Send(INTAKE, order_pk)]
    monkeypatch.undo()
    assert desk.lines(order_pk) == []

    assert intake(desk.ctx, order_pk) == []
    assert desk.order_row(order_pk).state == OrderState.CANCELLED
    assert desk.lines(order_pk) == []


def test_a_cancel_reported_while_an_intake_concludes_is_read_again(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the webhook can read the order still pending while an intake commits it
    synced: the cancel must still be read, not only counted against an intake that is over."""
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    assert desk.order_row(taken.order_pk).state == OrderState.SYNCED
    find = reporting._find

    def still_pending(*args: Any) -> Any:
        known = find(*args)
        assert known is not None
        return replace(known, state=OrderState.PENDING)

    monkeypatch.setattr(reporting, "_find", still_pending)
    desk.sandbox.pancake.set_status(desk.shop_id, taken.order_id, CANCELLED)

    assert desk.report(taken.order_id) == [Send(INTAKE, taken.order_pk)]

    monkeypatch.undo()
    assert intake(desk.ctx, taken.order_pk) == []
    assert desk.order_row(taken.order_pk).state == OrderState.CANCELLED
    [line_id] = taken.line_ids
    assert purchase(desk.ctx, line_id) == []
    assert desk.caoshop.ledger == []
