"""fulfilment.settle: decide an unknown purchase from the supplier's own order list.

An attempt whose answer was lost may or may not have bought something. The supplier has no
idempotency key, so the only proof is its order list, looked at a few seconds after the send and
then less often until a window has passed (``workers.fulfilment.looks``). Each look reads it back
to the moment the attempt was sent by the supplier's time (``bridge.supplier.clock``: the clock
from the answers' ``timestamp``, the zone set or learned, every plausible zone until then). The
orders that could be the purchase (its plan, at most its quantity, created since then, not
cancelled or refunded, held by no other attempt) are then proven ours where the list does not
say: ``orders/status`` shows who placed each and how. ``bridge.supplier.adoption`` decides:

- adopt: one order, or the parts of a quantity split (the unique (supplier, trans_id) constraint
  makes a double claim impossible; a race lost is settled again);
- nothing bought: the line may be bought again;
- undecided (two candidates, one that cannot be proven ours): the line needs a person. Never a
  re-buy, never a guess.

Before the window has passed only an adoption is acted on: an order not listed yet proves
nothing, and a reading that is undecided may clear up once every order is listed. Nor does an
early look adopt while purchases of other quantities of the plan lost their answers alongside:
the parts of a quantity split listed one by one could pass for one of them meanwhile.

Purchases that lost their answers together (a worker killed mid-call, an outage) see each
other's orders: alike ones pair with as many orders by rank, and a reading that other purchases
lost alongside take part in is read again, for ``SETTLE_PATIENCE_SECONDS``, while they settle.

An attempt answered with several orders its answer did not pair with the item holds them already
(``purchase._bought``): the list shows what they hold, and the line is never bought again. The
list's orders the bridge bought teach the supplier's zone meanwhile (``workers.fulfilment.ours``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState, Settlement
from bridge.supplier import breaker, paging
from bridge.supplier.adoption import (
    Adopt,
    Candidate,
    Decision,
    NothingBought,
    Owner,
    Sibling,
    Undecided,
    decide,
    decide_named,
    siblings_of,
)
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.client import SupplierClient
from bridge.supplier.clock import CreatedWindow, created_window, note_clock, supplier_time
from bridge.supplier.errors import SupplierError, SupplierRefused, SupplierTransient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import ListedOrder, OrderPage
from bridge.supplier.vocabulary import SupplierStatus
from workers.fulfilment import looks
from workers.fulfilment.held import Part, hold_parts
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.ours import (
    answered,
    learn_created,
    learn_from_status,
    learn_user,
    listed_samples,
)
from workers.queue.context import Context
from workers.queue.dispatch import DELIVER, PURCHASE, SETTLE, Send

# While another attempt of the same plan is still in flight its order could look like ours; a
# settlement that lost a race for an order looks again as soon.
IN_FLIGHT_RETRY_SECONDS = 2.0
# The supplier took these back and returned the money: such an order is no purchase to adopt.
MONEY_BACK = frozenset({SupplierStatus.CANCELLED, SupplierStatus.REFUNDED})
# Purchases that lost their answers together (one worker's crash, one outage) were sent within
# this long of each other: only these pair with each other (``bridge.supplier.adoption``).
SIBLING_SECONDS = 60.0
# An undecided reading in which other purchases lost alongside take part may clear up once they
# settle and hold their orders: it is read again for this long (after the settling delay)
# before a person is asked.
SETTLE_PATIENCE_SECONDS = 30.0
# The orders of ours the window also takes a band from: the newest few.
FRESH_SAMPLES = 3
# Who placed each candidate costs an orders/status read where the list does not say; past this
# many candidates the line goes to a person instead of spending the key's budget.
MAX_CANDIDATES = 10


@dataclass(frozen=True)
class Lost:
    """The purchase whose answer was lost, as its attempt recorded it."""

    attempt_id: int
    plan_id: int
    quantity: int
    sent: datetime  # by our clock, when the request went out (or the attempt began)
    fields: dict[str, str] | None  # the plan fields it was bought with
    # Orders a create answer named without pairing them with the item (trans_ids, the first
    # held by the attempt): they are ours; only what they hold is unknown.
    named: tuple[str, ...] = ()


def settle(ctx: Context, fulfilment_id: int) -> list[Send]:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        line = _parked(session, fulfilment_id)
        if line is None:
            return []
        attempt = _open_attempt(session, fulfilment_id)
        if attempt is None:
            # Parked without an open attempt cannot happen by design; never guess: ask a person.
            reason = "purchase_unknown without an open attempt; check the supplier's orders"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason)
            return []
        # From the moment it was sent (after any wait for budget), if it got that far.
        sent = attempt.sent_at or attempt.started_at
        elapsed = (now - sent).total_seconds()
        first = looks.first_look(ctx.settings)
        if elapsed < first:
            return _later(ctx, session, line, first - elapsed)
        if _other_in_flight(session, attempt):
            return _later(ctx, session, line, IN_FLIGHT_RETRY_SECONDS)
        supplier = session.get(Supplier, attempt.supplier_name)
        if supplier is None:
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, "supplier was removed")
            return []
        assert attempt.id is not None
        fields = json.loads(ctx.box.decrypt(line.fields_enc)) if line.fields_enc else None
        lost = Lost(
            attempt.id, attempt.plan_id, attempt.quantity, sent, fields, _named(session, attempt)
        )
    try:
        reading = _decide(ctx, supplier, lost)
    except (SupplierTransient, BudgetExhausted) as exc:
        if isinstance(exc, SupplierTransient):
            breaker.record_failure(ctx.engine, ctx.settings, supplier.name, str(exc), now)
        with session_scope(ctx.engine) as session:
            line = _parked(session, fulfilment_id)
            if line is None:
                return []  # another copy settled it meanwhile
            line.failures += 1
            line.last_error = f"settling: {exc}"[:500]
            return _later(ctx, session, line, ctx.retry_delay(line.failures))
    except SupplierError as exc:
        with session_scope(ctx.engine) as session:
            line = _parked(session, fulfilment_id)
            if line is None:
                return []  # another copy settled it meanwhile
            reason = f"cannot read the supplier's orders to settle an unknown purchase: {exc}"
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason[:500])
            return []
    decision = reading.decision
    found = isinstance(decision, Adopt) and not reading.mixed
    if not found and not looks.final(ctx.settings, elapsed):
        # An early look proves only what it finds: look again, and conclude at the window.
        delay = looks.next_look(ctx.settings, elapsed)
        event(
            "fulfilment.settle.look_again", id=fulfilment_id, attempt=lost.attempt_id, after=delay
        )
        return _look_again(ctx, fulfilment_id, delay)
    patience = timedelta(seconds=ctx.settings.settle_delay_seconds + SETTLE_PATIENCE_SECONDS)
    if isinstance(decision, Undecided) and reading.contested and now < lost.sent + patience:
        # Other purchases lost alongside may yet settle and hold their orders: look again.
        return _look_again(ctx, fulfilment_id, IN_FLIGHT_RETRY_SECONDS)
    return _conclude(ctx, fulfilment_id, lost, supplier.name, decision)


def _parked(session: Session, fulfilment_id: int) -> Fulfilment | None:
    """The line, locked (``load_line``), while it waits to be settled; None once it does not:
    another copy of the settle (a redelivery, the sweep) may have settled it a moment ago."""
    line = load_line(session, fulfilment_id)
    return line if line.state == FulfilmentState.PURCHASE_UNKNOWN else None


def _open_attempt(session: Session, fulfilment_id: int) -> PurchaseAttempt | None:
    return session.exec(
        select(PurchaseAttempt)
        .where(
            PurchaseAttempt.fulfilment_id == fulfilment_id,
            col(PurchaseAttempt.outcome).in_([AttemptOutcome.UNKNOWN, AttemptOutcome.IN_FLIGHT]),
            col(PurchaseAttempt.settlement).is_(None),
            col(PurchaseAttempt.part_of).is_(None),
        )
        .order_by(col(PurchaseAttempt.id).desc())
    ).first()


def _named(session: Session, attempt: PurchaseAttempt) -> tuple[str, ...]:
    if attempt.trans_id is None:
        return ()
    parts = session.exec(
        select(PurchaseAttempt.trans_id)
        .where(col(PurchaseAttempt.part_of) == attempt.id)
        .order_by(col(PurchaseAttempt.id))
    ).all()
    return (attempt.trans_id, *(p for p in parts if p))


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
class Reading:
    """What one look at the supplier's orders proves, and who else could be in the reading."""

    decision: Decision
    # Other purchases lost alongside this one are still open: an undecided reading may clear up
    # once they settle.
    contested: bool = False
    # Some of those bought other quantities of the plan: until every order is surely listed,
    # the parts of a split listed one by one could pass for another purchase's order.
    mixed: bool = False


