"""Purchases whose worker is gone: taken back at once, never bought twice.

A line is ``purchasing`` while one worker holds it, and its attempt says which worker and
whether the request was sent (``purchase.mark_sent``, just before it goes out). When that worker
stopped beating (``workers/queue/heartbeat.py``), or, for a worker with no heartbeat (a CLI
run), when the line outlived its lease, the line is taken back:

- never marked sent: nothing went out. The attempt closes as ``not_sent`` and the line is bought
  again at once. The conditional update races the owner's own mark: if the owner was alive
  after all, exactly one of the two wins, and the loser sends nothing;
- marked sent: the outcome is unknown. The line is parked and settled from the supplier's order
  list, looked at from a few seconds after the request was sent (``workers.fulfilment.looks``);
  it is bought again only once ``settle_delay_seconds`` have passed without the order found.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from workers.fulfilment.lines import park_unknown, set_state
from workers.queue.context import Context
from workers.queue.dispatch import PURCHASE, Send
from workers.queue.heartbeat import dead_workers, forget

BATCH = 500


def recover_dead_workers(ctx: Context) -> list[Send]:
    """Take back what dead worker processes held; run by the scheduler every few seconds."""
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        dead = list(session.exec(dead_workers(ctx, now)).all())
        if not dead:
            return []
        lines = session.exec(
            select(Fulfilment)
            .join(PurchaseAttempt, col(PurchaseAttempt.fulfilment_id) == col(Fulfilment.id))
            .where(
                col(PurchaseAttempt.worker_id).in_(dead),
                PurchaseAttempt.outcome == AttemptOutcome.IN_FLIGHT,
                Fulfilment.state == FulfilmentState.PURCHASING,
            )
            .limit(BATCH)
        ).all()
        for line in lines:
            sends.extend(take_back(ctx, session, line, now, "its worker stopped"))
    if len(lines) < BATCH:
        forget(ctx, dead)
    return sends


def take_back(
    ctx: Context, session: Session, line: Fulfilment, now: datetime, why: str
) -> list[Send]:
    """Go on with a ``purchasing`` line whose holder is gone, from what its attempt proves."""
    assert line.id is not None
    # The line first, locked, as every step that decides from a line and its attempts takes
    # them: its owner recording an answer meanwhile is then seen done, or waits.
    session.refresh(line, with_for_update=True)
    if line.state != FulfilmentState.PURCHASING:
        return []  # its owner concluded after all
    attempts = session.exec(
        select(PurchaseAttempt.id).where(
            PurchaseAttempt.fulfilment_id == line.id,
            PurchaseAttempt.outcome == AttemptOutcome.IN_FLIGHT,
        )
    ).all()
    conn = session.connection()
    unsent = sent = 0
    for attempt_id in attempts:
        open_ = update(PurchaseAttempt).where(
            col(PurchaseAttempt.id) == attempt_id,
            col(PurchaseAttempt.outcome) == AttemptOutcome.IN_FLIGHT,
        )
        closed = conn.execute(
            open_.where(col(PurchaseAttempt.sent_at).is_(None)).values(
                outcome=AttemptOutcome.NOT_SENT, detail=f"{why} before sending", finished_at=now
            )
        )
        if closed.rowcount == 1:
            unsent += 1
            continue
        # Marked sent (or concluded by its owner meanwhile, which this update then leaves be).
        abandoned = conn.execute(
            open_.values(
                outcome=AttemptOutcome.UNKNOWN,
                detail=f"{why} before recording the answer",
                finished_at=now,
            )
        )
        sent += abandoned.rowcount
    if sent or not unsent:
        # Without any open attempt nothing proves it unsent: settling looks, and asks a person.
        event("fulfilment.purchase.abandoned", logging.WARNING, id=line.id, why=why)
        return [park_unknown(ctx, session, line, f"{why} during the purchase; outcome unknown")]
    event("fulfilment.purchase.reclaimed", logging.WARNING, id=line.id, why=why)
    line.lease_until = ctx.lease_until(now)
    set_state(session, line, FulfilmentState.PENDING, None)
    return [Send(PURCHASE, line.id)]
