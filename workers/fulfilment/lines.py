"""Small repository functions for fulfilment rows, shared by every step."""

from __future__ import annotations

from sqlmodel import Session

from bridge.db import utcnow
from bridge.errors import NotFound
from bridge.models import Fulfilment
from bridge.states import FulfilmentState
from workers.queue.context import Context
from workers.queue.dispatch import SETTLE, Send


def load_line(session: Session, fulfilment_id: int | None) -> Fulfilment:
    """The line ``fulfilment_id``, locked; ``NotFound`` (a LookupError) when there is none.

    Every step decides from the line and writes it back in one transaction, and two copies of a
    step can run at once (a redelivery, the sweep). The row is held until the transaction ends
    (``SELECT ... FOR UPDATE``; on SQLite every transaction is the one writer already), so no copy
    decides from a state the other has just left: one that read a line still parked and then
    found its attempt adopted would take a bought line for a broken one. The line is locked
    before its attempts, in every step, so two steps never wait for each other in a circle.
    """
    line = session.get(Fulfilment, fulfilment_id, with_for_update=True)
    if line is None:
        raise NotFound(f"fulfilment {fulfilment_id} does not exist")
    return line


def set_state(
    session: Session, line: Fulfilment, state: FulfilmentState, reason: str | None
) -> None:
    line.state = state
    line.reason = reason
    line.updated_at = utcnow()
    session.add(line)


def park_unknown(ctx: Context, session: Session, line: Fulfilment, reason: str) -> Send:
    """An attempt whose outcome is unknown: visible, never bought again until it is settled.

    Settling is asked at once: it keeps the schedule of its looks from the send
    (``workers.fulfilment.looks``), which may have been long ago (a dead worker's, a timeout),
    and buys again only once ``settle_delay_seconds`` have passed without finding the order.
    """
    assert line.id is not None
    line.lease_until = ctx.lease_until(ctx.clock())
    set_state(session, line, FulfilmentState.PURCHASE_UNKNOWN, reason)
    return Send(SETTLE, line.id)