def _decide(ctx: Context, supplier: Supplier, lost: Lost) -> Reading:
    """What the supplier's orders prove, and about the purchases lost alongside this one."""
    client = ctx.supplier(supplier)
    window, listed = _read_window(ctx, client, supplier.name, lost)
    if lost.named:
        found = [order for order in listed if order.trans_id in lost.named]
        missing = [t for t in lost.named if t not in {o.trans_id for o in found}]
        return Reading(decide_named(found, missing, lost.plan_id, lost.quantity))
    pool = [
        order
        for order in listed
        if order.created_at is not None
        and window.holds(order.created_at)
        and order.plan_id == lost.plan_id
        and order.quantity <= lost.quantity
        and order.status not in MONEY_BACK
    ]
    pool, alongside = _held_and_alongside(ctx, supplier.name, lost, pool)
    if len(pool) > MAX_CANDIDATES:
        reason = f"{len(pool)} orders of the plan could be this purchase"
        return Reading(Undecided(reason), alongside.contested, alongside.mixed)
    candidates = [_whose(client, order) for order in pool]
    own_user = _stored_user(ctx, supplier.name)
    if own_user is None and any(c.owner(None) == Owner.UNPROVEN for c in candidates):
        own_user = _learn_own_user(ctx, client, supplier.name)
    siblings = siblings_of(alongside.siblings, lost.attempt_id, lost.fields, candidates)
    decision = decide(candidates, own_user, lost.quantity, siblings, lost.fields)
    return Reading(decision, alongside.contested, alongside.mixed)


