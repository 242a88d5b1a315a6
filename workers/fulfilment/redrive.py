"""Operator re-drives: `bridge fulfilments retry` and `resend` for a line, `bridge orders retry`
for an order, and the orders a new shop key may unblock. All are idempotent.

They only change the row and expire its lease; the scheduler's sweep sends the work within one
sweep interval, so they work from any host, with or without a broker at hand. They return what
happened (``Redrive``); the front ends say it in their own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.errors import NotFound, Refused
from bridge.models import Fulfilment, Order
from bridge.states import RETRYABLE, FulfilmentState, OrderState
from workers.alerts.store import resolve_alert
from workers.fulfilment.annotate import LINE_FAILED_ALERT
from workers.fulfilment.failures import ORDER_FAILED_ALERT, OrderFailure
from workers.fulfilment.lines import load_line, set_state

RETRIED = "an operator re-drove it"


@dataclass(frozen=True)
class Redrive:
    """The outcome of a retry or resend: the row's state now, and whether this call moved it.

    ``id`` is the line's (or, for an order, the order's) id. ``changed`` is False when there was
    nothing to do (a retry of a line that is not ``needs_attention`` or ``failed``, of an order
    that is not ``failed``).
    """

    id: int
    state: FulfilmentState | OrderState
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
        # A failure after this is a new incident, and says so (needs_attention: alerts.watch).
        resolve_alert(session, LINE_FAILED_ALERT, str(fulfilment_id), now, note=RETRIED)
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
        resolve_alert(session, LINE_FAILED_ALERT, str(fulfilment_id), now, note=RETRIED)
        return Redrive(fulfilment_id, state, changed=True)


def _resume_state(line: Fulfilment) -> FulfilmentState:
    """Pick up where the line stopped: write, poll, or buy."""
    if line.credentials_enc and line.delivered_count >= (line.supplier_quantity or 1):
        return FulfilmentState.DELIVERED
    cancelled = (line.reason or "").startswith("supplier cancelled")
    if line.trans_id and not cancelled:
        return FulfilmentState.PURCHASED
    return FulfilmentState.PENDING


def retry_order(engine: Engine, order_pk: int, now: datetime) -> Redrive:
    """Have intake read a ``failed`` order again, with a fresh failure count.

    Raises ``NotFound`` for a missing order.
    """
    with session_scope(engine) as session:
        order = session.get(Order, order_pk)
        if order is None:
            raise NotFound(f"order {order_pk} does not exist")
        if order.state != OrderState.FAILED:
            return Redrive(order_pk, OrderState(order.state), changed=False)
        _requeue(session, [order_pk], now)
        return Redrive(order_pk, OrderState.PENDING, changed=True)


def retry_orders_failed_on_key(session: Session, shop_id: str, now: datetime) -> list[int]:
    """The shop has a new Pancake key: re-drive its orders that failed on the old one (401/403),
    inside the caller's transaction. Returns their ids."""
    ids = [
        order_pk
        for order_pk in session.exec(
            select(Order.id).where(
                Order.shop_id == shop_id,
                Order.state == OrderState.FAILED,
                Order.failure_kind == OrderFailure.PANCAKE_KEY,
            )
        )
        if order_pk is not None
    ]
    _requeue(session, ids, now)
    return ids


def _requeue(session: Session, order_pks: list[int], now: datetime) -> None:
    """Back to ``pending`` with an expired lease: the next sweep sends their intake."""
    if not order_pks:
        return
    failed = session.exec(
        select(Order.shop_id, Order.order_id).where(
            col(Order.id).in_(order_pks), Order.state == OrderState.FAILED
        )
    ).all()
    for shop_id, order_id in failed:
        resolve_alert(session, ORDER_FAILED_ALERT, f"{shop_id}:{order_id}", now, note=RETRIED)
    session.connection().execute(
        update(Order)
        .where(col(Order.id).in_(order_pks), col(Order.state) == OrderState.FAILED)
        .values(
            state=OrderState.PENDING,
            failures=0,
            failure_kind=None,
            failed_at=None,
            lease_until=now - timedelta(seconds=1),
            updated_at=now,
        )
    )
