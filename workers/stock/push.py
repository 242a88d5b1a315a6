"""Sending a shop's new quantities to Pancake: marked before, confirmed after, in batches.

``POST /shops/<id>/variations/update_quantity`` sets the sellable quantity (``is_actual_remain_
quantity: false``) per (variation, warehouse); each row names its warehouse, so one call may
serve several. Pancake echoes every push with a ``variations_warehouses`` webhook: the value
is marked as being pushed first (``levels.mark_pushing``) so the echo is known as ours.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from bridge import metrics
from bridge.db import session_scope
from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import QuantityUpdate
from workers.queue.context import Context
from workers.stock.levels import LevelKeys, clear_pushing, mark_pushed, mark_pushing
from workers.stock.report import StockRow, SyncReport
from workers.stock.sync_lease import renew

# HTTP statuses of a refusal one entry can cause (Pancake refuses semantic errors with 200).
ENTRY_REFUSALS = frozenset({200, 400, 422})

Progress = Callable[[str, int, int | None], None]


def push(
    ctx: Context,
    shop: PancakeShop,
    changes: list[StockRow],
    report: SyncReport,
    progress: Progress,
    read_at: datetime,
) -> None:
    """Push ``changes`` in batches; a failure keeps the rest at their last values (each row
    then carries its ``error``).

    One transaction per batch records the outcome of the batch before it, holds the lease and
    marks this one as being pushed: each commit is a sync's costliest write on SQLite
    (``synchronous=FULL``), and three per batch made a third of a 100,000-variation sync. A
    pushed value is still recorded only once Pancake took it; until then the level shows it as
    being pushed, which an echo is matched against as well (``triggers.TrackedLevel``)."""
    client = ctx.pancake(shop)
    key = LevelKeys(shop.shop_id)
    size = ctx.settings.stock_push_batch_size
    sent: list[StockRow] = []  # the batch Pancake last answered, its outcome not yet recorded
    try:
        for start in range(0, len(changes), size):
            batch = changes[start : start + size]
            with session_scope(ctx.engine) as session:
                conn = session.connection()
                _record(conn, key, sent, ctx.clock(), read_at)
                renew(ctx, conn)
                mark_pushing(conn, key, batch, ctx.clock())
            sent = []
            try:
                _send(client, key, batch, report)
            except (PancakeUnavailable, PancakeRequestError) as exc:
                with session_scope(ctx.engine) as session:
                    clear_pushing(session.connection(), key, batch)
                kept = changes[start:]
                what = "unavailable" if isinstance(exc, PancakeUnavailable) else "refused"
                for row in kept:
                    row.error = f"Pancake {what}; last value kept"
                report.errors.append(
                    f"shop {shop.shop_id}: Pancake {what}, {len(kept)} not pushed "
                    f"(last values kept): {exc}"
                )
                return
            sent = batch
            progress(f"pushing to {shop.shop_id}", start + len(batch), len(changes))
    finally:
        if sent:
            with session_scope(ctx.engine) as session:
                _record(session.connection(), key, sent, ctx.clock(), read_at)


def _record(
    conn: Connection, key: LevelKeys, batch: Sequence[StockRow], now: datetime, read_at: datetime
) -> None:
    """A batch's outcome: each value Pancake took is pushed; a refused one is not in flight."""
    mark_pushed(conn, key, [row for row in batch if row.error is None], now, read_at)
    clear_pushing(conn, key, [row for row in batch if row.error is not None])


def _send(
    client: PancakeClient, key: LevelKeys, batch: Sequence[StockRow], report: SyncReport
) -> None:
    """One update_quantity call; a refused batch is halved until the refused entries are found.

    Pancake refuses a whole batch for one bad entry (e.g. a variation deleted in Pancake but still
    mapped); halving isolates it in about 2·log2(batch) calls instead of losing the batch. A
    refusal no entry can cause (a wrong API key, an unknown shop) stops the shop's pushes.
    """
    entries = [
        QuantityUpdate(
            variation_id=row.variation_id,
            warehouse_id=row.warehouse_id,
            remain_quantity=row.new or 0,
        )
        for row in batch
    ]
    report.pancake_calls += 1
    try:
        client.update_quantities(key.shop, entries, is_actual_remain_quantity=False)
    except PancakeUnavailable:
        metrics.stock_push("unavailable")
        raise
    except PancakeRequestError as exc:
        metrics.stock_push("refused")
        if exc.status not in ENTRY_REFUSALS:
            raise
        if len(batch) == 1:
            row = batch[0]
            row.error = f"Pancake refused: {exc}"
            where = f" in warehouse {row.warehouse_id}" if row.retire else ""
            report.errors.append(f"shop {key.shop} variation {row.variation_id}{where}: {exc}")
            return
        middle = len(batch) // 2
        _send(client, key, batch[:middle], report)
        _send(client, key, batch[middle:], report)
    else:
        metrics.stock_push("ok")
