"""fulfilment.deliver: poll the supplier until the order ends, then keep the credentials.

Every end of an order is an end (``bridge.supplier.delivery`` reads the answer): completed is
delivered, whatever the number of strings (none at all: the note says so); cancelled, refunded
or cancelled with the money kept stops the line for a person, the reason naming the amount paid.
Manual plans can take hours, so the wait between polls grows (``Context.poll_delay``). Read
errors only lengthen it, and the reason stays visible in ``last_error``. A refusal waits too
while it may not be final: within ``status_grace_seconds`` of the purchase (the supplier may not
list a fresh order yet), and whenever it is the key's or the base URL's fault (an alert says so;
the line goes on once the operator fixes it). But no line waits unseen: past
``delivery_give_up_hours`` since its wait began (``Fulfilment.waiting_since``: the purchase, a
retry, or the last units that arrived), or ``status_grace_seconds`` with a status the bridge
does not know, it stops in ``needs_attention``, which raises one alert (``workers.alerts``).

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
from bridge.supplier.delivery import (
    STATUS_CHARS,
    Progress,
    progress,
    quoted,
    undone_reason,
)
from bridge.supplier.errors import ListingIncomplete, SupplierRefused, SupplierTransient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderStatus
from bridge.supplier.vocabulary import AUTH_CODES, IN_PROGRESS, SupplierStatus
from workers.alerts.store import raise_alert
from workers.fulfilment.held import held_orders, read_held
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.poll_batch import poll_batch, waiting_orders
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, DELIVER, Send


def deliver(ctx: Context, fulfilment_id: int) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in AWAITING_DELIVERY or line.trans_id is None:
            return []
        supplier = session.get(Supplier, line.supplier_name)
        if supplier is None:
            _stop(session, line, f"supplier {line.supplier_name} was removed")
            return []
        if line.waiting_since is None:
            line.waiting_since = now  # the first poll of this wait: the purchase, or a retry
            session.add(line)
        trans_id = line.trans_id
        # The supplier's list tells which orders moved on; one it no longer calls pending or
        # processing (finished, or a word the bridge does not know) is read by itself.
        batched = (
            line.supplier_status is None or line.supplier_status in IN_PROGRESS
        ) and waiting_orders(session, supplier.name) > 1
        # The list read's spacing leaves out the long-wait stretch: a line waiting for days must
        # not hold back the read for an order bought a minute ago.
        spacing = ctx.poll_delay(line.polls)
    if batched:
        try:
            found = poll_batch(ctx, fulfilment_id, supplier, spacing)
        except ListingIncomplete:
            pass  # the supplier's list cannot be read whole: ask for this order by itself
        else:
            if found is not None and Send(DELIVER, fulfilment_id) in found:
                return found
            return (found or []) + _wait(ctx, fulfilment_id, error=None)
    try:
        # Every order the line holds (several when the supplier split it), read as one.
        status = read_held(ctx, supplier, fulfilment_id, trans_id)
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
            attempt = _attempt(session, fulfilment_id, trans_id)
            bought_at = (attempt.finished_at if attempt else None) or line.updated_at
            waits = now - bought_at < timedelta(seconds=ctx.settings.status_grace_seconds)
        if not waits:
            # Unless another copy of the step delivered it meanwhile: then it stops nothing.
            if line.state in AWAITING_DELIVERY:
                _stop(session, line, reason)
            return []
    event("fulfilment.deliver.refused", logging.WARNING, id=fulfilment_id, code=exc.error_code)
    return _wait(ctx, fulfilment_id, error=reason)


def _attempt(session: Session, fulfilment_id: int, trans_id: str) -> PurchaseAttempt | None:
    """The purchase attempt that bought ``trans_id`` for the line."""
    return session.exec(
        select(PurchaseAttempt).where(
            PurchaseAttempt.fulfilment_id == fulfilment_id, PurchaseAttempt.trans_id == trans_id
        )
    ).first()


def _paid(session: Session, fulfilment_id: int, trans_id: str) -> float | None:
    """What the purchase recorded paying for the line's order(s); None when any is unknown."""
    amounts = [row.amount for row in held_orders(session, fulfilment_id, trans_id)]
    known = [amount for amount in amounts if amount is not None]
    return sum(known) if known and len(known) == len(amounts) else None


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
            _stop(session, line, f"credentials do not match the plan: {mismatch}")
            event("fulfilment.deliver.mismatch", logging.ERROR, id=fulfilment_id)
            return []
        expected = line.supplier_quantity or status.expected_count or max(len(status.items), 1)
        line.supplier_status = status.status[:STATUS_CHARS]
        stored = _stored(ctx, line)
        arrived = [item for item in status.items if item not in stored]
        if arrived:
            # Kept with what came before: an answer that shows fewer strings loses none.
            line.credentials_enc = ctx.box.encrypt(json.dumps(stored + arrived))
            line.delivered_count = max(line.delivered_count, min(status.delivered_count, expected))
            line.waiting_since = now  # progress: the give-up time and the grace count afresh
        line.failures = 0
        line.last_error = None
        where = progress(status, expected)
        graced = _waited(line, now) >= ctx.settings.status_grace_seconds
        if where == Progress.UNDONE:
            paid = _paid(session, fulfilment_id, status.trans_id)
            _stop(session, line, undone_reason(status.trans_id, status, paid))
            event("fulfilment.deliver.undone", logging.WARNING, id=fulfilment_id)
            return []
        if where == Progress.COMPLETE or (where == Progress.SHORT and graced):
            attempt = _attempt(session, fulfilment_id, status.trans_id)
            metrics.delivered(now - ((attempt.finished_at if attempt else None) or line.created_at))
            # Whatever the strings, the supplier says every unit bought is handed over.
            line.delivered_count = expected
            line.waiting_since = None
            line.lease_until = ctx.lease_until(now)
            set_state(session, line, FulfilmentState.DELIVERED, None)
            event("fulfilment.deliver.completed", id=fulfilment_id, strings=len(stored + arrived))
            return [Send(ANNOTATE, line.order_pk)]
        if where == Progress.UNKNOWN and graced:
            reason = (
                f"supplier order {status.trans_id} has status {quoted(status.status)}, which the "
                "bridge does not know: it stopped polling"
            )
            _stop(session, line, reason)
            event("fulfilment.deliver.unknown_status", logging.WARNING, id=fulfilment_id)
            return []
        follow_up: list[Send] = []
        if arrived:
            # Write what arrived now; keep polling for the rest.
            set_state(session, line, FulfilmentState.PARTIAL, None)
            follow_up.append(Send(ANNOTATE, line.order_pk))
            event("fulfilment.deliver.partial", id=fulfilment_id, units=line.delivered_count)
        session.add(line)
    return follow_up + _wait(ctx, fulfilment_id, error=None)


