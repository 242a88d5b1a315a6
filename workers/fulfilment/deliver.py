"""fulfilment.deliver: poll the supplier until the order completes, then keep the credentials.

Manual plans can take hours, so the wait between polls grows (``poll_initial_seconds`` times
``poll_factor`` per poll, capped at ``poll_max_seconds``). A bought line is never given up on:
read errors only lengthen the wait, and the reason stays visible in ``last_error``.
"""

from __future__ import annotations

import json
import logging

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Supplier
from bridge.states import AWAITING_DELIVERY, FulfilmentState
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import ListingIncomplete, SupplierRefused, SupplierTransient
from bridge.supplier.schemas import OrderStatus
from bridge.supplier.vocabulary import FINISHED, SupplierStatus
from workers import breaker
from workers.context import Context
from workers.dispatch import ANNOTATE, DELIVER, Send
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.watch import waiting_orders, watch


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
            found = watch(ctx, fulfilment_id, supplier, poll_delay)
        except ListingIncomplete:
            pass  # the supplier's list cannot be read whole: ask for this order by itself
        else:
            if found is not None and Send(DELIVER, fulfilment_id) in found:
                return found
            return (found or []) + _wait(ctx, fulfilment_id, error=None)
    try:
        status = ctx.supplier(supplier).order_status(trans_id)
    except SupplierRefused as exc:
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            reason = f"{exc.error_code}: supplier cannot show order {trans_id}: {exc.message}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
        return []
    except SupplierTransient as exc:
        breaker.record_failure(ctx.engine, ctx.settings, supplier.name, str(exc), ctx.clock())
        return _wait(ctx, fulfilment_id, error=str(exc))
    except BudgetExhausted as exc:
        return _wait(ctx, fulfilment_id, error=str(exc), delay=exc.retry_after)
    return _apply(ctx, fulfilment_id, status)


def _apply(ctx: Context, fulfilment_id: int, status: OrderStatus) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state not in AWAITING_DELIVERY:
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
