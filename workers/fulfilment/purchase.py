"""fulfilment.purchase: buy each line exactly once, from the best choice that can serve it.

The lines are claimed with a conditional UPDATE (pending -> purchasing) and their PurchaseAttempts
are committed *before* ``orders/create`` is sent. Whatever happens afterwards, the attempts say what
is known: bought, refused (nothing spent), not sent, or unknown. An unknown outcome is never retried
blindly: the line waits in ``purchase_unknown`` until ``fulfilment.settle`` has read the supplier's
order list and either adopted the order or proved there is none.

Lines of one order that go to the same supplier are bought in one ``orders/create`` call (one
request of the API budget for all of them). If such a batch is refused, the refusal cannot be
pinned on one item, so its lines are bought one by one afterwards.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order, PurchaseAttempt, Supplier
from bridge.states import AttemptOutcome, DelayNotice, FulfilmentState
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import (
    SupplierOutcomeUnknown,
    SupplierRateLimited,
    SupplierRefused,
    SupplierUnreachable,
)
from bridge.supplier.schemas import CreateResult, OrderItem
from bridge.supplier.vocabulary import AUTH_CODES, FALLBACK_CODES, ErrorCode, SupplierStatus
from mappings.resolve import Chosen, NoChoice, Wait, choose
from workers import breaker
from workers.alerts.store import raise_alert
from workers.context import Context
from workers.dispatch import ANNOTATE, DELIVER, PURCHASE, Send
from workers.fulfilment.lines import load_line, park_unknown, set_state
from workers.stock.triggers import stock_sync_after_purchase

MAX_BATCH = 20


@dataclass(frozen=True)
class Claim:
    line_id: int
    attempt_id: int
    item: OrderItem


@dataclass(frozen=True)
class Batch:
    supplier: Supplier
    claims: list[Claim]


def purchase(ctx: Context, fulfilment_id: int) -> list[Send]:
    decided = _decide(ctx, fulfilment_id)
    if not isinstance(decided, Batch):
        return decided
    client = ctx.supplier(decided.supplier)
    name = decided.supplier.name
    event("fulfilment.purchase.started", id=fulfilment_id, lines=len(decided.claims), supplier=name)
    try:
        # The attempt is committed: wait for budget only as long as its lease safely allows,
        # or the sweep could take a live purchase for a dead one and settle it as never sent.
        ticket = client.reserve_slot(max_wait=_budget_wait(ctx))
    except BudgetExhausted as exc:
        return _not_bought(ctx, decided, AttemptOutcome.NOT_SENT, None, str(exc), exc.retry_after)
    try:
        result = client.create_order([claim.item for claim in decided.claims], ticket=ticket)
    except BudgetExhausted as exc:
        return _not_bought(ctx, decided, AttemptOutcome.NOT_SENT, None, str(exc), exc.retry_after)
    except SupplierRateLimited as exc:
        return _not_bought(
            ctx, decided, AttemptOutcome.REFUSED, exc.error_code, str(exc), exc.retry_after
        )
    except SupplierUnreachable as exc:
        breaker.record_failure(ctx.engine, ctx.settings, name, str(exc), ctx.clock())
        return _not_bought(ctx, decided, AttemptOutcome.NOT_SENT, None, str(exc), None)
    except SupplierRefused as exc:
        breaker.record_success(ctx.engine, name)
        return _refused(ctx, decided, exc)
    except SupplierOutcomeUnknown as exc:
        breaker.record_failure(ctx.engine, ctx.settings, name, str(exc), ctx.clock())
        return _unknown(ctx, decided, str(exc))
    except Exception as exc:
        # The request may have gone out before this failed: unknown, never "not sent".
        _unknown(ctx, decided, f"unexpected {type(exc).__name__}")
        raise
    breaker.record_success(ctx.engine, name)
    return _bought(ctx, decided, result)


def _budget_wait(ctx: Context) -> float:
    """The longest wait for budget that still leaves the request its timeout within the lease."""
    settings = ctx.settings
    spare = settings.lease_seconds - 2 * settings.supplier_timeout_seconds
    return max(0.0, min(settings.supplier_budget_wait_seconds, spare))


def _decide(ctx: Context, fulfilment_id: int) -> Batch | list[Send]:
    """Choose a supplier for the line (and its siblings), claim them and commit their attempts."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state != FulfilmentState.PENDING:
            return []
        snapshot = _order_snapshot(ctx, session, line.order_pk)
        decision = choose(session, line, snapshot, now)
        if isinstance(decision, Wait):
            delay = max(1.0, (decision.until - now).total_seconds())
            line.lease_until = ctx.lease_until(decision.until)
            line.last_error = "waiting: every usable supplier is paused"
            session.add(line)
            return [Send(PURCHASE, fulfilment_id, delay)]
        if isinstance(decision, NoChoice):
            return _no_choice(ctx, session, line, decision.reason, now, notify=decision.mapped)
        batch = [(line, decision)]
        if not _must_buy_alone(session, fulfilment_id):
            batch += _siblings(session, line, decision.supplier.name, snapshot, now)
        # Rows are claimed in id order: two workers claiming lines of one order never deadlock.
        claims = _claim(ctx, session, sorted(batch, key=lambda pair: pair[0].id or 0), now)
        if not claims:
            return []
        return Batch(decision.supplier, claims)