def _read_window(
    ctx: Context, client: SupplierClient, supplier: str, lost: Lost
) -> tuple[CreatedWindow, list[ListedOrder]]:
    """Where the lost order's created_at may read, and the listed orders back to then.

    Page 1 comes first: its ``timestamp`` (full dialect) is a fresh look at the supplier's clock
    (clocks get stepped), and the orders of ours it shows, at its zone. The window has a band per
    zone still possible, and one per such order of ours (what the supplier really prints, should
    the zone set be wrong). If the orders read show it reaches back further, it is read again.
    """
    first = client.list_orders(page=1)
    window = _window(ctx, client, supplier, lost, first.orders)
    listed = _listed_since(client, window.since, first)
    wider = _window(ctx, client, supplier, lost, listed)
    if wider.since < window.since:
        listed = _listed_since(client, wider.since, first)
    return wider, listed


def _window(
    ctx: Context, client: SupplierClient, supplier: str, lost: Lost, seen: list[ListedOrder]
) -> CreatedWindow:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        row = session.get(Supplier, supplier)
        assert row is not None
        note_clock(row, client.clock_offset, now)
        samples = listed_samples(session, supplier, seen)
        learn_created(session, supplier, samples)
        bands = supplier_time(row).created_offsets()
    # The newest orders of ours show how the supplier prints now; older ones add nothing.
    fresh = tuple(samples[-FRESH_SAMPLES:])
    return created_window((*bands, *fresh), lost.sent, now, ctx.settings.settle_margin_seconds)


def _listed_since(client: SupplierClient, since: datetime, first: OrderPage) -> list[ListedOrder]:
    """Every order on the pages that hold those created since ``since`` (page 1 as read)."""

    def fetch(number: int) -> OrderPage:
        return first if number == 1 else client.list_orders(page=number)

    return [order for page in paging.order_pages(fetch, since=since) for order in page.orders]


@dataclass(frozen=True)
class Alongside:
    """The purchases of ours (this one included) that lost their answers close to this one, of
    its plan and still open: those of its quantity (``siblings``), and whether there are any of
    other quantities (``mixed``)."""

    siblings: list[Sibling]
    mixed: bool

    @property
    def contested(self) -> bool:
        """Are other purchases than this one open?"""
        return self.mixed or len(self.siblings) > 1


