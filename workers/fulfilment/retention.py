"""Pruning of webhook events older than ``BRIDGE_WEBHOOK_RETENTION_DAYS`` (a periodic job).

An event row exists so that a replayed body is recognised as a duplicate; past the window a
replay is recorded again, and an order it names is already known (the orders table decides,
not the event). Rows are taken oldest first by primary key, which the insert order keeps close
to ``received_at``: a tick reads at most a batch of (id, time) pairs along the primary key, and
no index on ``received_at`` slows the webhook's insert. A row received slightly out of id order
waits for its neighbours; the delete checks the time too, so no row goes before its time.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bridge.db import READ_ONLY
from bridge.logs import event
from workers.fulfilment.models import WebhookEvent
from workers.queue.context import Context
from workers.queue.dispatch import Send

BATCH = 1000  # rows per transaction: the webhook writer never waits long for the table
MAX_BATCHES = 10  # per tick; a large backlog drains over the following ticks


def prune_webhook_events(ctx: Context) -> list[Send]:
    cutoff = ctx.clock() - timedelta(days=ctx.settings.webhook_retention_days)
    table = WebhookEvent.__table__  # type: ignore[attr-defined]
    pruned = 0
    for _ in range(MAX_BATCHES):
        # Read without the write lock (SQLite): most ticks find nothing due.
        with ctx.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            oldest = conn.execute(
                select(table.c.id, table.c.received_at).order_by(table.c.id).limit(BATCH)
            ).all()
        due = 0
        while due < len(oldest) and oldest[due].received_at < cutoff:
            due += 1
        if due:
            last_id = oldest[due - 1].id
            with ctx.engine.begin() as conn:
                pruned += conn.execute(
                    delete(table).where(table.c.id <= last_id, table.c.received_at < cutoff)
                ).rowcount
        if due < BATCH:
            break
    if pruned:
        event("retention.webhook_events.pruned", rows=pruned)
    return []