def _order_snapshot(ctx: Context, session: Session, order_pk: int) -> dict[str, Any]:
    order = session.get(Order, order_pk)
    if order is None or not order.snapshot_enc:
        return {}
    snapshot: dict[str, Any] = json.loads(ctx.box.decrypt(order.snapshot_enc))
    return snapshot


def _must_buy_alone(session: Session, fulfilment_id: int) -> bool:
    """A line whose batch was refused is bought alone, so a refusal can be pinned on it."""
    refused_batch = session.exec(
        select(PurchaseAttempt.id).where(
            PurchaseAttempt.fulfilment_id == fulfilment_id,
            PurchaseAttempt.outcome == AttemptOutcome.REFUSED,
            col(PurchaseAttempt.batch_key).is_not(None),
        )
    ).first()
    return refused_batch is not None


def _siblings(
    session: Session, line: Fulfilment, supplier: str, snapshot: dict[str, Any], now: datetime
) -> list[tuple[Fulfilment, Chosen]]:
    others = session.exec(
        select(Fulfilment)
        .where(
            Fulfilment.order_pk == line.order_pk,
            Fulfilment.state == FulfilmentState.PENDING,
            Fulfilment.id != line.id,
        )
        .order_by(col(Fulfilment.id))
        .limit(MAX_BATCH - 1)
    ).all()
    same: list[tuple[Fulfilment, Chosen]] = []
    for other in others:
        assert other.id is not None
        if _must_buy_alone(session, other.id):
            continue
        decision = choose(session, other, snapshot, now)
        if isinstance(decision, Chosen) and decision.supplier.name == supplier:
            same.append((other, decision))
    return same


def _claim(
    ctx: Context, session: Session, batch: list[tuple[Fulfilment, Chosen]], now: datetime
) -> list[Claim]:
    lease = ctx.lease_until(now)
    claimed: list[tuple[Fulfilment, Chosen, int]] = []
    for line, choice in batch:
        quantity = line.quantity * choice.mapping.units
        fields = choice.fields
        result = session.connection().execute(
            update(Fulfilment)
            .where(col(Fulfilment.id) == line.id, col(Fulfilment.state) == FulfilmentState.PENDING)
            .values(
                state=FulfilmentState.PURCHASING,
                supplier_name=choice.supplier.name,
                plan_id=choice.mapping.plan_id,
                units=choice.mapping.units,
                supplier_quantity=quantity,
                fields_enc=ctx.box.encrypt(json.dumps(fields)) if fields else None,
                reason=None,
                lease_until=lease,
                updated_at=now,
            )
        )
        if result.rowcount == 1:
            claimed.append((line, choice, quantity))
    batch_key = uuid.uuid4().hex if len(claimed) > 1 else None
    claims: list[Claim] = []
    for line, choice, quantity in claimed:
        assert line.id is not None
        attempt = PurchaseAttempt(
            fulfilment_id=line.id,
            supplier_name=choice.supplier.name,
            plan_id=choice.mapping.plan_id,
            quantity=quantity,
            batch_key=batch_key,
            started_at=now,
        )
        session.add(attempt)
        session.flush()
        assert attempt.id is not None
        item = OrderItem(plan_id=choice.mapping.plan_id, quantity=quantity, fields=choice.fields)
        claims.append(Claim(line.id, attempt.id, item))
    return claims


