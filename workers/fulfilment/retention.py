"""Retention: rows that only matter for a while are deleted once older than their window (a
periodic job); what records a sale is never touched.

Trimmed, each after its own setting:

* ``webhook_events`` after ``BRIDGE_WEBHOOK_RETENTION_DAYS``: an event row exists so that a
  replayed body is recognised as a duplicate; past the window a replay is recorded again, and an
  order it names is already known (the orders table decides, not the event).
* ``stock_sync_runs`` after ``BRIDGE_STOCK_RUN_RETENTION_DAYS``: the history `bridge stock
  status` and the dashboard show the latest of (a run every few minutes, and one per debounced
  burst of orders, is as many rows as orders in a year).

Kept forever: orders, their lines (fulfilments) and every purchase attempt (what was bought,
from whom, for how much), the audit trails, mappings. No setting reaches them.

Rows are taken oldest first by primary key, which the insert order keeps close to the row's
time: a tick reads at most a batch of (id, time) pairs along the primary key, and no index on
the time column slows the inserts. A row written slightly out of id order waits for its
neighbours; the delete checks the time too, so no row goes before its time. Each batch is its
own short transaction, so a writer (the webhook) never waits long for the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, Table, delete, select

from bridge.db import READ_ONLY
from bridge.logs import event
from bridge.settings import Settings
from workers.fulfilment.models import WebhookEvent
from workers.queue.context import Context
from workers.queue.dispatch import Send
from workers.stock.models import StockSyncRun

BATCH = 1000  # rows per transaction: the webhook writer never waits long for the table
MAX_BATCHES = 10  # per table and tick; a large backlog drains over the following ticks


@dataclass(frozen=True)
class Trim:
    """A table whose rows go once ``days(settings)`` older than their ``moment`` column."""

    table: Table
    moment: str
    days: Callable[[Settings], float]

    @property
    def name(self) -> str:
        return self.table.name


TRIMS = (
    Trim(
        WebhookEvent.__table__,  # type: ignore[attr-defined]
        "received_at",
        lambda settings: settings.webhook_retention_days,
    ),
    Trim(
        StockSyncRun.__table__,  # type: ignore[attr-defined]
        "started_at",
        lambda settings: settings.stock_run_retention_days,
    ),
)


def prune_old_rows(ctx: Context) -> list[Send]:
    """One tick of retention: every table of ``TRIMS``, at most MAX_BATCHES batches each."""
    for trim in TRIMS:
        pruned = _prune(ctx, trim)
        if pruned:
            event("retention.pruned", table=trim.name, rows=pruned)
    return []


def _prune(ctx: Context, trim: Trim) -> int:
    cutoff = ctx.clock() - timedelta(days=trim.days(ctx.settings))
    table = trim.table
    key: Column[int] = table.c.id
    moment: Column[datetime] = table.c[trim.moment]
    pruned = 0
    for _ in range(MAX_BATCHES):
        # Read without the write lock (SQLite): most ticks find nothing due.
        with ctx.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            oldest = conn.execute(select(key, moment).order_by(key).limit(BATCH)).all()
        due = 0
        while due < len(oldest) and oldest[due][1] < cutoff:
            due += 1
        if due:
            last_id = oldest[due - 1][0]
            with ctx.engine.begin() as conn:
                pruned += conn.execute(
                    delete(table).where(key <= last_id, moment < cutoff)
                ).rowcount
        if due < BATCH:
            break
    return pruned
