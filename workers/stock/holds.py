"""Open orders Pancake holds stock for, counted from Pancake's own figures.

Pancake lowers a variation's sellable quantity (``remain_quantity``) in the order's warehouse the
moment an order is created (status 0), long before any trigger status, and raises it again when
the order is cancelled or deleted; each move comes as a ``variations_warehouses`` webhook that
names the order (``order_id``) and the change (``change_quantity``), as captured in production
(real-payloads/pancake-webhook-hogikids-stock-order.json). The web side records each move here
(``record_hold``); the sync subtracts what is held from what it pushes, so a push no longer
writes supplier stock back over units Pancake already promised.

Why these webhooks rather than the order list: they are the reservation Pancake itself made
(which variation, which warehouse, how many units), they cost no API call (a sync with nothing
new still makes none), and changes add up in whatever order they arrive (several come
microseconds apart, out of order; an exact replay is dropped by the endpoint's deduplication).
Reading the order list instead would cost every sync a listing of every open order of every
shop (shops keep many orders at status 0 that never go further) and would guess at what
Pancake reserved. The cost: a move whose webhook Pancake never sends is not known (Pancake
replays nothing), and the shop must send ``variations_warehouses`` (``bridge doctor`` says).

A hold counts while the bridge has no line for that order and variation: from then on the
line's own state counts (waiting, being bought, bought: ``reservations``), never both; a line
that stopped before buying (needs attention, failed) leaves the hold counting. Our own
pushes name no order, so they never make a hold and never cause another push.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bridge.models import Fulfilment
from bridge.states import RETRYABLE
from mappings.models import MappingChoice
from workers.stock.models import StockHold

# A hold the bridge no longer counts (its order became the bridge's, or its variation is not
# mapped) is kept this long: it still says which warehouses the shop's orders go to.
KEEP = timedelta(days=7)
# A hold given back is kept this long: its webhooks may arrive out of order (the give-back
# first), and the taking that follows must find the give-back to cancel out.
SETTLE = timedelta(hours=1)


def _holds() -> Any:
    return StockHold.__table__  # type: ignore[attr-defined]


def record_hold(
    conn: Connection,
    shop_id: str,
    order_id: str,
    variation_id: str,
    warehouse_id: str,
    change: int,
    now: datetime,
) -> None:
    """Pancake moved ``change`` sellable units for this order (negative: it took them)."""
    table = _holds()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(
        shop_id=shop_id,
        order_id=order_id,
        variation_id=variation_id,
        warehouse_id=warehouse_id,
        units=-change,
        updated_at=now,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["shop_id", "order_id", "variation_id", "warehouse_id"],
            set_={"units": table.c.units + statement.excluded.units, "updated_at": now},
        )
    )


def _the_bridges() -> Any:
    """True for a hold whose order and variation the bridge has a line for that it counts
    itself (waiting, being bought, bought). A line that stopped before buying (needs
    attention, failed) does not: its order still holds the units, and a retry may buy them."""
    holds, lines = _holds(), Fulfilment.__table__  # type: ignore[attr-defined]
    stopped = and_(lines.c.state.in_(RETRYABLE), lines.c.trans_id.is_(None))
    return exists().where(
        lines.c.shop_id == holds.c.shop_id,
        lines.c.order_id == holds.c.order_id,
        lines.c.variation_id == holds.c.variation_id,
        ~stopped,
    )


def open_holds(session: Session) -> dict[tuple[str, str], int]:
    """POS items per (shop, variation) that Pancake holds for orders the bridge has not taken
    on, across all of the shop's warehouses (every one draws on the same supplier stock)."""
    holds = _holds()
    rows = session.connection().execute(
        sa_select(holds.c.shop_id, holds.c.variation_id, func.sum(holds.c.units))
        .where(holds.c.units > 0, ~_the_bridges())
        .group_by(holds.c.shop_id, holds.c.variation_id)
    )
    return {(shop_id, variation_id): int(units or 0) for shop_id, variation_id, units in rows}


def warehouses_in_use(session: Session) -> dict[str, set[str]]:
    """Per shop, the warehouses its orders hold stock in now (the orders' ``warehouse_id``)."""
    holds = _holds()
    rows = session.connection().execute(
        sa_select(holds.c.shop_id, holds.c.warehouse_id).where(holds.c.units > 0).distinct()
    )
    found: dict[str, set[str]] = defaultdict(set)
    for shop_id, warehouse_id in rows:
        found[shop_id].add(warehouse_id)
    return dict(found)


def prune(session: Session, now: datetime) -> int:
    """Forget holds given back (units 0 or less) after ``SETTLE``, and after ``KEEP`` those the
    sync no longer counts: the order is the bridge's, or the variation is not mapped. Returns
    how many."""
    holds, mappings = _holds(), MappingChoice.__table__  # type: ignore[attr-defined]
    mapped = exists().where(
        mappings.c.shop_id == holds.c.shop_id, mappings.c.variation_id == holds.c.variation_id
    )
    result = session.connection().execute(
        delete(holds).where(
            or_(
                and_(holds.c.units <= 0, holds.c.updated_at < now - SETTLE),
                and_(holds.c.updated_at < now - KEEP, or_(_the_bridges(), ~mapped)),
            )
        )
    )
    return int(result.rowcount or 0)
