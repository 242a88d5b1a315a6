"""order.catchup: read what Pancake changed, so an order whose webhook never came is fulfilled.

Pancake documents no webhook retry: an order confirmed while the bridge was down, or whose webhook
was lost or answered with an error, would otherwise wait forever. So, per shop, the scheduler (one
across all hosts) sends a catch-up every ``catchup_interval_seconds`` (``due_catchups``), and the
step (``catch_up``) reads ``GET /shops/<id>/orders?updateStatus=updated_at&startDateTime=…``, every
page, reporting each order exactly as a webhook does (``workers.fulfilment.reported``): an order
seen both ways, or seen again, is handled once, and intake reads it from the API before anything
is bought. A quiet interval costs one Pancake call per shop.

The cursor (``caught_up_until``) is the moment the last read that saw every page began. It moves
only after the last page, so a failed page leaves it where it was and the next read covers the
same orders again. Each read starts ``catchup_overlap_seconds`` before it, for clock differences
with Pancake and for orders updated while the previous read was under way; and never further back
than ``catchup_max_lookback_seconds``, nor before the shop was added to the bridge (or the earlier
moment `shops add --since` gave it): orders older than that were never the bridge's to buy.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from bridge.db import insert_ignore_many, session_scope
from bridge.logs import event
from bridge.pancake.errors import PancakeError
from bridge.pancake.models import PancakeShop
from bridge.settings import Settings
from workers.fulfilment.models import ShopCatchUp
from workers.fulfilment.reported import order_reported
from workers.queue.context import Context
from workers.queue.dispatch import CATCHUP, Send
from workers.queue.leases import free_or_expired


def due_catchups(ctx: Context) -> list[Send]:
    """The scheduler's job: a catch-up for each shop whose last one was sent an interval ago.

    A catch-up whose message was lost is simply sent again once the interval has passed.
    """
    now = ctx.clock()
    due_before = now - timedelta(seconds=ctx.settings.catchup_interval_seconds)
    table = ShopCatchUp.__table__  # type: ignore[attr-defined]
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        new_shops = session.exec(
            select(PancakeShop.shop_id).where(
                col(PancakeShop.shop_id).not_in(select(ShopCatchUp.shop_id))
            )
        ).all()
        insert_ignore_many(conn, table, [{"shop_id": shop} for shop in new_shops], ["shop_id"])
        # A disabled shop is not read (its key may be the mistake): its cursor stays where it
        # was, so once enabled the catch-up reads what changed meanwhile (within the lookback).
        enabled = select(PancakeShop.shop_id).where(col(PancakeShop.enabled).is_(True))
        due = session.exec(
            select(ShopCatchUp.id)
            .where(free_or_expired(col(ShopCatchUp.requested_at), due_before))
            .where(col(ShopCatchUp.shop_id).in_(enabled))
        ).all()
        for catchup_id in due:
            assert catchup_id is not None
            claimed = conn.execute(
                update(table)
                .where(table.c.id == catchup_id)
                .where(free_or_expired(table.c.requested_at, due_before))
                .values(requested_at=now)
            )
            if claimed.rowcount == 1:
                sends.append(Send(CATCHUP, catchup_id))
    return sends


def read_from(
    caught_up_until: datetime | None, shop_added: datetime, now: datetime, settings: Settings
) -> datetime:
    """Where a read starts: an overlap before the last complete read began, but never further
    back than the lookback, nor before the shop was added (both less the overlap, for clocks)."""
    overlap = timedelta(seconds=settings.catchup_overlap_seconds)
    earliest = max(
        now - timedelta(seconds=settings.catchup_max_lookback_seconds), shop_added - overlap
    )
    if caught_up_until is None:
        return earliest
    return max(caught_up_until - overlap, earliest)


def catch_up(ctx: Context, catchup_id: int) -> list[Send]:
    """Read the shop's orders updated since the cursor and report each; move the cursor only
    when every page was read. Pancake failing is recorded and left to the next interval."""
    with session_scope(ctx.engine) as session:
        row = session.get(ShopCatchUp, catchup_id)
        shop = session.get(PancakeShop, row.shop_id) if row is not None else None
        if row is None or shop is None or not shop.enabled:
            return []
        started = ctx.clock()
        # A shop told to fulfil orders from before it was added (`shops add --since`) has
        # them read too: they may have reached a trigger status before it was added.
        added = min(shop.created_at, shop.fulfil_from)
        since = read_from(row.caught_up_until, added, started, ctx.settings)
        shop_id, triggers = shop.shop_id, frozenset(shop.trigger_statuses)
        client = ctx.pancake(shop)
    lease = timedelta(seconds=ctx.settings.lease_seconds)
    sends: list[Send] = []
    seen = 0
    try:
        for page in client.iter_updated_orders(shop_id, since=since):
            # One transaction per page: what was read is acted on even if a later page fails.
            now = ctx.clock()
            with session_scope(ctx.engine) as session:
                conn = session.connection()
                # Order rows are locked in the order webhooks lock them: no deadlocks.
                for order in sorted(page.orders, key=lambda listed: listed.id):
                    _, follow_up = order_reported(
                        conn,
                        shop_id,
                        order.id,
                        status=order.status,
                        item_count=order.item_count,
                        triggers=triggers,
                        now=now,
                        lease=lease,
                        items_digest=order.items_digest,
                    )
                    sends += follow_up
            seen += len(page.orders)
    except PancakeError as exc:
        _record(ctx, catchup_id, until=None, error=str(exc))
        event(
            "order.catchup.failed",
            logging.WARNING,
            shop=shop_id,
            seen=seen,
            queued=len(sends),
            error=str(exc),
        )
        return sends
    _record(ctx, catchup_id, until=started, error=None)
    event("order.catchup.done", shop=shop_id, since=since.isoformat(), seen=seen, queued=len(sends))
    return sends


def _record(ctx: Context, catchup_id: int, *, until: datetime | None, error: str | None) -> None:
    table = ShopCatchUp.__table__  # type: ignore[attr-defined]
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        row = update(table).where(table.c.id == catchup_id)
        conn.execute(row.values(last_error=error))
        if until is not None:
            # Only forward: a slower read that began earlier must not move it back.
            forward = or_(table.c.caught_up_until.is_(None), table.c.caught_up_until < until)
            conn.execute(row.where(forward).values(caught_up_until=until))