def _no_choice(
    ctx: Context,
    session: Session,
    line: Fulfilment,
    reason: str,
    now: datetime,
    *,
    notify: bool = True,
) -> list[Send]:
    """No choice can serve the line: a person must act, and the customer hears of the delay.

    The delay line is written once per line, not again after a retry fails the same way; an
    unmapped line gets none (it may not be a digital good at all).
    """
    set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
    event("fulfilment.purchase.no_choice", logging.WARNING, id=line.id, reason=reason)
    if not notify or line.delay_notice is not None:
        return []
    line.delay_notice = DelayNotice.PENDING
    line.lease_until = ctx.lease_until(now)
    session.add(line)
    return [Send(ANNOTATE, line.order_pk)]


def _finish(
    session: Session,
    attempt_id: int,
    outcome: AttemptOutcome,
    now: datetime,
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
    attempt.detail = detail[:500] if detail else None
    attempt.finished_at = now
    session.add(attempt)


def _bought(ctx: Context, batch: Batch, result: CreateResult) -> list[Send]:
    orders = result.orders
    if len(orders) != len(batch.claims) or any(not o.trans_id for o in orders):
        # Paid for, but which order is whose is unclear: only the order list can tell.
        return _unknown(ctx, batch, f"{len(orders)} orders for {len(batch.claims)} items")
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        for claim, order in zip(batch.claims, orders, strict=True):
            if not _still_ours(session, claim, now):
                _late_answer(session, batch.supplier.name, claim, order.trans_id, now)
                continue
            _finish(session, claim.attempt_id, AttemptOutcome.BOUGHT, now, trans_id=order.trans_id)
            line = load_line(session, claim.line_id)
            line.trans_id = order.trans_id
            line.supplier_status = order.status
            line.polls = 0
            line.failures = 0
            line.last_error = None
            # Instant plans are completed at once; others are polled after the first wait.
            delay = 0.0 if order.status == SupplierStatus.COMPLETED else ctx.poll_delay(0)
            line.lease_until = ctx.lease_until(now, delay)
            set_state(session, line, FulfilmentState.PURCHASED, None)
            sends.append(Send(DELIVER, claim.line_id, delay))
            event("fulfilment.purchase.bought", id=claim.line_id, trans_id=order.trans_id)
        plans = {claim.item.plan_id for claim in batch.claims}
        sends += stock_sync_after_purchase(
            ctx, session, supplier_name=batch.supplier.name, plan_ids=plans
        )
    return sends


def _still_ours(session: Session, claim: Claim, now: datetime) -> bool:
    """Is the line still waiting for this answer (in flight, or parked but not yet settled)?"""
    attempt = session.get(PurchaseAttempt, claim.attempt_id)
    line = load_line(session, claim.line_id)
    assert attempt is not None
    in_flight = (
        attempt.outcome == AttemptOutcome.IN_FLIGHT and line.state == FulfilmentState.PURCHASING
    )
    parked = (
        attempt.outcome == AttemptOutcome.UNKNOWN
        and attempt.settlement is None
        and line.state == FulfilmentState.PURCHASE_UNKNOWN
    )
    return in_flight or parked


def _ours(session: Session, batch: Batch, now: datetime) -> list[Claim]:
    """The claims whose lines still wait for this answer; a line that moved on is left alone
    (a late refusal must not send a re-bought line back to buying)."""
    ours = [claim for claim in batch.claims if _still_ours(session, claim, now)]
    if len(ours) < len(batch.claims):
        event("fulfilment.purchase.late", logging.WARNING, lines=len(batch.claims) - len(ours))
    return ours


def _late_answer(
    session: Session, supplier: str, claim: Claim, trans_id: str, now: datetime
) -> None:
    """The attempt was already settled and the line went on: this order is one too many.

    Record it on the attempt (so adoption never hands it to another line) and alert a person;
    the line keeps the order it has.
    """
    attempt = session.get(PurchaseAttempt, claim.attempt_id)
    assert attempt is not None
    attempt.outcome = AttemptOutcome.BOUGHT
    attempt.trans_id = trans_id
    attempt.detail = "answer arrived after the attempt was settled: a second order exists"
    attempt.finished_at = now
    session.add(attempt)
    raise_alert(
        session,
        "late_purchase",
        f"{supplier}:{trans_id}",
        f"order {trans_id} at {supplier} was answered after line {claim.line_id} moved on",
        now,
    )


def _refused(ctx: Context, batch: Batch, exc: SupplierRefused) -> list[Send]:
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        for claim in _ours(session, batch, now):
            _finish(
                session,
                claim.attempt_id,
                AttemptOutcome.REFUSED,
                now,
                error_code=exc.error_code,
                detail=exc.message,
            )
            line = load_line(session, claim.line_id)
            fallback = len(batch.claims) > 1 or exc.error_code in FALLBACK_CODES
            if fallback:
                # The next run skips this choice (or buys the batch's lines one by one).
                line.lease_until = ctx.lease_until(now)
                set_state(session, line, FulfilmentState.PENDING, None)
                sends.append(Send(PURCHASE, claim.line_id))
            else:
                where = f"supplier {line.supplier_name} plan {line.plan_id}"
                reason = f"{exc.error_code}: {where}: {exc.message}"
                sends += _no_choice(ctx, session, line, reason, now)
        if exc.error_code == ErrorCode.INSUFFICIENT_BALANCE or exc.error_code in AUTH_CODES:
            raise_alert(
                session,
                exc.error_code.lower(),
                batch.supplier.name,
                f"supplier {batch.supplier.name} refused a purchase: {exc.error_code}",
                now,
            )
    event("fulfilment.purchase.refused", logging.WARNING, code=exc.error_code, lines=len(sends))
    return sends


def _not_bought(
    ctx: Context,
    batch: Batch,
    outcome: AttemptOutcome,
    code: str | None,
    detail: str,
    retry_after: float | None,
) -> list[Send]:
    """Nothing was bought (no budget, 429, no connection): back to pending, try again later."""
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        for claim in _ours(session, batch, now):
            _finish(session, claim.attempt_id, outcome, now, error_code=code, detail=detail)
            line = load_line(session, claim.line_id)
            line.failures += 1
            line.last_error = detail[:500]
            delay = retry_after if retry_after is not None else ctx.retry_delay(line.failures)
            line.lease_until = ctx.lease_until(now, delay)
            set_state(session, line, FulfilmentState.PENDING, None)
            sends.append(Send(PURCHASE, claim.line_id, delay))
    return sends


def _unknown(ctx: Context, batch: Batch, detail: str) -> list[Send]:
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        for claim in _ours(session, batch, now):
            _finish(session, claim.attempt_id, AttemptOutcome.UNKNOWN, now, detail=detail)
            line = load_line(session, claim.line_id)
            sends.append(park_unknown(ctx, session, line, f"purchase outcome unknown ({detail})"))
    event("fulfilment.purchase.unknown", logging.WARNING, lines=len(sends))
    return sends