def _held_and_alongside(
    ctx: Context, supplier: str, lost: Lost, pool: list[ListedOrder]
) -> tuple[list[ListedOrder], Alongside]:
    """The orders of ``pool`` no attempt holds (a split's further orders included), and the
    purchases lost alongside this one, read in one statement: one settling meanwhile shows
    either still open with its order unheld, or settled with it held, never half of each."""
    sent = func.coalesce(PurchaseAttempt.sent_at, PurchaseAttempt.started_at)
    open_lost = and_(
        col(PurchaseAttempt.plan_id) == lost.plan_id,
        col(PurchaseAttempt.outcome) == AttemptOutcome.UNKNOWN,
        col(PurchaseAttempt.settlement).is_(None),
        col(PurchaseAttempt.part_of).is_(None),
        col(PurchaseAttempt.trans_id).is_(None),
        col(Fulfilment.state) == FulfilmentState.PURCHASE_UNKNOWN,
    )
    with session_scope(ctx.engine) as session:
        rows = session.exec(
            select(PurchaseAttempt, sent, Fulfilment.fields_enc)
            .join(Fulfilment, col(Fulfilment.id) == col(PurchaseAttempt.fulfilment_id))
            .where(
                col(PurchaseAttempt.supplier_name) == supplier,
                or_(open_lost, col(PurchaseAttempt.trans_id).in_([o.trans_id for o in pool])),
            )
        ).all()
    held = {attempt.trans_id for attempt, _, _ in rows if attempt.trans_id}
    near = timedelta(seconds=SIBLING_SECONDS)
    lost_near = [
        (attempt, when, fields)
        for attempt, when, fields in rows
        if attempt.trans_id is None and attempt.id is not None and abs(when - lost.sent) <= near
    ]
    siblings = [
        Sibling(attempt.id, when, json.loads(ctx.box.decrypt(fields)) if fields else None)
        for attempt, when, fields in lost_near
        if attempt.id is not None and attempt.quantity == lost.quantity
    ]
    mixed = any(attempt.quantity != lost.quantity for attempt, _, _ in lost_near)
    unheld = [order for order in pool if order.trans_id not in held]
    return unheld, Alongside(siblings, mixed)


def _whose(client: SupplierClient, order: ListedOrder) -> Candidate:
    """Who placed the order and how: as the list says, else as ``orders/status`` says."""
    if order.user_id is not None or order.order_source is not None:
        return Candidate(order, order.user_id, order.order_source)
    status = client.order_status(order.trans_id)
    return Candidate(order, status.user_id, status.order_source, status.fields)


def _stored_user(ctx: Context, supplier: str) -> str | None:
    with session_scope(ctx.engine) as session:
        row = session.get(Supplier, supplier)
        return row.user_id if row else None


def _learn_own_user(ctx: Context, client: SupplierClient, supplier: str) -> str | None:
    """The key's own user: from the newest order the bridge placed and was answered for, else
    from ``account/info``; None when neither tells."""
    with session_scope(ctx.engine) as session:
        placed = session.exec(
            select(PurchaseAttempt)
            .where(
                PurchaseAttempt.supplier_name == supplier,
                PurchaseAttempt.outcome == AttemptOutcome.BOUGHT,
                col(PurchaseAttempt.settlement).is_(None),
                col(PurchaseAttempt.trans_id).is_not(None),
            )
            .order_by(col(PurchaseAttempt.id).desc())
            .limit(5)
        ).all()
        ours = next((a for a in placed if answered(a)), None)
    try:
        if ours is not None and ours.trans_id is not None:
            status = client.order_status(ours.trans_id)
            with session_scope(ctx.engine) as session:
                learn_from_status(session, supplier, ours, status)
        if _stored_user(ctx, supplier) is None:
            user = client.account_info().user_id
            with session_scope(ctx.engine) as session:
                learn_user(session, supplier, user)
    except SupplierRefused:
        pass  # not told: whose the candidates are stays unproven
    return _stored_user(ctx, supplier)


