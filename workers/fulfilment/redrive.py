"""Operator re-drives: `bridge fulfilments retry` and `resend` for a line, `bridge orders retry`
for an order, `bridge orders fulfil` for an order created before its shop fulfils from, and the
orders a new shop key or an earlier ``--since`` may unblock. All are idempotent.

They only change the row and expire its lease; the scheduler's sweep sends the work within one
sweep interval, so they work from any host, with or without a broker at hand. They return what
happened (``Redrive``); the front ends say it in their own words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bridge.db import insert_ignore, session_scope
from bridge.errors import NotFound, Refused
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.models import PancakeShop
from bridge.states import RETRYABLE, FulfilmentState, OrderFailure, OrderState
from workers.alerts.store import resolve_alert
from workers.fulfilment.annotate import LINE_FAILED_ALERT
from workers.fulfilment.failures import ORDER_FAILED_ALERT
from workers.fulfilment.lines import load_line, set_state

RETRIED = "an operator re-drove it"
# An operator's `orders fulfil` has intake read the order again from these (an order pending is
# read again too; one synced already has its lines).
REREAD_ON_REQUEST = frozenset({OrderState.SKIPPED, OrderState.FAILED, OrderState.CANCELLED})


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
        state = resend(session, line, now)
        resolve_alert(session, LINE_FAILED_ALERT, str(fulfilment_id), now, note=RETRIED)
        return Redrive(fulfilment_id, state, changed=True)


def resend(session: Session, line: Fulfilment, now: datetime) -> FulfilmentState:
    """Have the note writer write ``line``'s stored credentials wherever the note lacks them,
    inside the caller's transaction (the sweep sends it, or the caller does); its new state."""
    complete = line.delivered_count >= (line.supplier_quantity or 0)
    line.annotated_count = 0
    line.lease_until = now - timedelta(seconds=1)
    state = FulfilmentState.DELIVERED if complete else FulfilmentState.PARTIAL
    set_state(session, line, state, None)
    return state


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


def fulfil_order(engine: Engine, shop_id: str, order_id: str, actor: str, now: datetime) -> Redrive:
    """An operator asks for Pancake order ``order_id`` to be fulfilled although it was created
    before its shop fulfils from (``PancakeShop.fulfil_from``); ``actor`` is who asks ("cli", or
    the console user), kept on the order with the moment.

    Intake then reads it as any order: it is bought if Pancake shows it in one of the shop's
    trigger statuses, each line once. An order the bridge never saw gets its row now. Asking
    again changes nothing. Raises ``NotFound`` for an unknown shop.
    """
    with session_scope(engine) as session:
        if session.get(PancakeShop, shop_id) is None:
            raise NotFound(f"no shop {shop_id}: add it first (bridge shops add {shop_id})")
        new_id = insert_ignore(
            session.connection(),
            Order.__table__,  # type: ignore[attr-defined]
            {
                "shop_id": shop_id,
                "order_id": order_id,
                "state": OrderState.PENDING,
                "fulfil_asked_by": actor,
                "fulfil_asked_at": now,
                "lease_until": now - timedelta(seconds=1),
                "created_at": now,
                "updated_at": now,
            },
            ["shop_id", "order_id"],
        )
        if new_id is not None:
            event("order.fulfil_asked", shop=shop_id, order=order_id, id=new_id, new=True)
            return Redrive(new_id, OrderState.PENDING, changed=True)
        order = session.exec(
            select(Order).where(Order.shop_id == shop_id, Order.order_id == order_id)
        ).one()
        assert order.id is not None
        asked_before = order.fulfil_asked_at is not None
        if not asked_before:
            order.fulfil_asked_by, order.fulfil_asked_at = actor, now
            session.add(order)
            session.flush()
        event("order.fulfil_asked", shop=shop_id, order=order_id, id=order.id, new=False)
        if order.state == OrderState.PENDING:
            # An intake under way may have judged it without the operator's word: read again.
            _reopen(session, [order.id], now, OrderState.PENDING)
            return Redrive(order.id, OrderState.PENDING, changed=not asked_before)
        if order.state not in REREAD_ON_REQUEST:
            return Redrive(order.id, OrderState(order.state), changed=False)
        _reopen(session, [order.id], now, OrderState(order.state))
        return Redrive(order.id, OrderState.PENDING, changed=True)


def reread_window(
    session: Session, shop_id: str, fulfil_from: datetime, now: datetime
) -> list[int]:
    """The shop now fulfils orders created from ``fulfil_from``: the orders skipped as older, that
    are not, are read again, inside the caller's transaction. Returns their ids."""
    return _reopen_skipped(
        session,
        shop_id,
        now,
        col(Order.predates_shop).is_(True),
        or_(col(Order.placed_at).is_(None), col(Order.placed_at) >= fulfil_from),
    )


def reread_held(session: Session, shop_id: str, since: datetime, now: datetime) -> list[int]:
    """The shop is enabled again: its orders skipped since it was disabled (``since``) are read
    again, inside the caller's transaction, and bought if Pancake still shows them in a trigger
    status. Returns their ids."""
    return _reopen_skipped(
        session, shop_id, now, col(Order.predates_shop).is_(False), col(Order.updated_at) >= since
    )


def _reopen_skipped(
    session: Session, shop_id: str, now: datetime, *which: ColumnElement[bool]
) -> list[int]:
    """The shop's skipped orders that match ``which``, read again; their ids."""
    ids = [
        order_pk
        for order_pk in session.exec(
            select(Order.id).where(
                Order.shop_id == shop_id, Order.state == OrderState.SKIPPED, *which
            )
        )
        if order_pk is not None
    ]
    _reopen(session, ids, now, OrderState.SKIPPED)
    return ids


def _reopen(session: Session, order_pks: list[int], now: datetime, state: OrderState) -> None:
    """Those of ``order_pks`` still in ``state`` back to ``pending`` with an expired lease (the
    next sweep sends their intake) and a new generation (an intake under way reads again)."""
    if not order_pks:
        return
    if state == OrderState.FAILED:
        _requeue(session, order_pks, now)
        return
    session.connection().execute(
        update(Order)
        .where(col(Order.id).in_(order_pks), col(Order.state) == state)
        .values(
            state=OrderState.PENDING,
            generation=col(Order.generation) + 1,
            predates_shop=False,
            failures=0,
            lease_until=now - timedelta(seconds=1),
            updated_at=now,
        )
    )


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
            generation=col(Order.generation) + 1,
            failures=0,
            failure_kind=None,
            failed_at=None,
            lease_until=now - timedelta(seconds=1),
            updated_at=now,
        )
    )
