"""One stock sync at a time across every process and host, spaced to spare the daily budget.

The sync holds a lease on the control row (``running_until``); ``claim`` takes it if it is free or
expired, ``renew`` extends it between suppliers and batches, ``release`` frees it, records the
spacing the catalogues need and, after a failed run, asks for a retry with backoff.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from bridge.db import insert_ignore, session_scope
from bridge.settings import Settings
from workers.alerts.store import raise_alert, resolve_alert
from workers.queue.context import Context
from workers.queue.dispatch import Send
from workers.queue.leases import free_or_expired
from workers.stock.models import CONTROL_ID, StockSyncControl
from workers.stock.report import SyncReport
from workers.stock.triggers import request_stock_sync

# A few failed syncs in a row are a blip (retried with backoff); this many need an operator.
SYNC_FAILING_AFTER = 3
SYNC_FAILING = "stock_sync_failing"
SYNC_SUBJECT = "stock"  # one sync covers every shop and supplier


class SyncBusy(RuntimeError):
    """Another stock sync is running (in a worker, or another `bridge stock sync`)."""


class TooSoon(RuntimeError):
    """The last sync started too recently for the suppliers' daily budget; wait ``wait`` s."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the next automatic stock sync may start in {wait:.0f}s")
        self.wait = wait


def claim(ctx: Context, *, require_request: bool, spaced: bool) -> str | None:
    """Take the lease; returns the trigger, or None when nothing was requested.

    Raises ``SyncBusy`` while another sync holds the lease and, when ``spaced``, ``TooSoon``
    until ``spacing_seconds`` passed since the last sync started.
    """
    now = ctx.clock()
    lease = ctx.lease_until(now)
    table = StockSyncControl.__table__  # type: ignore[attr-defined]
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        insert_ignore(
            conn, table, {"id": CONTROL_ID, "failures": 0, "spacing_seconds": 0.0}, ["id"]
        )
        row = conn.execute(sa_select(table).where(table.c.id == CONTROL_ID)).one()
        if require_request and row.requested_at is None:
            return None
        if spaced and row.last_started_at is not None:
            wait = (row.last_started_at - now).total_seconds() + row.spacing_seconds
            if wait > 0:
                raise TooSoon(wait)
        taken = conn.execute(
            update(table)
            .where(table.c.id == CONTROL_ID)
            .where(free_or_expired(table.c.running_until, now))
            .values(running_until=lease, last_started_at=now, requested_at=None, trigger=None)
        )
        if taken.rowcount != 1:
            raise SyncBusy("a stock sync is running; try again when it has finished")
        return str(row.trigger or "manual")


def renew(ctx: Context, conn: Connection | None = None) -> None:
    """Hold the lease for another ``lease_seconds``; on ``conn`` (a transaction the caller
    commits anyway, such as a push's) or in a transaction of its own."""
    statement = (
        update(StockSyncControl)
        .where(col(StockSyncControl.id) == CONTROL_ID)
        .values(running_until=ctx.lease_until(ctx.clock()))
    )
    if conn is not None:
        conn.execute(statement)
        return
    with session_scope(ctx.engine) as session:
        session.connection().execute(statement)


def release(ctx: Context, report: SyncReport | None, *, retry: bool) -> list[Send]:
    """Free the lease and note the spacing the catalogues need; after a failed run, ask for a
    retry with backoff. ``report`` None: the run crashed."""
    failed = report is None or bool(report.errors)
    with session_scope(ctx.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
        if control is None:
            return []
        control.running_until = None
        control.failures = control.failures + 1 if failed else 0
        _alert_on_failures(session, control.failures, report, ctx.clock())
        if report is not None:
            spacing = budget_spacing(ctx.settings, report)
            # A run that could not read every supplier saw only part of the catalogues.
            control.spacing_seconds = max(spacing, control.spacing_seconds) if failed else spacing
        session.add(control)
        if not (failed and retry) or control.failures > ctx.settings.max_step_failures:
            return []  # past the limit the periodic sync keeps trying; errors are on the runs
        return request_stock_sync(
            session.connection(),
            ctx.clock(),
            trigger="retry",
            delay=ctx.retry_delay(control.failures),
            stale_after=ctx.settings.lease_seconds,
        )


def _alert_on_failures(
    session: Session, failures: int, report: SyncReport | None, now: datetime
) -> None:
    """Syncs failing ``SYNC_FAILING_AFTER`` times in a row raise an alert; one clean run
    resolves it."""
    if failures == 0:
        resolve_alert(session, SYNC_FAILING, SYNC_SUBJECT, now, note="a sync ran without errors")
    elif failures >= SYNC_FAILING_AFTER:
        last = report.errors[0] if report is not None and report.errors else "it crashed"
        raise_alert(
            session,
            SYNC_FAILING,
            SYNC_SUBJECT,
            f"the stock sync failed {failures} times in a row (last: {last}); Pancake keeps "
            "the quantities it has. `bridge stock status` shows every error",
            now,
        )


def budget_spacing(settings: Settings, report: SyncReport) -> float:
    """Seconds between syncs that keep the busiest supplier key's catalogue reads within
    ``stock_sync_daily_budget_share`` of its daily limit."""
    busiest = max(report.calls_by_supplier.values(), default=0)
    share = settings.supplier_daily_limit * settings.stock_sync_daily_budget_share
    return busiest * 86_400 / share
