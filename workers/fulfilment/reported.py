"""An order Pancake reported, by webhook or in the catch-up's order list: what it asks of intake.

Both paths funnel here, so a re-seen order is handled one way wherever it was seen. A new order in
a trigger status gets a row and an intake. A known one is read again only if it may have changed
in a way that matters: skipped or failed before, cancelled before and now in a trigger status (a
restore), cancelled or returned now, or items that differ from those of the last read (an edit:
the report's ``items_digest``; a report without one falls back to a growing item count). Anything
else, such as Pancake's echo of our own note update or the catch-up seeing an order again, costs
nothing; so does an order skipped as older than its shop, whatever status it moves to. The report
itself decides nothing: intake reads the order from the API before anything is bought.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bridge.db import insert_ignore
from bridge.models import Order
from bridge.pancake.vocabulary import CANCELLING, OrderStatus
from bridge.states import OrderState
from workers.queue.dispatch import INTAKE, Send

# A known order in one of these, reported in a trigger status, is read again: staff may have
# fixed it, confirmed it, or restored it (cancelled 6 -> confirmed 1).
REREAD_ON_TRIGGER = frozenset(
    {OrderState.SKIPPED, OrderState.PENDING, OrderState.FAILED, OrderState.CANCELLED}
)


class Finding(StrEnum):
    """What a report of an order led to (the webhook endpoint answers with the same words)."""

    QUEUED = "queued"  # the order needs fulfilment; intake was queued
    KNOWN = "known"  # the order is already being handled; nothing new to do
    IGNORED_STATUS = "ignored:status"  # not a trigger status, or cancelled and never seen
    CANCEL_QUEUED = "cancel:queued"  # a known order now looks cancelled: intake reads it again


def classify(status: int | None, triggers: Collection[int]) -> Finding:
    """What the reported status alone asks for, before the order's row is looked at."""
    if status in CANCELLING:
        return Finding.CANCEL_QUEUED
    if status not in triggers:
        return Finding.IGNORED_STATUS
    return Finding.QUEUED


def order_reported(
    conn: Connection,
    shop_id: str,
    order_id: str,
    *,
    status: int | None,
    item_count: int,
    triggers: Collection[int],
    now: datetime,
    lease: timedelta,
    items_digest: str | None = None,
) -> tuple[Finding, list[Send]]:
    """Record what the report asks for inside the caller's transaction; send what this returns
    once it committed. ``lease``: how long the queued intake may take before the sweep resends.
    ``items_digest``: ``bridge.pancake.schemas.items_digest`` of the reported items (None: the
    reporter did not say; then only a growing ``item_count`` counts as an edit)."""
    asked = classify(status, triggers)
    if asked == Finding.CANCEL_QUEUED:
        known = _find(conn, shop_id, order_id)
        return _looks_cancelled(conn, known, status, items_digest, now, lease)
    if asked == Finding.QUEUED:
        return _needs_work(conn, shop_id, order_id, item_count, items_digest, now, lease)
    return asked, []


@dataclass(frozen=True)
class _Known:
    """What the bridge holds of a reported order: enough to tell whether to read it again."""

    id: int
    state: str
    item_count: int
    items_digest: str | None
    predates_shop: bool

    def items_changed(self, item_count: int, items_digest: str | None) -> bool:
        """The report shows other items than the last read (more of them, without a digest)."""
        if items_digest is not None and self.items_digest is not None:
            return items_digest != self.items_digest
        return item_count > self.item_count


def _find(conn: Connection, shop_id: str, order_id: str) -> _Known | None:
    table = Order.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        select(
            table.c.id,
            table.c.state,
            table.c.item_count,
            table.c.items_digest,
            table.c.predates_shop,
        ).where(table.c.shop_id == shop_id, table.c.order_id == order_id)
    ).first()
    if row is None:
        return None
    return _Known(row.id, row.state, row.item_count, row.items_digest, bool(row.predates_shop))


def _looks_cancelled(
    conn: Connection,
    known: _Known | None,
    status: int | None,
    items_digest: str | None,
    now: datetime,
    lease: timedelta,
) -> tuple[Finding, list[Send]]:
    """A known order shows a cancelling status: intake reads the order (the API, not the
    report, decides) and cancels the lines not bought yet. An unknown order has nothing to
    cancel, nor has one skipped as older than its shop; a partial return already read (the same
    returned units: our own note update echoed) asks nothing more."""
    if known is None or known.state == OrderState.CANCELLED:
        return Finding.IGNORED_STATUS, []
    if known.predates_shop:
        return Finding.KNOWN, []
    if (
        status == OrderStatus.PARTLY_RETURNED
        and known.state == OrderState.SYNCED
        and items_digest is not None
        and items_digest == known.items_digest
    ):
        return Finding.KNOWN, []
    return Finding.CANCEL_QUEUED, _reread(conn, known.id, known.state, now, lease)


def _needs_work(
    conn: Connection,
    shop_id: str,
    order_id: str,
    item_count: int,
    items_digest: str | None,
    now: datetime,
    lease: timedelta,
) -> tuple[Finding, list[Send]]:
    table = Order.__table__  # type: ignore[attr-defined]
    new_id = insert_ignore(
        conn,
        table,
        {
            "shop_id": shop_id,
            "order_id": order_id,
            "state": OrderState.PENDING,
            "item_count": 0,
            "generation": 0,
            "failures": 0,
            "lease_until": now + lease,
            "created_at": now,
            "updated_at": now,
        },
        ["shop_id", "order_id"],
    )
    if new_id is not None:
        return Finding.QUEUED, [Send(INTAKE, new_id)]
    known = _find(conn, shop_id, order_id)
    assert known is not None  # the insert met it
    # Read it again only if it was skipped, failed or cancelled before (staff may have fixed,
    # confirmed or restored it), or its items changed since the last read: the echo of our own
    # note update (same items) must not cost a Pancake call. One skipped as older than its
    # shop stays skipped, unread, whatever status it moves to.
    if known.predates_shop:
        return Finding.KNOWN, []
    stale = known.state in REREAD_ON_TRIGGER or (
        known.state == OrderState.SYNCED and known.items_changed(item_count, items_digest)
    )
    if not stale:
        return Finding.KNOWN, []
    sends = _reread(conn, known.id, known.state, now, lease)
    return (Finding.QUEUED if sends else Finding.KNOWN), sends


def _reread(
    conn: Connection, order_pk: int, state: str, now: datetime, lease: timedelta
) -> list[Send]:
    """Have intake read the order again. An intake queued or running (``pending``) is made to
    read it again before it concludes (the generation moves); otherwise one is queued.

    ``state`` was read before: on PostgreSQL an intake may have concluded since (the read saw
    the row as it was before that commit). Only a row still pending is left to its intake.
    """
    table = Order.__table__  # type: ignore[attr-defined]
    bump = table.c.generation + 1
    where = update(table).where(table.c.id == order_pk)
    if state == OrderState.PENDING:
        still = conn.execute(
            where.where(table.c.state == OrderState.PENDING).values(generation=bump)
        )
        if still.rowcount == 1:
            return []
    conn.execute(
        where.values(
            state=OrderState.PENDING,
            generation=bump,
            # A failed order read again gets a fresh count, as `bridge orders retry` gives it.
            failures=0,
            lease_until=now + lease,
            updated_at=now,
        )
    )
    return [Send(INTAKE, order_pk)]
