"""fulfilment.settle: decide an unknown purchase from the supplier's own order list.

An attempt whose answer was lost may or may not have bought something. The supplier has no
idempotency key, so the only proof is its order list: read it back to the moment the attempt
began, and look for an order of the same plan and quantity that no other attempt has claimed.
"The moment the attempt began" is by the supplier's clock, measured (``bridge.supplier.clock``):
the list also shows orders the bridge bought, whose ``created_at`` narrows the measurement, and
the candidate nearest the moment expected is taken first. Found: adopt it (the unique
(supplier, trans_id) constraint makes a double claim impossible). Not found after the settling
delay: nothing was bought, and the line may be bought again. Either way the attempt records how
it was settled.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState, Settlement
from bridge.supplier import breaker
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.client import SupplierClient
from bridge.supplier.clock import CREATED_AT_PRECISION, ClockOffset, record_clock, supplier_clock
from bridge.supplier.errors import SupplierError, SupplierTransient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import ListedOrder
from bridge.supplier.vocabulary import SupplierStatus
from workers.fulfilment.lines import load_line, set_state
from workers.queue.context import Context
from workers.queue.dispatch import DELIVER, PURCHASE, SETTLE, Send

# While another attempt of the same plan is still in flight its order could look like ours.
IN_FLIGHT_RETRY_SECONDS = 2.0


def settle(ctx: Context, fulfilment_id: int) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state != FulfilmentState.PURCHASE_UNKNOWN:
            return []
        attempt = _open_attempt(session, fulfilment_id)
        if attempt is None:
            # Parked without an open attempt cannot happen by design; never guess: ask a person.
            reason = "purchase_unknown without an open attempt; check the supplier's orders"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            return []
        # From the moment it was sent (after any wait for budget), if it got that far.
        sent = attempt.sent_at or attempt.started_at
        due = sent + timedelta(seconds=ctx.settings.settle_delay_seconds)
        if now < due:
            return _later(ctx, session, line, (due - now).total_seconds())
        if _other_in_flight(session, attempt):
            return _later(ctx, session, line, IN_FLIGHT_RETRY_SECONDS)
        supplier = session.get(Supplier, attempt.supplier_name)
        if supplier is None:
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, "supplier was removed")
            return []
        wanted = Wanted(attempt.plan_id, attempt.quantity, attempt.started_at)
        attempt_id = attempt.id
        clock = supplier_clock(supplier)
    assert attempt_id is not None
    try:
        candidates = _candidates(ctx, supplier, wanted, clock)
    except (SupplierTransient, BudgetExhausted) as exc:
        if isinstance(exc, SupplierTransient):
            breaker.record_failure(ctx.engine, ctx.settings, supplier.name, str(exc), now)
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            line.failures += 1
            line.last_error = f"settling: {exc}"[:500]
            return _later(ctx, session, line, ctx.retry_delay(line.failures))
    except SupplierError as exc:
        with session_scope(ctx.engine) as session:
            line = load_line(session, fulfilment_id)
            reason = f"cannot read the supplier's orders to settle an unknown purchase: {exc}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason[:500])
            return []
    return _conclude(ctx, fulfilment_id, attempt_id, supplier.name, candidates)


def _open_attempt(session: Session, fulfilment_id: int) -> PurchaseAttempt | None:
    return session.exec(
        select(PurchaseAttempt)
        .where(
            PurchaseAttempt.fulfilment_id == fulfilment_id,
            col(PurchaseAttempt.outcome).in_([AttemptOutcome.UNKNOWN, AttemptOutcome.IN_FLIGHT]),
            col(PurchaseAttempt.settlement).is_(None),
        )
        .order_by(col(PurchaseAttempt.id).desc())
    ).first()


def _other_in_flight(session: Session, attempt: PurchaseAttempt) -> bool:
    other = session.exec(
        select(PurchaseAttempt.id).where(
            PurchaseAttempt.supplier_name == attempt.supplier_name,
            PurchaseAttempt.plan_id == attempt.plan_id,
            PurchaseAttempt.outcome == AttemptOutcome.IN_FLIGHT,
            PurchaseAttempt.id != attempt.id,
        )
    ).first()
    return other is not None


@dataclass(frozen=True)
class Wanted:
    """What the lost purchase would have bought, and when it began by our clock."""

    plan_id: int
    quantity: int
    started_at: datetime


def _candidates(
    ctx: Context, supplier: Supplier, wanted: Wanted, stored: ClockOffset
) -> list[ListedOrder]:
    """Orders of this plan and quantity created since the attempt began by the supplier's
    clock, the nearest to the moment expected first."""
    client = ctx.supplier(supplier)
    # A fresh look at the supplier's clock first (the stored one may be stale: clocks get
    # stepped): page 1's timestamp (full dialect) and the orders of ours it shows.
    first = client.list_orders(page=1).orders
    samples = [client.clock_offset] if client.clock_offset else []
    samples += _created_samples(ctx, supplier.name, first)
    clock = stored
    for sample in samples:
        clock = clock.merged(sample)
    since = _since(ctx, wanted, clock)
    listed = _listed_since(client, since)
    # Orders we bought show how the supplier stamps created_at. If they show the read was too
    # short, it is read once more, from the earlier moment.
    samples += _created_samples(ctx, supplier.name, listed)
    for sample in samples:
        clock = clock.merged(sample)
    with session_scope(ctx.engine) as session:
        for sample in samples:
            record_clock(session, supplier.name, sample, ctx.clock())
    if _since(ctx, wanted, clock) < since:
        since = _since(ctx, wanted, clock)
        listed = _listed_since(client, since)
    expected = wanted.started_at + timedelta(seconds=clock.offset)
    found = [
        order
        for order in listed
        if order.created_at is not None
        and order.created_at >= since
        and order.plan_id == wanted.plan_id
        and order.quantity == wanted.quantity
        and order.status != SupplierStatus.CANCELLED
    ]
    return sorted(found, key=lambda o: (abs((o.created_at or expected) - expected), o.id or 0))


def _since(ctx: Context, wanted: Wanted, clock: ClockOffset) -> datetime:
    """The earliest created_at the lost order can carry."""
    early = clock.low - CREATED_AT_PRECISION - ctx.settings.settle_margin_seconds
    return wanted.started_at + timedelta(seconds=early)


def _listed_since(client: SupplierClient, since: datetime) -> list[ListedOrder]:
    return [
        order
        for listing in client.iter_order_pages(since=since)
        for order in listing.orders
        if order.created_at is not None and order.created_at >= since
    ]


def _created_samples(ctx: Context, supplier: str, listed: list[ListedOrder]) -> list[ClockOffset]:
    """What the listed orders that attempts of ours bought show of the supplier's clock."""
    stamps = {order.trans_id: order.created_at for order in listed if order.created_at}
    with session_scope(ctx.engine) as session:
        ours = session.exec(
            select(PurchaseAttempt).where(
                PurchaseAttempt.supplier_name == supplier,
                PurchaseAttempt.outcome == AttemptOutcome.BOUGHT,
                col(PurchaseAttempt.settlement).is_(None),  # answered, so finished_at is real
                col(PurchaseAttempt.trans_id).in_(list(stamps)),
            )
        ).all()
        return [
            ClockOffset.from_created(stamps[a.trans_id], a.started_at, a.finished_at)
            for a in sorted(ours, key=lambda a: a.started_at)
            if a.trans_id and a.finished_at
        ]