def _stored(ctx: Context, line: Fulfilment) -> list[str]:
    if not line.credentials_enc:
        return []
    stored: list[str] = json.loads(ctx.box.decrypt(line.credentials_enc))
    return stored


def _waited(line: Fulfilment, now: datetime) -> float:
    """Seconds the line has waited for its supplier this time."""
    return max((now - (line.waiting_since or now)).total_seconds(), 0.0)


def _stop(session: Session, line: Fulfilment, reason: str) -> None:
    """The line stops waiting for a person (``needs_attention``: the alerts watch announces it
    once); a retry starts a new wait."""
    line.waiting_since = None
    set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)


def _wait(
    ctx: Context, fulfilment_id: int, *, error: str | None, delay: float | None = None
) -> list[Send]:
    now = ctx.clock()
    give_up = ctx.settings.delivery_give_up_hours * 3600
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in AWAITING_DELIVERY:
            return []
        if error is not None:
            line.failures += 1
            line.last_error = error[:500]
        waited = _waited(line, now)
        if waited >= give_up:
            _stop(session, line, _gave_up(line, waited))
            event("fulfilment.deliver.gave_up", logging.WARNING, id=fulfilment_id)
            return []
        if error is None:
            delay = ctx.poll_delay(line.polls, waited)
            line.polls += 1
        elif delay is None:
            delay = ctx.retry_delay(line.failures)
        # The last poll falls at the give-up moment, not a long backoff after it.
        delay = min(delay, give_up - waited)
        line.lease_until = ctx.lease_until(now, delay)
        line.updated_at = now
        session.add(line)
    return [Send(DELIVER, fulfilment_id, delay)]


def _gave_up(line: Fulfilment, waited: float) -> str:
    said = line.supplier_status
    if said is None:
        where = f"supplier order {line.trans_id} has shown no status for {_span(waited)}"
    elif said == SupplierStatus.COMPLETED:
        where = f"supplier order {line.trans_id} has been completed in part for {_span(waited)}"
    else:
        where = f"supplier order {line.trans_id} is still {quoted(said)} after {_span(waited)}"
    last = f"; last error: {line.last_error}" if line.last_error else ""
    return f"{where}: the bridge stopped polling (BRIDGE_DELIVERY_GIVE_UP_HOURS){last}"


def _span(seconds: float) -> str:
    """A wait as people say it: 72 hours, 45 minutes, 3 seconds."""
    for unit, size in (("hours", 3600), ("minutes", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} seconds"
