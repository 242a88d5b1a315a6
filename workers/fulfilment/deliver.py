"""fulfilment.deliver: poll the supplier until the order completes, then keep the credentials.

Manual plans can take hours, so the wait between polls grows (``poll_initial_seconds`` times
``poll_factor`` per poll, capped at ``poll_max_seconds``). A bought line is never given up on:
read errors only lengthen the wait, and the reason stays visible in ``last_error``. A refusal
waits too while it may not be final: within ``status_grace_seconds`` of the purchase (the supplier
may not list a fresh order yet), and whenever it is the key's or the base URL's fault (an alert
says so; the line goes on once the operator fixes it).

Credentials are kept only from an answer about the order that was bought: its ``trans_id``, and
where the dialect shows them its plan and quantity, must be the line's, or the line stops for a
person before anything reaches the customer.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from sqlmodel import Session, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AWAITING_DELIVERY, FulfilmentState
from bridge.supplier import breaker
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import ListingIncomplete, SupplierRefused, SupplierTransient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderStatus
from bridge.supplier.vocabulary import AUTH_CODES, FINISHED, SupplierStatus
from workers.alerts.store import raise_alert
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.poll_batch import poll_batch, waiting_orders
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, DELIVER, Send


def deliver(ctx: Context, fulfilment_id: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in AWAITING_DELIVERY or line.trans_id is None:
            return []
        supplier = session.get(Supplier, line.supplier_name)
        if supplier is None:
            set_state(
                session,
                line,
                FulfilmentState.NEEDS_ATTENTION,
                f"supplier {line.supplier_name} was removed",
            )
            return []
        trans_id = line.trans_id
        batched = (
            line.supplier_status not in FINISHED and waiting_orders(session, supplier.name) > 1
        )
        poll_delay = ctx.poll_delay(line.polls)
    if batched:
        try:
            found = poll_batch(ctx, fulfilment_id, supplier, poll_delay)
        except ListingIncomplete:
            pass  # the supplier's list cannot be read whole: ask for this order by itself
        else:
            if found is not None and Send(DELIVER, fulfilment_id) in found:
                return found
            return (found or []) + _wait(ctx, fulfilment_id, error=None)
    try:
        status = ctx.supplier(supplier).order_status(trans_id)
    except SupplierRefused as exc:
        return _refused(ctx, fulfilment_id, trans_id, exc)
    except SupplierTransient as exc:
        breaker.record_failure(ctx.engine, ctx.settings, supplier.name, str(exc), ctx.clock())
        return _wait(ctx, fulfilment_id, error=str(exc))
    except BudgetExhausted as exc:
        return _wait(ctx, fulfilment_id, error=str(exc), delay=exc.retry_after)
    return _apply(ctx, fulfilment_id, status)


def _refused(ctx: Context, fulfilment_id: int, trans_id: str, exc: SupplierRefused) -> list[Send]:
    now = ctx.clock()
    reason = f"{exc.error_code}: supplier cannot show order {trans_id}: {exc.message}"
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        supplier = line.supplier_name or ""
        if exc.error_code in AUTH_CODES:
            raise_alert(
                session,
                exc.error_code.lower(),
                supplier,
                f"supplier {supplier} refused to show bought orders: {exc.message}",
                now,
            )
            waits = True
        else:
            bought_at = _bought_at(session, fulfilment_id, trans_id) or line.updated_at
            waits = now - bought_at < timedelta(seconds=ctx.settings.status_grace_seconds)
        if not waits:
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            return []
    event("fulfilment.deliver.refused", logging.WARNING, id=fulfilment_id, code=exc.error_code)
    return _wait(ctx, fulfilment_id, error=reason)


def _bought_at(session: Session, fulfilment_id: int, trans_id: str) -> datetime | None:
    return session.exec(
        select(PurchaseAttempt.finished_at).where(
            PurchaseAttempt.fulfilment_id == fulfilment_id, PurchaseAttempt.trans_id == trans_id
        )
    ).first()


def _mismatch(line: Fulfilment, status: OrderStatus) -> str | None:
    """What in the answer is not the order this line bought (None: it is)."""
    if status.trans_id != line.trans_id:
        return f"the answer is about order {status.trans_id}, not {line.trans_id}"
    if status.plan_id is not None and status.plan_id != line.plan_id:
        return f"order {line.trans_id} is plan {status.plan_id}, the line bought {line.plan_id}"
    if status.quantity is not None and status.quantity != line.supplier_quantity:
        bought = line.supplier_quantity
        return f"order {line.trans_id} is for {status.quantity} units, the line bought {bought}"
    return None


def _apply(ctx: Context, fulfilment_id: int, status: OrderStatus) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in AWAITING_DELIVERY:
            return []
        mismatch = _mismatch(line, status)
        if mismatch is not None:
            # Never hand a customer units bought for someone else, or the wrong product.
            reason = f"credentials do not match the plan: {mismatch}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            event("fulfilment.deliver.mismatch", logging.ERROR, id=fulfilment_id)
            return []
        expected = line.supplier_quantity or status.expected_count or len(status.items)
        line.supplier_status = status.status
        arrived = len(status.items) > line.delivered_count
        if arrived:
            line.credentials_enc = ctx.box.encrypt(json.dumps(status.items))
            line.delivered_count = len(status.items)
        line.failures = 0
        line.last_error = None
        if status.status == SupplierStatus.CANCELLED:
            reason = f"supplier cancelled order {line.trans_id}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            event("fulfilment.deliver.cancelled", logging.WARNING, id=fulfilment_id)
            return [Send(ANNOTATE, line.order_pk)] if arrived else []
        if status.status == SupplierStatus.COMPLETED and line.delivered_count >= expected:
            bought_at = _bought_at(session, fulfilment_id, status.trans_id) or line.created_at
            metrics.delivered(now - bought_at)
            line.lease_until = ctx.lease_until(now)
            set_state(session, line, FulfilmentState.DELIVERED, None)
            event("fulfilment.deliver.completed", id=fulfilment_id, units=line.delivered_count)
            return [Send(ANNOTATE, line.order_pk)]
        follow_up: list[Send] = []
        if arrived:
            # Write what arrived now; keep polling for the rest.
            set_state(session, line, FulfilmentState.PARTIAL, None)
            follow_up.append(Send(ANNOTATE, line.order_pk))
            event("fulfilment.deliver.partial", id=fulfilment_id, units=line.delivered_count)
        session.add(line)
    return follow_up + _wait(ctx, fulfilment_id, error=None)


def _wait(
    ctx: Context, fulfilment_id: int, *, error: str | None, delay: float | None = None
) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if error is None:
            delay = ctx.poll_delay(line.polls)
            line.polls += 1
        else:
            line.failures += 1
            line.last_error = error[:500]
            delay = delay if delay is not None else ctx.retry_delay(line.failures)
        line.lease_until = ctx.lease_until(now, delay)
        line.updated_at = now
        session.add(line)
    return [Send(DELIVER, fulfilment_id, delay)]
