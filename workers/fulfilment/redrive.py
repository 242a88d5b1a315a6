"""Operator actions on one line: `bridge fulfilments retry` and `resend`. Both are idempotent.

They only change the row and expire its lease; the scheduler's sweep sends the work within one
sweep interval, so they work from any host, with or without a broker at hand.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bridge.db import session_scope
from bridge.models import Fulfilment
from bridge.states import RETRYABLE, FulfilmentState
from workers.fulfilment.lines import load_line, set_state


class RedriveRefused(ValueError):
    """The line is not in a state this action applies to; the message says why."""


def retry_line(engine: Engine, fulfilment_id: int, now: datetime) -> str:
    with session_scope(engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in RETRYABLE:
            return f"line {fulfilment_id} is {line.state}: nothing to retry"
        state = _resume_state(line)
        if state == FulfilmentState.PENDING:
            # Earlier refusals (e.g. INSUFFICIENT_BALANCE before a top-up) no longer count.
            line.retry_from = now
            line.trans_id = None
        line.failures = 0
        line.last_error = None
        line.lease_until = now - timedelta(seconds=1)
        set_state(session, line, state, None)
        return f"line {fulfilment_id} is {state} again; the next sweep picks it up"


def resend_line(engine: Engine, fulfilment_id: int, now: datetime) -> str:
    with session_scope(engine) as session:
        line = load_line(session, fulfilment_id)
        if not line.credentials_enc:
            raise RedriveRefused(f"line {fulfilment_id} has no stored credentials to resend")
        complete = line.delivered_count >= (line.supplier_quantity or 0)
        line.annotated_count = 0
        line.lease_until = now - timedelta(seconds=1)
        state = FulfilmentState.DELIVERED if complete else FulfilmentState.PARTIAL
        set_state(session, line, state, None)
        return f"line {fulfilment_id}: its note block will be rewritten where it is missing"


def _resume_state(line: Fulfilment) -> FulfilmentState:
    """Pick up where the line stopped: write, poll, or buy."""
    if line.credentials_enc and line.delivered_count >= (line.supplier_quantity or 1):
        return FulfilmentState.DELIVERED
    cancelled = (line.reason or "").startswith("supplier cancelled")
    if line.trans_id and not cancelled:
        return FulfilmentState.PURCHASED
    return FulfilmentState.PENDING
