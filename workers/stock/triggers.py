"""What asks for a stock sync, all funnelled through ``request_stock_sync`` so a burst causes one.

The triggers: the scheduler (every ``stock_sync_interval_seconds``, from the one lease holder), a
purchase of a synced plan, and ``variations_warehouses`` webhooks that disagree with what the
bridge pushed (the web side reads ``tracked_level`` and marks the level reported). The request
lives on the one control row (``StockSyncControl``): while it is set, further requests send nothing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from bridge.db import insert_ignore, session_scope
from mappings.models import MappingChoice
from workers.queue.context import Context
from workers.queue.dispatch import STOCK_SYNC, Send
from workers.queue.leases import free_or_expired
from workers.stock.models import CONTROL_ID, StockLevel, StockSyncControl


def request_stock_sync(
    conn: Connection, now: datetime, *, trigger: str, delay: float, stale_after: float
) -> list[Send]:
    """Ask for a sync in ``delay`` seconds, inside the caller's transaction.

    Send what this returns once the transaction committed. Only the first request sends a
    message: until that sync starts, later requests (the rest of a burst) find ``requested_at``
    set and send nothing. A request older than ``stale_after`` seconds counts as lost (its
    message died with a worker) and is sent again.
    """
    table = StockSyncControl.__table__  # type: ignore[attr-defined]
    claimed = conn.execute(
        update(table)
        .where(table.c.id == CONTROL_ID)
        .where(free_or_expired(table.c.requested_at, now - timedelta(seconds=stale_after)))
        .values(requested_at=now, trigger=trigger)
    )
    if claimed.rowcount != 1:
        # Already requested, or the very first request ever: the row does not exist yet.
        first = insert_ignore(
            conn,
            table,
            {"id": CONTROL_ID, "requested_at": now, "trigger": trigger, "failures": 0},
            ["id"],
        )
        if first is None:
            return []
    return [Send(STOCK_SYNC, CONTROL_ID, delay)]


def stock_sync_after_purchase(
    ctx: Context, session: Session, *, supplier_name: str, plan_ids: Collection[int]
) -> list[Send]:
    """A debounced sync after a purchase from plans of which at least one is mapped by a synced
    variation. Call it inside the purchase's transaction; send what it returns after the commit.
    """
    if not ctx.settings.stock_sync_enabled or not plan_ids:
        return []
    mapped = session.exec(
        select(MappingChoice.id)
        .where(
            MappingChoice.supplier_name == supplier_name, col(MappingChoice.plan_id).in_(plan_ids)
        )
        .where(col(MappingChoice.enabled).is_(True), col(MappingChoice.stock_sync).is_(True))
        .limit(1)
    ).first()
    if mapped is None:
        return []
    return request_stock_sync(
        session.connection(),
        ctx.clock(),
        trigger="purchase",
        delay=ctx.settings.stock_debounce_seconds,
        stale_after=ctx.settings.lease_seconds,
    )


def periodic_stock_sync(ctx: Context) -> list[Send]:
    """The scheduler's trigger: a sync when none started within the interval."""
    settings = ctx.settings
    if not settings.stock_sync_enabled:
        return []
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
        if control is not None and control.last_started_at is not None:
            interval = max(settings.stock_sync_interval_seconds, control.spacing_seconds)
            if control.last_started_at > now - timedelta(seconds=interval):
                return []
        synced = session.exec(
            select(MappingChoice.id).where(col(MappingChoice.stock_sync).is_(True)).limit(1)
        ).first()
        if synced is None:
            return []
        return request_stock_sync(
            session.connection(),
            now,
            trigger="periodic",
            delay=0.0,
            stale_after=settings.lease_seconds,
        )


@dataclass(frozen=True, slots=True)
class TrackedLevel:
    id: int
    pushed_quantity: int | None
    pushing_quantity: int | None

    def is_ours(self, reported: int) -> bool:
        """The value we pushed, or the one we are pushing (Pancake echoes our own pushes)."""
        return reported in (self.pushed_quantity, self.pushing_quantity)


def tracked_level(
    conn: Connection, shop_id: str, variation_id: str, warehouse_id: str
) -> TrackedLevel | None:
    """The bridge's record of a synced variation's quantity: one read by its unique key."""
    table = StockLevel.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        sa_select(table.c.id, table.c.pushed_quantity, table.c.pushing_quantity).where(
            table.c.shop_id == shop_id,
            table.c.variation_id == variation_id,
            table.c.warehouse_id == warehouse_id,
        )
    ).first()
    return TrackedLevel(row.id, row.pushed_quantity, row.pushing_quantity) if row else None


def mark_level_reported(conn: Connection, level_id: int, reported: int, now: datetime) -> None:
    """Pancake reported a quantity other than ours: the next sync pushes this variation."""
    table = StockLevel.__table__  # type: ignore[attr-defined]
    conn.execute(
        update(table)
        .where(table.c.id == level_id)
        .values(pancake_quantity=reported, reported_at=now, updated_at=now)
    )
