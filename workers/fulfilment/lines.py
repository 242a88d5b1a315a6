"""Small repository functions for fulfilment rows, shared by every step."""

from __future__ import annotations

from sqlmodel import Session

from bridge.db import utcnow
from bridge.errors import NotFound
from bridge.models import Fulfilment
from bridge.states import FulfilmentState
from workers.queue.context import Context
from workers.queue.dispatch import SETTLE, Send


def load_line(session: Session, fulfilment_id: int | None, *, lock: bool = False) -> Fulfilment:
    """The line ``fulfilment_id``; ``NotFound`` (a LookupError) when there is none.

    ``lock`` holds the row until the transaction ends (``SELECT ... FOR UPDATE``; on SQLite every
    transaction is one writer already): a step that decides from the line's state and other rows
    read after it must not decide from a state another copy of the step has just left.
    """
    line = session.get(Fulfilment, fulfilment_id, with_for_update=lock)
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
