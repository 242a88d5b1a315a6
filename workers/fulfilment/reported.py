"""An order Pancake reported, by webhook or in the catch-up's order list: what it asks of intake.

Both paths funnel here, so a re-seen order is handled one way wherever it was seen. A new order in
a trigger status gets a row and an intake. A known one is read again only if it may have changed
in a way that matters (skipped before, lines not seen yet, cancelled now); anything else, such as
Pancake's echo of our own note update or the catch-up seeing an order again, costs nothing. The
report itself decides nothing: intake reads the order from the API before anything is bought.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from bridge.db import insert_ignore
from bridge.models import Order
from bridge.pancake.vocabulary import CANCELLING
from bridge.states import OrderState
from workers.queue.dispatch import INTAKE, Send


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
) -> tuple[Finding, list[Send]]:
    """Record what the report asks for inside the caller's transaction; send what this returns
    once it committed. ``lease``: how long the queued intake may take before the sweep resends."""
    asked = classify(status, triggers)
    if asked == Finding.CANCEL_QUEUED:
        return _looks_cancelled(conn, shop_id, order_id, now, lease)
    if asked == Finding.QUEUED:
        return _needs_work(conn, shop_id, order_id, item_count, now, lease)
    return asked, []


def _looks_cancelled(
    conn: Connection, shop_id: str, order_id: str, now: datetime, lease: timedelta
) -> tuple[Finding, list[Send]]:
    """A known order shows a cancelling status: intake reads the order (the API, not the
    report, decides) and cancels the lines not bought yet. An unknown order has nothing to
    cancel."""
    table = Order.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        select(table.c.id, table.c.state).where(
            table.c.shop_id == shop_id, table.c.order_id == order_id
        )
    ).first()
    if row is None or row.state == OrderState.CANCELLED:
        return Finding.IGNORED_STATUS, []
    return Finding.CANCEL_QUEUED, _reread(conn, row.id, row.state, now, lease)


def _needs_work(
    conn: Connection, shop_id: str, order_id: str, item_count: int, now: datetime, lease: timedelta
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
    row = conn.execute(
        select(table.c.id, table.c.state, table.c.item_count).where(
            table.c.shop_id == shop_id, table.c.order_id == order_id
        )
    ).one()
    # Re-read the order only if it was skipped or failed before (staff may have fixed it) or
    # now shows lines we have not seen: the echo of our own note update (same lines) must not
    # cost a Pancake call.
    stale = row.state in (OrderState.SKIPPED, OrderState.PENDING, OrderState.FAILED) or (
        row.state == OrderState.SYNCED and item_count > row.item_count
    )
    if not stale:
        return Finding.KNOWN, []
    sends = _reread(conn, row.id, row.state, now, lease)
    return (Finding.QUEUED if sends else Finding.KNOWN), sends


def _reread(
    conn: Connection, order_pk: int, state: str, now: datetime, lease: timedelta
) -> list[Send]:
    """Have intake read the order again. An intake queued or running (``pending``) is made to
    read it again before it concludes (the generation moves); otherwise one is queued."""
    table = Order.__table__  # type: ignore[attr-defined]
    bump = table.c.generation + 1
    where = update(table).where(table.c.id == order_pk)
    if state == OrderState.PENDING:
        conn.execute(where.values(generation=bump))
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
