"""fulfilment.purchase: buy each line exactly once, from the best choice that can serve it.

The lines are claimed with a conditional UPDATE (pending -> purchasing) and their PurchaseAttempts
are committed *before* ``orders/create`` is sent. Whatever happens afterwards, the attempts say what
is known: bought, refused (nothing spent), not sent, or unknown. An unknown outcome is never retried
blindly: the line waits in ``purchase_unknown`` until ``fulfilment.settle`` has read the supplier's
order list and either adopted the order or proved there is none.

The attempt names its worker process, and is marked *sent* by a second conditional UPDATE just
before the request goes out (after the wait for budget), which succeeds only while the attempt is
still in flight. So when a worker dies (``workers/fulfilment/claims.py``) its unmarked attempts
are known never to have been sent and the line is simply bought again, while a marked one is
settled; and a worker wrongly taken for dead finds its claim gone and sends nothing.

Every line is bought by its own ``orders/create`` of one item. The docs do not say how a
multi-item order answers: its ``orders`` entries carry no plan id, so they could only be paired with
lines by position (wrong if the supplier reorders or merges them), and a refused multi-item order
may have committed some items. One item per call costs one request per line, not per supplier per
order, and leaves nothing to pair.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome, DelayNotice, FulfilmentState
from bridge.supplier import breaker
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.clock import record_clock
from bridge.supplier.errors import (
    SupplierDailyLimited,
    SupplierOutcomeUnknown,
    SupplierRateLimited,
    SupplierRefused,
    SupplierUnreachable,
)
from bridge.supplier.key_alerts import REFUSAL_ALERTS
from bridge.supplier.models import Supplier
from bridge.supplier.refusals import rules_out_choice
from bridge.supplier.schemas import CreatedOrder, CreateResult, OrderItem
from bridge.supplier.split import answered_split
from bridge.supplier.vocabulary import SupplierStatus
from mappings.resolve import Chosen, NoChoice, Wait, choose
from workers.alerts.store import raise_alert, resolve_alert
from workers.fulfilment.held import Part, hold_parts
from workers.fulfilment.lines import load_line, park_unknown, set_state
from workers.fulfilment.reread import reread_if_stale
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, DELIVER, PURCHASE, Send
from workers.stock.triggers import stock_sync_after_purchase
from workers.suppliers.balance import note_balance
from workers.suppliers.keys import day_spent, key_refused, recheck_account


@dataclass(frozen=True)
class Claim:
    line_id: int
    attempt_id: int
    item: OrderItem


@dataclass(frozen=True)
class Purchase:
    supplier: Supplier
    claim: Claim


def purchase(ctx: Context, fulfilment_id: int) -> list[Send]:
    waited = reread_if_stale(ctx, fulfilment_id)
    if waited is not None:
        return waited
    decided = _decide(ctx, fulfilment_id)
    if not isinstance(decided, Purchase):
        return decided
    client = ctx.supplier(decided.supplier)
    name = decided.supplier.name
    event("fulfilment.purchase.started", id=fulfilment_id, supplier=name)
    try:
        ticket = client.reserve_slot(max_wait=ctx.settings.supplier_budget_wait_seconds)
    except BudgetExhausted as exc:
        return _not_bought(ctx, decided, AttemptOutcome.NOT_SENT, None, str(exc), exc.retry_after)
    if not mark_sent(ctx, decided.claim):
        # Taken back meanwhile (this worker looked dead, or its lease ran out): whoever took it
        # buys the line; this process must not.
        client.release_slot(ticket)
        event("fulfilment.purchase.taken_back", logging.WARNING, id=fulfilment_id)
        return []
    try:
        result = client.create_order([decided.claim.item], ticket=ticket)
    except BudgetExhausted as exc:
        return _not_bought(ctx, decided, AttemptOutcome.NOT_SENT, None, str(exc), exc.retry_after)
    except SupplierRateLimited as exc:
        return _not_bought(
            ctx, decided, AttemptOutcome.REFUSED, exc.error_code, str(exc), None, limited=exc
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


def mark_sent(ctx: Context, claim: Claim) -> bool:
    """Record that the request is about to go out; False if the attempt is no longer in flight
    (then it must not be sent)."""
    with session_scope(ctx.engine) as session:
        result = session.connection().execute(
            update(PurchaseAttempt)
            .where(
                col(PurchaseAttempt.id) == claim.attempt_id,
                col(PurchaseAttempt.outcome) == AttemptOutcome.IN_FLIGHT,
                col(PurchaseAttempt.sent_at).is_(None),
            )
            .values(sent_at=ctx.clock())
        )
        return result.rowcount == 1


def _decide(ctx: Context, fulfilment_id: int) -> Purchase | list[Send]:
    """Choose a supplier for the line, claim it and commit its attempt."""
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
        claim = _claim(ctx, session, line, decision, now)
        if claim is None:
            return []
        return Purchase(decision.supplier, claim)


def _order_snapshot(ctx: Context, session: Session, order_pk: int) -> dict[str, Any]:
    order = session.get(Order, order_pk)
    if order is None or not order.snapshot_enc:
        return {}
    snapshot: dict[str, Any] = json.loads(ctx.box.decrypt(order.snapshot_enc))
    return snapshot


def _claim(
    ctx: Context, session: Session, line: Fulfilment, choice: Chosen, now: datetime
) -> Claim | None:
    """Claim the line for ``choice`` and record its attempt; None if another worker claimed it."""
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
            lease_until=ctx.lease_until(now),
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        return None
    assert line.id is not None
    attempt = PurchaseAttempt(
        fulfilment_id=line.id,
        supplier_name=choice.supplier.name,
        plan_id=choice.mapping.plan_id,
        quantity=quantity,
        worker_id=ctx.worker_id,
        started_at=now,
    )
    session.add(attempt)
    session.flush()
    assert attempt.id is not None
    item = OrderItem(plan_id=choice.mapping.plan_id, quantity=quantity, fields=fields)
    return Claim(line.id, attempt.id, item)


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
    amount: float | None = None,
) -> None:
    attempt = session.get(PurchaseAttempt, attempt_id)
    assert attempt is not None
    attempt.outcome = outcome
    attempt.trans_id = trans_id
    attempt.amount = amount
    attempt.error_code = error_code
    attempt.detail = detail[:500] if detail else None
    attempt.finished_at = now
    session.add(attempt)


def _bought(ctx: Context, purchase: Purchase, result: CreateResult) -> list[Send]:
    """The supplier took the money: one order, or several for the one item.

    Several orders are the item when their content pairs them with it (``answered_split``: the
    real server names each one's plan and quantity); the line then holds them all and is
    delivered when all are. Otherwise they are the line's all the same (the answer names them),
    but only the order list shows what they hold: the line is settled from it, never bought
    again.
    """
    metrics.supplier_balance(purchase.supplier.name, result.new_balance)
    orders = result.orders
    claim = purchase.claim
    proven = len(orders) == 1 or answered_split(orders, claim.item)
    first = orders[0]
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        if not _still_ours(session, claim):
            _late_answer(session, purchase.supplier.name, claim, orders, now)
            return []
        _finish(
            session,
            claim.attempt_id,
            AttemptOutcome.BOUGHT if proven else AttemptOutcome.UNKNOWN,
            now,
            trans_id=first.trans_id,
            amount=first.total,
            detail=None if proven else f"{len(orders)} orders for one item, not paired by content",
        )
        if len(orders) > 1:
            attempt = session.get(PurchaseAttempt, claim.attempt_id)
            assert attempt is not None
            if proven:
                attempt.quantity = first.quantity or attempt.quantity  # each row: its order's
            parts = [Part(o.trans_id, o.quantity, o.total) for o in orders[1:]]
            hold_parts(session, attempt, parts, now, settlement=None)
        # The answer's timestamp keeps the supplier's measured clock fresh for settling.
        record_clock(
            session, purchase.supplier.name, ctx.supplier(purchase.supplier).clock_offset, now
        )
        supplier = purchase.supplier.name
        note = f"a purchase at {supplier} went through"
        resolve_alert(session, REFUSAL_ALERTS, supplier, now, note=note)
        if result.new_balance is not None:
            threshold = ctx.settings.alert_balance_threshold
            note_balance(session, supplier, result.new_balance, threshold, now)
        line = load_line(session, claim.line_id)
        stock = stock_sync_after_purchase(
            ctx, session, supplier_name=supplier, plan_ids={claim.item.plan_id}
        )
        if not proven:
            event("fulfilment.purchase.unpaired", logging.WARNING, id=claim.line_id)
            reason = f"the supplier answered {len(orders)} orders for one item; settling reads them"
            return [park_unknown(ctx, session, line, reason), *stock]
        done = all(o.status == SupplierStatus.COMPLETED for o in orders)
        line.trans_id = first.trans_id
        line.supplier_status = first.status if len({o.status for o in orders}) == 1 else None
        line.polls = 0
        line.failures = 0
        line.last_error = None
        # Instant plans are completed at once; others are polled after the first wait.
        delay = 0.0 if done else ctx.poll_delay(0)
        line.lease_until = ctx.lease_until(now, delay)
        set_state(session, line, FulfilmentState.PURCHASED, None)
        event("fulfilment.purchase.bought", id=claim.line_id, trans_id=first.trans_id)
        return [Send(DELIVER, claim.line_id, delay), *stock]


def _still_ours(session: Session, claim: Claim) -> bool:
    """Is the line still waiting for this answer (in flight, or parked but not yet settled)?

    A line that moved on is left alone: a late refusal must not send a re-bought line back to
    buying, and a late order belongs to no line.
    """
    # The line first (locked, as every step takes it): a settle adopting or concluding meanwhile
    # is then seen done, or waits until this answer is recorded.
    line = load_line(session, claim.line_id)
    attempt = session.get(PurchaseAttempt, claim.attempt_id)
    assert attempt is not None
    in_flight = (
        attempt.outcome == AttemptOutcome.IN_FLIGHT and line.state == FulfilmentState.PURCHASING
    )
    parked = (
        attempt.outcome == AttemptOutcome.UNKNOWN
        and attempt.settlement is None
        and line.state == FulfilmentState.PURCHASE_UNKNOWN
    )
    if not (in_flight or parked):
        event("fulfilment.purchase.late", logging.WARNING, id=claim.line_id)
    return in_flight or parked


def _late_answer(
    session: Session, supplier: str, claim: Claim, orders: list[CreatedOrder], now: datetime
) -> None:
    """The attempt was already settled and the line went on: orders no row holds yet (settling
    may have adopted these very ones) are one too many.

    Record each (on the attempt while it holds none, so adoption never hands it to another line)
    and alert a person; the line keeps the orders it has.
    """
    attempt = session.get(PurchaseAttempt, claim.attempt_id)
    assert attempt is not None
    named = [order.trans_id for order in orders]
    held = set(
        session.exec(
            select(PurchaseAttempt.trans_id).where(
                PurchaseAttempt.supplier_name == supplier,
                col(PurchaseAttempt.trans_id).in_(named),
            )
        ).all()
    )
    extra = [order for order in orders if order.trans_id not in held]
    if not extra:
        return
    for order in extra:
        row = attempt
        if attempt.trans_id is not None:
            row = PurchaseAttempt(
                fulfilment_id=attempt.fulfilment_id,
                supplier_name=supplier,
                plan_id=attempt.plan_id,
                quantity=order.quantity or 0,
                worker_id=attempt.worker_id,
                sent_at=attempt.sent_at,
                started_at=attempt.started_at,
            )
        row.outcome = AttemptOutcome.BOUGHT
        row.trans_id = order.trans_id
        row.amount = order.total  # paid for all the same: it counts against the balance
        row.detail = "answer arrived after the attempt was settled: one order too many"
        row.finished_at = now
        session.add(row)
    trans_ids = ", ".join(order.trans_id for order in extra)
    raise_alert(
        session,
        "late_purchase",
        f"{supplier}:{extra[0].trans_id}",
        f"order(s) {trans_ids} at {supplier} answered after line {claim.line_id} moved on",
        now,
    )


def _refused(ctx: Context, purchase: Purchase, exc: SupplierRefused) -> list[Send]:
    """A definite refusal, nothing bought: an alert when it is the operator's (the key, the
    balance), then the line's next choice when the refusal rules this one out (the supplier's
    code and message: ``bridge.supplier.refusals``), or a person otherwise (never a re-buy)."""
    now = ctx.clock()
    claim = purchase.claim
    supplier = purchase.supplier.name
    event("fulfilment.purchase.refused", logging.WARNING, id=claim.line_id, code=exc.error_code)
    with session_scope(ctx.engine) as session:
        key_refused(session, supplier, exc.error_code, exc.message, "a purchase", now)
        if not _still_ours(session, claim):
            return []
        _finish(
            session,
            claim.attempt_id,
            AttemptOutcome.REFUSED,
            now,
            error_code=exc.error_code,
            detail=exc.message,
        )
        line = load_line(session, claim.line_id)
        if rules_out_choice(exc.error_code, exc.message):
            # The next run skips this choice (mappings.resolve reads the same attempt).
            line.lease_until = ctx.lease_until(now)
            set_state(session, line, FulfilmentState.PENDING, None)
            return [Send(PURCHASE, claim.line_id)]
        where = f"supplier {line.supplier_name} plan {line.plan_id}"
        return _no_choice(ctx, session, line, f"{exc.error_code}: {where}: {exc.message}", now)


def _not_bought(
    ctx: Context,
    purchase: Purchase,
    outcome: AttemptOutcome,
    code: str | None,
    detail: str,
    retry_after: float | None,
    *,
    limited: SupplierRateLimited | None = None,
) -> list[Send]:
    """Nothing was bought (no budget, no connection, the key's limit spent): back to pending,
    try again later.

    ``limited``: the key's limit refused it. A spent minute: the line waits as long as the
    client's budget now blocks the key (never retrying into the block, where each refused call
    would count again), and the key's limits are read again at once. A spent day: the supplier
    is paused until its next day with one alert, and the line chooses again at once: its next
    choice, or a wait for the day (``workers.suppliers.keys``).
    """
    now = ctx.clock()
    claim = purchase.claim
    with session_scope(ctx.engine) as session:
        name = purchase.supplier.name
        if isinstance(limited, SupplierDailyLimited):
            spent_for = limited.resume_in if limited.resume_in is not None else 3600.0
            day_spent(session, name, now + timedelta(seconds=spent_for), limited.message, now)
            retry_after = 0.0
        elif limited is not None:
            recheck_account(session, name)
            retry_after = limited.resume_in
        if not _still_ours(session, claim):
            return []
        _finish(session, claim.attempt_id, outcome, now, error_code=code, detail=detail)
        line = load_line(session, claim.line_id)
        line.failures += 1
        line.last_error = detail[:500]
        delay = retry_after if retry_after is not None else ctx.retry_delay(line.failures)
        line.lease_until = ctx.lease_until(now, delay)
        set_state(session, line, FulfilmentState.PENDING, None)
        return [Send(PURCHASE, claim.line_id, delay)]


def _unknown(ctx: Context, purchase: Purchase, detail: str) -> list[Send]:
    now = ctx.clock()
    claim = purchase.claim
    event("fulfilment.purchase.unknown", logging.WARNING, id=claim.line_id)
    with session_scope(ctx.engine) as session:
        if not _still_ours(session, claim):
            return []
        _finish(session, claim.attempt_id, AttemptOutcome.UNKNOWN, now, detail=detail)
        line = load_line(session, claim.line_id)
        return [park_unknown(ctx, session, line, f"purchase outcome unknown ({detail})")]
