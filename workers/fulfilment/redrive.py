"""Operator actions on one line: `bridge fulfilments retry` and `resend`. Both are idempotent.

They only change the row and expire its lease; the scheduler's sweep sends the work within one
sweep interval, so they work from any host, with or without a broker at hand. They return what
happened (``Redrive``); the front ends say it in their own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bridge.db import session_scope
from bridge.errors import Refused
from bridge.models import Fulfilment
from bridge.states import RETRYABLE, FulfilmentState
from workers.fulfilment.lines import load_line, set_state


@dataclass(frozen=True)
class Redrive:
    """The outcome of a retry or resend: the line's state now, and whether this call moved it.

    ``changed`` is False when there was nothing to do (a retry of a line that is not
    ``needs_attention`` or ``failed``).
    """

    line_id: int
    state: FulfilmentState
    changed: bool


def retry_line(engine: Engine, fulfilment_id: int, now: datetime) -> Redrive:
    """Re-drive a ``needs_attention``/``failed`` line from where it stopped.

    Raises ``NotFound`` for a missing line.
    """
    with session_scope(engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in RETRYABLE:
            return Redrive(fulfilment_id, FulfilmentState(line.state), changed=False)
        state = _resume_state(line)
        if state == FulfilmentState.PENDING:
            # Earlier refusals (e.g. INSUFFICIENT_BALANCE before a top-up) no longer count.
            line.retry_from = now
            line.trans_id = None
        line.failures = 0
        line.last_error = None
        line.lease_until = now - timedelta(seconds=1)
        set_state(session, line, state, None)
        return Redrive(fulfilment_id, state, changed=True)


def resend_line(engine: Engine, fulfilment_id: int, now: datetime) -> Redrive:
    """Write a line's stored credentials into the note again where they are missing.

    Raises ``NotFound`` for a missing line and ``Refused`` when it has no stored credentials.
    """
    with session_scope(engine) as session:
        line = load_line(session, fulfilment_id)
        if not line.credentials_enc:
            raise Refused(f"line {fulfilment_id} has no stored credentials to resend")
        complete = line.delivered_count >= (line.supplier_quantity or 0)
        line.annotated_count = 0
        line.lease_until = now - timedelta(seconds=1)
        state = FulfilmentState.DELIVERED if complete else FulfilmentState.PARTIAL
        set_state(session, line, state, None)
        return Redrive(fulfilment_id, state, changed=True)


def _resume_state(line: Fulfilment) -> FulfilmentState:
    """Pick up where the line stopped: write, poll, or buy."""
    if line.credentials_enc and line.delivered_count >= (line.supplier_quantity or 1):
        return FulfilmentState.DELIVERED
    cancelled = (line.reason or "").startswith("supplier cancelled")
    if line.trans_id and not cancelled:
        return FulfilmentState.PURCHASED
    return FulfilmentState.PENDING
