"""What one stock sync saw and did (``SyncReport``), its run's record, and the latest runs (the
web console's dashboard; `bridge stock status` reads them in bridge/cli/reads.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import session_scope
from workers.stock.models import StockSyncRun

if TYPE_CHECKING:
    # Annotations only: the worker's context imports the HTTP clients and Redis, which
    # `bridge stock status` never needs.
    from workers.queue.context import Context


@dataclass(slots=True)
class StockRow:
    """One variation in one warehouse in one sync: what was known, what it should be, and why."""

    shop_id: str
    variation_id: str
    supplier_stock: str
    pancake: int | None  # what the bridge last pushed, or what Pancake reported since
    new: int | None  # None: left alone
    why: str = ""
    push: bool = False
    error: str | None = None
    warehouse_id: str = ""
    # Pancake already shows ``new`` (its own reservations brought it there): recorded as
    # pushed, no call.
    confirm: bool = False
    # A warehouse that no longer gets stock: set to 0 once, then forgotten.
    retire: bool = False


@dataclass
class SyncReport:
    trigger: str
    dry_run: bool
    rows: list[StockRow] = field(default_factory=list)
    # Requests made, per supplier (the API clients' own retries not included).
    calls_by_supplier: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pancake_calls: int = 0
    errors: list[str] = field(default_factory=list)
    # Plans unread for longer than stock_stale_hours, counted 0: "caoshop/319 unread since …".
    stale: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def supplier_calls(self) -> int:
        return sum(self.calls_by_supplier.values())

    @property
    def changed(self) -> int:
        return sum(1 for row in self.rows if row.push and row.error is None)

    @property
    def skipped(self) -> int:
        return sum(1 for row in self.rows if row.new is None)


def open_run(ctx: Context, trigger: str, started: datetime) -> int:
    with session_scope(ctx.engine) as session:
        run = StockSyncRun(trigger=trigger, started_at=started)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def close_run(ctx: Context, report: SyncReport) -> None:
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(StockSyncRun)
            .where(col(StockSyncRun.id) == report.run_id)
            .values(
                finished_at=ctx.clock(),
                variations=len(report.rows),
                changed=report.changed,
                skipped=report.skipped,
                supplier_calls=report.supplier_calls,
                pancake_calls=report.pancake_calls,
                errors="\n".join([*report.errors, *report.stale])[:20_000] or None,
            )
        )


def latest_runs(session: Session, limit: int = 10) -> list[StockSyncRun]:
    statement = select(StockSyncRun).order_by(col(StockSyncRun.id).desc()).limit(limit)
    return list(session.exec(statement))
