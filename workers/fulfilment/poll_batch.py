"""Batched delivery polling: one ``orders/list`` read answers for every waiting order of a supplier.

``orders/status`` costs one request per order per poll; ``orders/list`` shows up to 100 orders per
request. While a supplier has several orders still pending (manual plans), one poller at a time
(a lease per supplier, which also spaces the polls) reads the list back to the oldest waiting
order and marks the ones the supplier no longer calls pending or processing (completed, cancelled,
refunded, or a status the bridge does not know); only those then cost an ``orders/status`` read,
which carries the credentials and decides how the line ends.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, func, or_
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.models import Fulfilment
from bridge.states import AWAITING_DELIVERY
from bridge.supplier import breaker
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.clock import CREATED_AT_PRECISION, created_offset
from bridge.supplier.delivery import STATUS_CHARS
from bridge.supplier.errors import SupplierTransient
from bridge.supplier.models import Supplier
from bridge.supplier.vocabulary import IN_PROGRESS
from workers.queue.context import Context
from workers.queue.dispatch import DELIVER, Send
from workers.queue.leases import take_named


def _undecided(supplier: str) -> list[ColumnElement[bool]]:
    return [
        col(Fulfilment.supplier_name) == supplier,
        col(Fulfilment.state).in_(AWAITING_DELIVERY),
        col(Fulfilment.trans_id).is_not(None),
        or_(
            col(Fulfilment.supplier_status).is_(None),
            col(Fulfilment.supplier_status).in_(IN_PROGRESS),
        ),
    ]


def waiting_orders(session: Session, supplier: str) -> int:
    """How many bought orders of this supplier the supplier is still working on (as far as
    the bridge last heard)."""
    count = session.exec(select(func.count()).where(*_undecided(supplier))).one()
    return int(count)


def poll_batch(
    ctx: Context, fulfilment_id: int, supplier: Supplier, delay: float
) -> list[Send] | None:
    """Poll the supplier's list for all its waiting orders; None if another poll ran just now.

    Raises ``ListingIncomplete`` when the list cannot be read whole: poll the order itself.
    """
    now = ctx.clock()
    holder = f"watch:{fulfilment_id}:{now.timestamp()}"
    # The lease is never released: expiring after ``delay`` is what spaces the list reads.
    if not take_named(ctx, f"watch:{supplier.name}", holder, ttl_seconds=delay):
        return None
    with session_scope(ctx.engine) as session:
        rows = session.exec(
            select(Fulfilment.id, Fulfilment.trans_id, Fulfilment.created_at).where(
                *_undecided(supplier.name)
            )
        ).all()
    if not rows:
        return []
    waiting = {trans_id: line_id for line_id, trans_id, _ in rows if trans_id}
    # The oldest waiting order's created_at, by the supplier's clock in any zone it may print.
    early = created_offset(supplier).low - CREATED_AT_PRECISION - ctx.settings.settle_margin_seconds
    since = min(created for _, _, created in rows) + timedelta(seconds=early)
    client = ctx.supplier(supplier)
    moved: dict[int, str] = {}
    try:
        for listing in client.iter_order_pages(since=since):
            for order in listing.orders:
                line_id = waiting.get(order.trans_id)
                if line_id is not None and order.status not in IN_PROGRESS:
                    moved[line_id] = order.status[:STATUS_CHARS]
    except SupplierTransient as exc:
        breaker.record_failure(ctx.engine, ctx.settings, supplier.name, str(exc), now)
        return []
    except BudgetExhausted:
        return []
    with session_scope(ctx.engine) as session:
        for line_id, status in moved.items():
            line = session.get(Fulfilment, line_id)
            if line is not None:
                line.supplier_status = status
                session.add(line)
    return [Send(DELIVER, line_id) for line_id in sorted(moved)]