def _conclude(
    ctx: Context, fulfilment_id: int, lost: Lost, supplier: str, decision: Decision
) -> list[Send]:
    now = ctx.clock()
    if isinstance(decision, Adopt):
        try:
            with session_scope(ctx.engine) as session:
                return _adopt(ctx, session, fulfilment_id, lost, decision.orders, now)
        except IntegrityError:
            # Another settlement took one of these orders a moment ago: look again.
            return _look_again(ctx, fulfilment_id, IN_FLIGHT_RETRY_SECONDS)
    with session_scope(ctx.engine) as session:
        line = _parked(session, fulfilment_id)
        settlement = (
            Settlement.NOT_FOUND if isinstance(decision, NothingBought) else Settlement.AMBIGUOUS
        )
        if line is None or not _settle_once(
            session, lost.attempt_id, now, outcome=AttemptOutcome.UNKNOWN, settlement=settlement
        ):
            return []
        if isinstance(decision, Undecided):
            event("fulfilment.settle.undecided", logging.WARNING, id=fulfilment_id)
            reason = (
                f"a purchase at {supplier} lost its answer and cannot be settled by itself: "
                f"{decision.reason}. Check the supplier's orders; `bridge fulfilments retry` "
                "buys the line again"
            )
            set_state(session, line, FulfilmentState.NEEDS_ATTENTION, reason[:500])
            return []
        event("fulfilment.settle.not_found", logging.WARNING, id=fulfilment_id)
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
    lost: Lost,
    orders: tuple[ListedOrder, ...],
    now: datetime,
) -> list[Send]:
    """The line holds these orders: the first on its attempt, any further ones (a split) on
    rows of their own. The unique (supplier, trans_id) check happens in these writes."""
    line = _parked(session, fulfilment_id)
    if line is None or not _settle_once(
        session, lost.attempt_id, now, outcome=AttemptOutcome.BOUGHT, settlement=Settlement.ADOPTED
    ):
        return []
    attempt = session.get(PurchaseAttempt, lost.attempt_id)
    assert attempt is not None
    listed = {order.trans_id: order for order in orders}
    # Named by the create answer: the attempt holds the first already, its rows the others.
    first = listed.get(lost.named[0]) if lost.named else orders[0]
    assert first is not None
    attempt.trans_id = first.trans_id
    attempt.quantity = first.quantity
    attempt.amount = first.amount  # what it cost, as the listing says
    session.add(attempt)
    if lost.named:
        for row in session.exec(
            select(PurchaseAttempt).where(PurchaseAttempt.part_of == attempt.id)
        ):
            shown = listed.get(row.trans_id or "")
            if shown is not None:
                row.quantity, row.amount = shown.quantity, shown.amount
                session.add(row)
    else:
        parts = [Part(o.trans_id, o.quantity, o.amount) for o in orders if o is not first]
        hold_parts(session, attempt, parts, now, settlement=Settlement.ADOPTED)
    session.flush()
    line.trans_id = first.trans_id
    line.supplier_status = None
    line.polls = 0
    line.failures = 0
    line.last_error = None
    line.lease_until = ctx.lease_until(now)
    set_state(session, line, FulfilmentState.PURCHASED, None)
    trans_ids = ",".join(listed)
    event(
        "fulfilment.settle.adopted", id=fulfilment_id, attempt=lost.attempt_id, trans_id=trans_ids
    )
    return [Send(DELIVER, fulfilment_id)]


def _rebuy(ctx: Context, session: Session, line: Fulfilment, now: datetime) -> list[Send]:
    assert line.id is not None
    line.lease_until = ctx.lease_until(now)
    set_state(session, line, FulfilmentState.PENDING, None)
    return [Send(PURCHASE, line.id)]


def _look_again(ctx: Context, fulfilment_id: int, delay: float) -> list[Send]:
    """Settle the line again in ``delay`` seconds, unless it was settled meanwhile."""
    with session_scope(ctx.engine) as session:
        line = _parked(session, fulfilment_id)
        if line is None:
            return []
        return _later(ctx, session, line, delay)


def _later(ctx: Context, session: Session, line: Fulfilment, delay: float) -> list[Send]:
    assert line.id is not None
    line.lease_until = ctx.lease_until(ctx.clock(), delay)
    session.add(line)
    return [Send(SETTLE, line.id, delay)]
