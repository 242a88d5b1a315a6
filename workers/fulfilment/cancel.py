"""A cancelled sale: Pancake shows the order cancelled, deleted or returned (``SALE_OFF``), or
no longer asks for some units (an edit, a partial return: ``workers.fulfilment.reconcile``).

A line not yet claimed for buying is cancelled (nothing bought, nothing written) with the same
conditional UPDATE that keeps purchase claims exclusive: a line is either claimed or cancelled,
never both. A line already bought, or being bought, cannot be undone (the Shop API has no refund):
an alert names it and its supplier order; of a whole sale off, the note is not written either,
since the order is gone.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Update, update
from sqlmodel import Session, col, select

from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.states import FulfilmentState, OrderState
from workers.alerts.store import raise_alert
from workers.queue.context import Context

# Nothing was spent on these: they may simply be dropped.
UNCLAIMED = (FulfilmentState.PENDING, FulfilmentState.NEEDS_ATTENTION)
ALERT_KIND = "cancelled_after_purchase"


def cancel_lines(ctx: Context, session: Session, order: Order, status: int | None) -> int:
    """Cancel the order's unclaimed lines inside the caller's transaction; returns how many.

    Lines bought (or in flight) raise one alert each; the caller records the order's state.
    """
    now = ctx.clock()
    reason = f"order {order.order_id} has status {status} in Pancake: the sale is off"
    cancelled = session.connection().execute(
        _cancelling(reason, now).where(col(Fulfilment.order_pk) == order.id)
    )
    bought = session.exec(
        select(Fulfilment).where(
            Fulfilment.order_pk == order.id,
            col(Fulfilment.state).not_in([FulfilmentState.CANCELLED, *UNCLAIMED]),
        )
    ).all()
    for line in bought:
        what = (
            f"supplier order {line.trans_id} at {line.supplier_name}"
            if line.trans_id
            else (f"a purchase in progress at {line.supplier_name}")
        )
        raise_alert(
            session,
            ALERT_KIND,
            f"{order.shop_id}:{order.order_id}:{line.id}",
            f"order {order.order_id} of shop {order.shop_id} was cancelled in Pancake (status "
            f"{status}) after line {line.id} was bought: {what}; the supplier has no refund API",
            now,
        )
    event(
        "order.cancelled",
        logging.WARNING if bought else logging.INFO,
        order=order.order_id,
        lines=cancelled.rowcount,
        bought=len(bought),
    )
    return int(cancelled.rowcount)


def cancel_line(session: Session, line_id: int, reason: str, now: datetime) -> bool:
    """Cancel one line inside the caller's transaction, unless it was claimed for buying (or
    bought) meanwhile: True when it is cancelled now, and will never be bought."""
    result = session.connection().execute(
        _cancelling(reason, now).where(col(Fulfilment.id) == line_id)
    )
    return result.rowcount == 1


def unbought(line: Fulfilment) -> bool:
    """Nothing was spent on this line as far as this copy of it shows (``cancel_line`` decides:
    a claim may have come since)."""
    return line.state in UNCLAIMED and line.trans_id is None


def _cancelling(reason: str, now: datetime) -> Update:
    """The one UPDATE that cancels lines: only those no purchase has claimed."""
    return (
        update(Fulfilment)
        .where(col(Fulfilment.state).in_(UNCLAIMED), col(Fulfilment.trans_id).is_(None))
        .values(
            state=FulfilmentState.CANCELLED,
            reason=reason,
            delay_notice=None,
            lease_until=None,
            updated_at=now,
        )
    )


def gone(order: Order) -> bool:
    """Nothing may be written into this order's note any more."""
    return order.state == OrderState.CANCELLED
