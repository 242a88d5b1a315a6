"""Small repository functions for fulfilment rows, shared by every step."""

from __future__ import annotations

from sqlmodel import Session

from bridge.db import utcnow
from bridge.models import Fulfilment, FulfilmentState


def load_line(session: Session, fulfilment_id: int | None) -> Fulfilment:
    line = session.get(Fulfilment, fulfilment_id)
    if line is None:
        raise LookupError(f"fulfilment {fulfilment_id} does not exist")
    return line


def set_state(
    session: Session, line: Fulfilment, state: FulfilmentState, reason: str | None
) -> None:
    line.state = state
    line.reason = reason
    line.updated_at = utcnow()
    session.add(line)


def park_unknown(session: Session, line: Fulfilment, reason: str) -> None:
    """An attempt whose outcome is unknown: visible, and never bought again until settled."""
    line.lease_until = None
    set_state(session, line, FulfilmentState.PURCHASE_UNKNOWN, reason)
