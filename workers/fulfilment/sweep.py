"""The periodic sweep: the database, not the queue, is what guarantees progress.

A row whose lease expired and that is not in a terminal state had its message lost (a crash, a
Redis restart, an embedded broker that died with its process): send it again. Duplicates are
harmless because every step checks the row's state first. A line still ``purchasing`` past its
lease lost its worker: it is taken back as ``claims.take_back`` says (bought again only if its
request was never sent, else settled).

The embedded broker keeps its queue in the process's memory, so a process starting on it knows
every message sent before was lost: ``resend_lost_queue`` sends each row's step again at the
moment it was due, without waiting for the leases.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.states import DelayNotice, FulfilmentState, OrderState
from workers.fulfilment.claims import take_back
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, DELIVER, INTAKE, PURCHASE, SETTLE, Send

STEP_FOR_STATE = {
    FulfilmentState.PENDING: PURCHASE,
    FulfilmentState.PURCHASE_UNKNOWN: SETTLE,
    FulfilmentState.PURCHASED: DELIVER,
    FulfilmentState.PARTIAL: DELIVER,
    FulfilmentState.DELIVERED: ANNOTATE,
}
BATCH = 500


def sweep(ctx: Context) -> list[Send]:
    """Send again the step of every row whose lease ran out."""
    return _resend(ctx, lost_queue=False)


def resend_lost_queue(ctx: Context) -> list[Send]:
    """The queue is known lost (an embedded broker starting): send every row's step again, each
    when it was due (its lease less ``lease_seconds``)."""
    return _resend(ctx, lost_queue=True)


def _resend(ctx: Context, *, lost_queue: bool) -> list[Send]:
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        lines = select(Fulfilment).where(
            or_(
                col(Fulfilment.state).in_([*STEP_FOR_STATE, FulfilmentState.PURCHASING]),
                col(Fulfilment.delay_notice) == DelayNotice.PENDING,
            ),
            # No lease: parked until an operator's retry (a note that could not be written).
            col(Fulfilment.lease_until).is_not(None),
        )
        orders = select(Order).where(Order.state == OrderState.PENDING)
        if not lost_queue:
            lines = lines.where(col(Fulfilment.lease_until) < now)
            orders = orders.where(col(Order.lease_until) < now)
        annotate_orders: dict[int, float] = {}
        for line in session.exec(lines.order_by(col(Fulfilment.lease_until)).limit(BATCH)):
            assert line.id is not None
            if line.state == FulfilmentState.PURCHASING:
                # Held by a worker: taken back when that worker is known gone (its lease ran out
                # here, or its heartbeat stopped: claims.recover_dead_workers).
                if line.lease_until is None or line.lease_until < now:
                    sends.extend(take_back(ctx, session, line, now, "its lease ran out"))
                continue
            delay = _due_in(ctx, line.lease_until, now)
            line.lease_until = ctx.lease_until(now, delay)
            session.add(line)
            step = STEP_FOR_STATE.get(FulfilmentState(line.state), ANNOTATE)
            if step == ANNOTATE:  # delivered lines, and lines with a delay notice to write
                earliest = annotate_orders.get(line.order_pk, delay)
                annotate_orders[line.order_pk] = min(delay, earliest)
            else:
                sends.append(Send(step, line.id, delay))
        sends.extend(Send(ANNOTATE, pk, delay) for pk, delay in sorted(annotate_orders.items()))
        for order in session.exec(orders.limit(BATCH)):
            assert order.id is not None
            delay = _due_in(ctx, order.lease_until, now)
            order.lease_until = ctx.lease_until(now, delay)
            session.add(order)
            sends.append(Send(INTAKE, order.id, delay))
    if sends:
        event("sweep.requeued", count=len(sends), lost_queue=lost_queue)
    return sends


def _due_in(ctx: Context, lease_until: datetime | None, now: datetime) -> float:
    """Seconds until a row's step is due: a lease is its due moment plus ``lease_seconds``
    (``Context.lease_until``); an expired one is due now."""
    if lease_until is None:
        return 0.0
    due = lease_until - timedelta(seconds=ctx.settings.lease_seconds)
    return max(0.0, (due - now).total_seconds())