def _conclude(
    ctx: Context, fulfilment_id: int, attempt_id: int, supplier: str, candidates: list[ListedOrder]
) -> list[Send]:
    now = ctx.clock()
    for order in candidates:
        try:
            with session_scope(ctx.engine) as session:
                claimed = session.exec(
                    select(PurchaseAttempt.id).where(
                        PurchaseAttempt.supplier_name == supplier,
                        PurchaseAttempt.trans_id == order.trans_id,
                    )
                ).first()
                if claimed is not None:
                    continue
                return _adopt(ctx, session, fulfilment_id, attempt_id, order, now)
        except IntegrityError:
            continue  # another settlement claimed it a moment ago: try the next candidate
    with session_scope(ctx.engine) as session:
        line = load_line(session, fulfilment_id)
        if line.state != FulfilmentState.PURCHASE_UNKNOWN or not _settle_once(
            session,
            attempt_id,
            now,
            outcome=AttemptOutcome.UNKNOWN,
            settlement=Settlement.NOT_FOUND,
        ):
            return []
        event("fulfilment.settle.not_found", logging.WARNING, id=fulfilment_id, attempt=attempt_id)
        return _rebuy(ctx, session, line, now)


def _settle_once(
    session: Session,
    attempt_id: int,
    now: datetime,
    *,
    outcome: AttemptOutcome,
    settlement: Settlement,
) -> bool:
    """Record how the attempt was settled, unless another settle of it did first.

    A settle message can be delivered twice (a redelivery, the sweep), and both copies read the
    supplier at once: without this the second would send a line that is being bought again back
    to buying, and it would be bought twice. The conditional update is the one place where two
    copies meet: the row lock makes the second wait for the first and then find it settled.
    """
    result = session.connection().execute(
        update(PurchaseAttempt)
        .where(col(PurchaseAttempt.id) == attempt_id, col(PurchaseAttempt.settlement).is_(None))
        .values(outcome=outcome, settlement=settlement, settled_at=now)
    )
    return bool(result.rowcount == 1)


def _adopt(
    ctx: Context,
    session: Session,
    fulfilment_id: int,
    attempt_id: int,
    order: ListedOrder,
    now: datetime,
) -> list[Send]:
    trans_id = order.trans_id
    line = load_line(session, fulfilment_id)
    if line.state != FulfilmentState.PURCHASE_UNKNOWN or not _settle_once(
        session, attempt_id, now, outcome=AttemptOutcome.BOUGHT, settlement=Settlement.ADOPTED
    ):
        return []
    session.connection().execute(
        # The unique (supplier, trans_id) check happens here.
        update(PurchaseAttempt)
        .where(col(PurchaseAttempt.id) == attempt_id)
        .values(trans_id=trans_id, amount=order.amount)  # what it cost, as the listing says
    )
    line.trans_id = trans_id
    line.polls = 0
    line.failures = 0
    line.last_error = None
    line.lease_until = ctx.lease_until(now)
    set_state(session, line, FulfilmentState.PURCHASED, None)
    event("fulfilment.settle.adopted", id=fulfilment_id, attempt=attempt_id, trans_id=trans_id)
    return [Send(DELIVER, fulfilment_id)]


def _rebuy(ctx: Context, session: Session, line: Fulfilment, now: datetime) -> list[Send]:
    assert line.id is not None
    line.lease_until = ctx.lease_until(now)
    set_state(session, line, FulfilmentState.PENDING, None)
    return [Send(PURCHASE, line.id)]


def _later(ctx: Context, session: Session, line: Fulfilment, delay: float) -> list[Send]:
    assert line.id is not None
    line.lease_until = ctx.lease_until(ctx.clock(), delay)
    session.add(line)
    return [Send(SETTLE, line.id, delay)]
