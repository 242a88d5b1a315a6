"""fulfilment.deliver: poll the supplier until the order completes, then keep the credentials.

Manual plans can take hours, so the wait between polls grows (``poll_initial_seconds`` times
``poll_factor`` per poll, capped at ``poll_max_seconds``). A bought line is never given up on:
read errors only lengthen the wait, and the reason stays visible in ``last_error``.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import FulfilmentState, Supplier
from bridge.shop.errors import ShopRefused, ShopTransient
from bridge.shop.schemas import OrderStatus
from workers.context import Context
from workers.dispatch import ANNOTATE, DELIVER, Send
from workers.lines import load_line, set_state


def deliver(ctx: Context, fulfilment_id: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state != FulfilmentState.PURCHASED or line.trans_id is None:
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
    try:
        status = ctx.supplier(supplier).order_status(trans_id)
    except ShopRefused as exc:
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            reason = f"{exc.error_code}: supplier cannot show order {trans_id}: {exc.message}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
        return []
    except ShopTransient as exc:
        return _wait(ctx, fulfilment_id, error=str(exc))
    return _apply(ctx, fulfilment_id, status)


def _apply(ctx: Context, fulfilment_id: int, status: OrderStatus) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state != FulfilmentState.PURCHASED:
            return []
        expected = line.supplier_quantity or status.expected_count or len(status.items)
        if status.status == "cancelled":
            reason = f"supplier cancelled order {line.trans_id}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            event("fulfilment.deliver.cancelled", logging.WARNING, id=fulfilment_id)
            return []
        if status.items:
            line.credentials_enc = ctx.box.encrypt(json.dumps(status.items))
            line.delivered_count = len(status.items)
        if status.status == "completed" and len(status.items) >= expected:
            line.failures = 0
            line.last_error = None
            line.lease_until = now + timedelta(seconds=ctx.settings.lease_seconds)
            set_state(session, line, FulfilmentState.DELIVERED, None)
            event("fulfilment.deliver.completed", id=fulfilment_id, units=len(status.items))
            return [Send(ANNOTATE, line.order_pk)]
        session.add(line)
    return _wait(ctx, fulfilment_id, error=None)


def _wait(ctx: Context, fulfilment_id: int, *, error: str | None) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if error is None:
            delay = ctx.poll_delay(line.polls)
            line.polls += 1
        else:
            line.failures += 1
            line.last_error = error
            delay = ctx.retry_delay(line.failures)
        line.lease_until = now + timedelta(seconds=delay + ctx.settings.lease_seconds)
        line.updated_at = now
        session.add(line)
    return [Send(DELIVER, fulfilment_id, delay)]
