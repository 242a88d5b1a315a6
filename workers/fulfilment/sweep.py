"""The periodic sweep: the database, not the queue, is what guarantees progress.

A row whose lease expired and that is not in a terminal state had its message lost (a crash, a
Redis restart, an embedded broker that died with its process): send it again. Duplicates are
harmless because every step checks the row's state first. A line still ``purchasing`` past its
lease means a worker died mid-call: its outcome is unknown, so it is parked, never re-bought.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome, DelayNotice, FulfilmentState, OrderState
from workers.context import Context
from workers.dispatch import ANNOTATE, DELIVER, INTAKE, PURCHASE, SETTLE, Send
from workers.fulfilment.lines import park_unknown

STEP_FOR_STATE = {
    FulfilmentState.PENDING: PURCHASE,
    FulfilmentState.PURCHASE_UNKNOWN: SETTLE,
    FulfilmentState.PURCHASED: DELIVER,
    FulfilmentState.PARTIAL: DELIVER,
    FulfilmentState.DELIVERED: ANNOTATE,
}
BATCH = 500


def sweep(ctx: Context) -> list[Send]:
    now = ctx.clock()
    renewed = ctx.lease_until(now)
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        expired = session.exec(
            select(Fulfilment)
            .where(
                or_(
                    col(Fulfilment.state).in_([*STEP_FOR_STATE, FulfilmentState.PURCHASING]),
                    col(Fulfilment.delay_notice) == DelayNotice.PENDING,
                )
            )
            .where(col(Fulfilment.lease_until) < now)
            .order_by(col(Fulfilment.lease_until))
            .limit(BATCH)
        ).all()
        annotate_orders: set[int] = set()
        for line in expired:
            assert line.id is not None
            if line.state == FulfilmentState.PURCHASING:
                _abandon_attempts(session, line.id, now)
                reason = "the worker stopped during the purchase; outcome unknown"
                sends.append(park_unknown(ctx, session, line, reason))
                event("sweep.purchase.abandoned", logging.WARNING, id=line.id)
                continue
            line.lease_until = renewed
            session.add(line)
            step = STEP_FOR_STATE.get(FulfilmentState(line.state), ANNOTATE)
            if step == ANNOTATE:  # delivered lines, and lines with a delay notice to write
                annotate_orders.add(line.order_pk)
            else:
                sends.append(Send(step, line.id))
        sends.extend(Send(ANNOTATE, order_pk) for order_pk in sorted(annotate_orders))
        orders = session.exec(
            select(Order)
            .where(Order.state == OrderState.PENDING, col(Order.lease_until) < now)
            .limit(BATCH)
        ).all()
        for order in orders:
            assert order.id is not None
            order.lease_until = renewed
            session.add(order)
            sends.append(Send(INTAKE, order.id))
    if sends:
        event("sweep.requeued", count=len(sends))
    return sends


def _abandon_attempts(session: Session, fulfilment_id: int, now: datetime) -> None:
    attempts = session.exec(
        select(PurchaseAttempt).where(
            PurchaseAttempt.fulfilment_id == fulfilment_id,
            PurchaseAttempt.outcome == AttemptOutcome.IN_FLIGHT,
        )
    ).all()
    for attempt in attempts:
        attempt.outcome = AttemptOutcome.UNKNOWN
        attempt.detail = "worker stopped before recording the answer"
        attempt.finished_at = now
        session.add(attempt)
