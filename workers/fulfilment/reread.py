"""Before buying for a line that waited, look at its order again.

A line can wait long before it is bought (a paused supplier, a spent budget, an operator's retry),
and Pancake promises no webhook for what happened meanwhile: the sale may have been cancelled, or
the order edited. When the order was last read longer ago than ``order_reread_seconds``, it is
read once more: a cancelled, deleted or returned order cancels its unclaimed lines instead of
buying them; any other answer makes the order's lines match it (``reconcile``: an edit may cancel
this very line, or add others) and refreshes the copy that field placeholders are filled from.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.vocabulary import SALE_OFF
from bridge.states import FulfilmentState, OrderState
from workers.fulfilment.bounds import order_problem
from workers.fulfilment.cancel import cancel_lines
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.reconcile import reconcile
from workers.queue.context import Context
from workers.queue.dispatch import PURCHASE, Send


def reread_if_stale(ctx: Context, fulfilment_id: int) -> list[Send] | None:
    """None: buy now. Otherwise the line is not bought now, and these are its follow-ups."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        order = session.get(Order, line.order_pk)
        if line.state != FulfilmentState.PENDING or order is None:
            return None
        fresh = now - timedelta(seconds=ctx.settings.order_reread_seconds)
        if order.read_at is not None and order.read_at >= fresh:
            return None
        shop = session.get(PancakeShop, order.shop_id)
        if shop is None:
            return None  # the purchase step says what is wrong with a removed shop
        client = ctx.pancake(shop)
        shop_id, order_id, order_pk = order.shop_id, order.order_id, order.id
    try:
        remote = client.get_order(shop_id, order_id)
    except PancakeUnavailable as exc:
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            line.failures += 1
            line.last_error = f"re-reading the order before buying: {exc}"[:500]
            delay = ctx.retry_delay(line.failures)
            line.lease_until = ctx.lease_until(now, delay)
            session.add(line)
        return [Send(PURCHASE, fulfilment_id, delay)]
    except PancakeRequestError as exc:
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            reason = f"Pancake refused the order read before buying: {exc}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason[:500])
        return []
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk, with_for_update=True)
        assert order is not None
        if order.read_at is not None and order.read_at > now:
            # A read sent after this one (the intake of a cancel or an edit, run meanwhile)
            # has made the lines match the order already: it decides, not this older answer.
            event("fulfilment.reread.superseded", id=fulfilment_id)
            kept = load_line(session, fulfilment_id).state == FulfilmentState.PENDING
            return None if kept else []
        if remote.status in SALE_OFF:
            event("fulfilment.reread.cancelled", logging.WARNING, id=fulfilment_id)
            order.read_at = now
            order.state = OrderState.CANCELLED
            order.last_error = f"status {remote.status}: cancelled in Pancake"
            session.add(order)
            session.flush()  # the order's row first, then its lines, as every step locks them
            cancel_lines(ctx, session, order, remote.status)
            return []
        if order.state == OrderState.CANCELLED:
            # An older read cancelled it and this one shows the sale on again: the webhook of
            # the restore has intake read it again; this line was cancelled with the sale.
            event("fulfilment.reread.superseded", id=fulfilment_id)
            return []
        problem = order_problem(remote, max_quantity=ctx.settings.intake_max_quantity)
        if problem is not None:
            # What the order asks for now cannot be told: nothing is bought on a guess.
            reason = f"re-reading the order before buying: refused: {problem}"
            line = load_line(session, fulfilment_id)
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason[:500])
            return []
        sends = reconcile(ctx, session, order, remote, now)
        session.flush()
        if load_line(session, fulfilment_id).state != FulfilmentState.PENDING:
            return sends  # the order no longer asks for this line
        if not sends:
            return None
    # The order asks for more too: its new lines are sent, and this one goes on as a message of
    # its own (its order was just read, so it buys without reading it again).
    return [*sends, Send(PURCHASE, fulfilment_id)]
