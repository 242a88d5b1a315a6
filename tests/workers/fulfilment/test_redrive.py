"""Operator re-drives (``bridge fulfilments retry`` and ``resend``): they only change the row and
expire its lease; the sweep sends the step, which then does the work once."""

from __future__ import annotations

from bridge.dev.sandbox import PANCAKE_API_KEY
from bridge.pancake.client import PancakeClient
from bridge.states import FulfilmentState
from tests.e2e.world import NETFLIX
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.annotate import annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.notes import begin_marker
from workers.fulfilment.purchase import purchase
from workers.fulfilment.redrive import resend_line, retry_line
from workers.fulfilment.sweep import sweep
from workers.queue.dispatch import ANNOTATE, DELIVER, PURCHASE, Send

NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def test_a_retried_line_is_bought_once_the_balance_is_topped_up(desk: Desk) -> None:
    desk.caoshop.set_balance(0)
    [line_id] = desk.take_in(NETFLIX_LINE).line_ids
    purchase(desk.ctx, line_id)
    purchase(desk.ctx, line_id)
    assert desk.line(line_id).state == FulfilmentState.NEEDS_ATTENTION
    desk.caoshop.set_balance(1_000_000)

    assert retry_line(desk.ctx.engine, line_id, desk.clock()).changed
    assert not retry_line(desk.ctx.engine, line_id, desk.clock()).changed, "idempotent"

    # The earlier INSUFFICIENT_BALANCE no longer rules the supplier out.
    assert sweep(desk.ctx) == [Send(PURCHASE, line_id)]
    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]
    [bought] = desk.caoshop.ledger
    assert desk.line(line_id).trans_id == bought.trans_id
    assert sweep(desk.ctx) == []


def test_a_resent_line_writes_its_block_again_where_staff_removed_it(desk: Desk) -> None:
    taken = desk.take_in(NETFLIX_LINE)
    [line_id] = taken.line_ids
    purchase(desk.ctx, line_id)
    deliver(desk.ctx, line_id)
    annotate(desk.ctx, taken.order_pk)
    [credential] = desk.caoshop.ledger[0].items
    # Staff overwrite the note in Pancake.
    with PancakeClient(desk.ctx.settings.pancake_base_url, PANCAKE_API_KEY) as staff:
        staff.update_order(desk.shop_id, taken.order_id, {"note": "oops"})
    assert credential not in desk.note(taken.order_id)

    assert resend_line(desk.ctx.engine, line_id, desk.clock()).changed
    assert sweep(desk.ctx) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []

    note = desk.note(taken.order_id)
    assert note.startswith("oops\n\n" + begin_marker(line_id))
    assert note.count(credential) == 1
    assert desk.line(line_id).state == FulfilmentState.ANNOTATED
    assert annotate(desk.ctx, taken.order_pk) == []
    assert desk.note(taken.order_id) == note
