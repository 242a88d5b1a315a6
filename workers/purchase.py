"""fulfilment.purchase: buy a line exactly once.

The row is claimed with a conditional UPDATE (pending -> purchasing) and a PurchaseAttempt is
committed *before* ``orders/create`` is sent. Whatever happens afterwards, the attempt says what is
known: bought, refused (nothing spent), or unknown. An unknown outcome is never retried blindly: the
line is parked in ``purchase_unknown`` until it is settled against the supplier's order list.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import (
    AttemptOutcome,
    Fulfilment,
    FulfilmentState,
    PurchaseAttempt,
    Supplier,
)
from bridge.shop.errors import (
    ShopOutcomeUnknown,
    ShopRateLimited,
    ShopRefused,
    ShopUnreachable,
)
from bridge.shop.schemas import CreateResult, OrderItem
from workers.context import Context
from workers.dispatch import DELIVER, PURCHASE, Send
from workers.lines import load_line, park_unknown, set_state

AUTH_CODES = frozenset(
    {
        "INVALID_API_KEY",
        "INVALID_API_SECRET",
        "DISABLED_API_KEY",
        "IP_NOT_ALLOWED",
        "PERMISSION_DENIED",
    }
)


def purchase(ctx: Context, fulfilment_id: int) -> list[Send]:
    claimed = _claim(ctx, fulfilment_id)
    if claimed is None:
        return []
    line, supplier, attempt_id = claimed
    client = ctx.supplier(supplier)
    fields = json.loads(ctx.box.decrypt(line.fields_enc)) if line.fields_enc else None
    assert line.plan_id is not None
    assert line.supplier_quantity is not None
    item = OrderItem(plan_id=line.plan_id, quantity=line.supplier_quantity, fields=fields)
    event(
        "fulfilment.purchase.started", id=fulfilment_id, attempt=attempt_id, supplier=supplier.name
    )
    try:
        result = client.create_order([item])
    except ShopRateLimited as exc:
        return _not_bought(ctx, line, attempt_id, "RATE_LIMIT_EXCEEDED", str(exc), exc.retry_after)
    except ShopUnreachable as exc:
        return _not_bought(ctx, line, attempt_id, None, str(exc), None)
    except ShopRefused as exc:
        return _refused(ctx, line, attempt_id, exc)
    except ShopOutcomeUnknown as exc:
        return _unknown(ctx, line, attempt_id, str(exc))
    except Exception as exc:
        # The request may have gone out before this failed: treat it as unknown, never as unsent.
        _unknown(ctx, line, attempt_id, f"unexpected {type(exc).__name__}")
        raise
    return _bought(ctx, line, attempt_id, result)


def _claim(ctx: Context, fulfilment_id: int) -> tuple[Fulfilment, Supplier, int] | None:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        claimed = session.connection().execute(
            update(Fulfilment)
            .where(
                col(Fulfilment.id) == fulfilment_id,
                col(Fulfilment.state) == FulfilmentState.PENDING,
            )
            .values(
                state=FulfilmentState.PURCHASING,
                lease_until=now + timedelta(seconds=ctx.settings.lease_seconds),
                updated_at=now,
            )
        )
        if claimed.rowcount != 1:
            return None
        line = load_line(session, fulfilment_id)
        session.refresh(line)
        supplier = session.get(Supplier, line.supplier_name) if line.supplier_name else None
        if supplier is None or not supplier.enabled:
            set_state(
                session,
                line,
                FulfilmentState.NEEDS_ATTENTION,
                f"supplier {line.supplier_name} is missing or disabled",
            )
            return None
        assert line.plan_id is not None
        assert line.supplier_quantity is not None
        attempt = PurchaseAttempt(
            fulfilment_id=fulfilment_id,
            supplier_name=supplier.name,
            plan_id=line.plan_id,
            quantity=line.supplier_quantity,
            started_at=now,
        )
        session.add(attempt)
        session.flush()
        assert attempt.id is not None
        return line, supplier, attempt.id


def _finish_attempt(
    session: Session,
    ctx: Context,
    attempt_id: int,
    outcome: AttemptOutcome,
    *,
    trans_id: str | None = None,
    error_code: str | None = None,
    detail: str | None = None,
) -> None:
    attempt = session.get(PurchaseAttempt, attempt_id)
    assert attempt is not None
    attempt.outcome = outcome
    attempt.trans_id = trans_id
    attempt.error_code = error_code
    attempt.detail = detail
    attempt.finished_at = ctx.clock()
    session.add(attempt)


def _bought(ctx: Context, line: Fulfilment, attempt_id: int, result: CreateResult) -> list[Send]:
    trans_id = result.orders[0].trans_id if result.orders else None
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        if trans_id is None:
            # Paid for but unnamed: only the order list can tell which order is ours.
            _finish_attempt(
                session, ctx, attempt_id, AttemptOutcome.UNKNOWN, detail="201 without trans_id"
            )
            park_unknown(
                session, load_line(session, line.id), "supplier answered without a trans_id"
            )
            return []
        _finish_attempt(session, ctx, attempt_id, AttemptOutcome.BOUGHT, trans_id=trans_id)
        row = load_line(session, line.id)
        row.trans_id = trans_id
        row.polls = 0
        row.failures = 0
        row.last_error = None
        row.lease_until = now + timedelta(seconds=ctx.settings.lease_seconds)
        set_state(session, row, FulfilmentState.PURCHASED, None)
    event("fulfilment.purchase.bought", id=line.id, trans_id=trans_id)
    assert line.id is not None
    return [Send(DELIVER, line.id)]


def _refused(ctx: Context, line: Fulfilment, attempt_id: int, exc: ShopRefused) -> list[Send]:
    if exc.error_code in AUTH_CODES:
        reason = f"{exc.error_code}: supplier {line.supplier_name} rejected our API credentials"
    else:
        reason = (
            f"{exc.error_code}: supplier {line.supplier_name} plan {line.plan_id}: {exc.message}"
        )
    with session_scope(ctx.engine) as session:
        _finish_attempt(
            session,
            ctx,
            attempt_id,
            AttemptOutcome.REFUSED,
            error_code=exc.error_code,
            detail=exc.message,
        )
        row = load_line(session, line.id)
        set_state(session, row, FulfilmentState.NEEDS_ATTENTION, reason)
    event("fulfilment.purchase.refused", logging.WARNING, id=line.id, code=exc.error_code)
    return []


def _not_bought(
    ctx: Context,
    line: Fulfilment,
    attempt_id: int,
    code: str | None,
    detail: str,
    retry_after: float | None,
) -> list[Send]:
    """Nothing was bought (429 or no connection): back to pending and try again later."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        outcome = AttemptOutcome.REFUSED if code else AttemptOutcome.NOT_SENT
        _finish_attempt(session, ctx, attempt_id, outcome, error_code=code, detail=detail)
        row = load_line(session, line.id)
        assert row.id is not None
        row.failures += 1
        row.last_error = detail
        if row.failures >= ctx.settings.max_step_failures:
            set_state(
                session, row, FulfilmentState.NEEDS_ATTENTION, f"supplier unavailable: {detail}"
            )
            return []
        delay = retry_after if retry_after is not None else ctx.retry_delay(row.failures)
        row.lease_until = now + timedelta(seconds=delay + ctx.settings.lease_seconds)
        set_state(session, row, FulfilmentState.PENDING, None)
        return [Send(PURCHASE, row.id, delay)]


def _unknown(ctx: Context, line: Fulfilment, attempt_id: int, detail: str) -> list[Send]:
    with session_scope(ctx.engine) as session:
        _finish_attempt(session, ctx, attempt_id, AttemptOutcome.UNKNOWN, detail=detail)
        park_unknown(
            session,
            load_line(session, line.id),
            f"purchase outcome unknown ({detail}); settle before buying again",
        )
    event("fulfilment.purchase.unknown", logging.WARNING, id=line.id, attempt=attempt_id)
    return []
