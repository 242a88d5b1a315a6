"""Before buying for a line that waited, look at its order again.

A line can wait long before it is bought (a paused supplier, a spent budget, an operator's retry),
and Pancake promises no webhook for what happened meanwhile: the sale may have been cancelled.
When the order was last read longer ago than ``order_reread_seconds``, it is read once more; a
cancelled, deleted or returned order cancels its unclaimed lines instead of buying them, and any
other answer refreshes the copy that field placeholders are filled from.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.vocabulary import CANCELLING
from bridge.states import FulfilmentState, OrderState
from workers.fulfilment.cancel import cancel_lines
from workers.fulfilment.lines import load_line, set_state
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
        order = session.get(Order, order_pk)
        assert order is not None
        order.read_at = ctx.clock()
        order.snapshot_enc = ctx.box.encrypt(json.dumps(remote.raw))
        session.add(order)
        if remote.status not in CANCELLING:
            return None
        event("fulfilment.reread.cancelled", logging.WARNING, id=fulfilment_id)
        cancel_lines(ctx, session, order, remote.status)
        order.state = OrderState.CANCELLED
        order.last_error = f"status {remote.status}: cancelled in Pancake"
        return []
