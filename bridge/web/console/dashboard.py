"""What the dashboard and the Suppliers page show, as plain data (the templates format it).

Days and hours are the shop's zone (the console's ``timezone`` setting), as every time the
console shows.
A supplier's balance is the one the workers last read (``bridge.web.console.readings``), with
its age: a page view never calls a supplier.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import Session, col, select
from starlette_admin.i18n import gettext as _

from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import RETRYABLE, FulfilmentState
from bridge.supplier.breaker import is_paused
from bridge.supplier.budget import KeyBudget
from bridge.supplier.clock import stored_clock
from bridge.supplier.models import Supplier
from bridge.web.console.readings import Shown, SupplierReadings, ago
from workers.stock.models import StockSyncRun
from workers.stock.report import latest_runs
from workers.suppliers.models import ReadingKind
from workers.suppliers.readings import balance_of

CHART_HOURS = 24
ATTENTION_SHOWN = 10
# A supplier's runway is its balance over its daily spending across this many days.
RUNWAY_DAYS = 7


class Group(StrEnum):
    """What an operator cares to tell apart among lines (the chart's colours)."""

    DONE = "done"
    IN_PROGRESS = "in_progress"
    ATTENTION = "needs_attention"
    CANCELLED = "cancelled"


class Health(StrEnum):
    OK = "ok"
    FAILING = "failing"
    PAUSED = "paused"  # the circuit breaker is open
    DISABLED = "disabled"


GROUPS: dict[Group, tuple[frozenset[FulfilmentState], str]] = {
    Group.DONE: (frozenset({FulfilmentState.ANNOTATED}), "#2fb344"),
    Group.IN_PROGRESS: (
        frozenset(FulfilmentState)
        - {FulfilmentState.ANNOTATED, FulfilmentState.CANCELLED}
        - RETRYABLE,
        "#4299e1",
    ),
    Group.ATTENTION: (RETRYABLE, "#d63939"),
    Group.CANCELLED: (frozenset({FulfilmentState.CANCELLED}), "#9ba9be"),
}


def local_day_start(now: datetime, zone: tzinfo) -> datetime:
    return now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)


def group_of(state: str) -> Group:
    return next(name for name, (states, _) in GROUPS.items() if state in states)


@dataclass(frozen=True)
class HourBar:
    hour: str  # "14h", in the shop's zone
    counts: dict[Group, int]


@dataclass(frozen=True)
class Dashboard:
    today_by_state: dict[str, int]
    median_seconds: float | None  # webhook to note, lines annotated today
    p95_seconds: float | None
    attention: list[Fulfilment]
    attention_total: int
    hours: list[HourBar]
    last_sync: StockSyncRun | None
    suppliers: list[SupplierState] = field(default_factory=list)

    @property
    def chart_max(self) -> int:
        return max([sum(bar.counts.values()) for bar in self.hours] + [1])


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (p95 of 3 values is the largest)."""
    ordered = sorted(values)
    rank = max(1, -(-int(share * 100) * len(ordered) // 100))
    return ordered[rank - 1]


@dataclass(frozen=True)
class DayLine:
    """What the dashboard's day and chart read of a line, and when its order was received."""

    state: str
    created_at: datetime
    updated_at: datetime
    received: datetime


def dashboard(session: Session, now: datetime, zone: tzinfo) -> Dashboard:
    """Today (in ``zone``) and the last ``CHART_HOURS`` hours, by the hour of ``zone``."""
    day = local_day_start(now, zone)
    since = min(day, now - timedelta(hours=CHART_HOURS))
    # Each line's order looked up by its key (a join lets PostgreSQL hash a year of orders to
    # find the day's few); the day's lines come from ix_fulfilments_created_at.
    received = (
        select(Order.created_at).where(col(Order.id) == col(Fulfilment.order_pk)).scalar_subquery()
    )
    # Only the columns the figures read: a whole row per line (a day is thousands of them)
    # would cost more than the query.
    rows = [
        DayLine(*row)
        for row in session.exec(
            select(
                col(Fulfilment.state),
                col(Fulfilment.created_at),
                col(Fulfilment.updated_at),
                received,
            ).where(col(Fulfilment.created_at) >= since)
        )
    ]
    today = [line for line in rows if line.created_at >= day]
    by_state = Counter(line.state for line in today)
    took = [
        (line.updated_at - line.received).total_seconds()
        for line in today
        if line.state == FulfilmentState.ANNOTATED
    ]
    # The newest few and a count: after a year, thousands of lines may wait for a person, and
    # the page shows ATTENTION_SHOWN of them (the state index serves both queries).
    needs_person = col(Fulfilment.state).in_(list(RETRYABLE))
    attention_rows = session.exec(
        select(Fulfilment)
        .where(needs_person)
        .order_by(col(Fulfilment.id).desc())
        .limit(ATTENTION_SHOWN)
    ).all()
    attention_total = session.exec(
        select(func.count()).select_from(Fulfilment).where(needs_person)
    ).one()
    return Dashboard(
        today_by_state=dict(sorted(by_state.items())),
        median_seconds=statistics.median(took) if took else None,
        p95_seconds=percentile(took, 0.95) if took else None,
        attention=list(attention_rows),
        attention_total=attention_total,
        hours=_hours(rows, now, zone),
        last_sync=next(iter(latest_runs(session, 1)), None),
    )


def _hours(lines: list[DayLine], now: datetime, zone: tzinfo) -> list[HourBar]:
    top = now.astimezone(zone).replace(minute=0, second=0, microsecond=0)
    starts = [top - timedelta(hours=n) for n in range(CHART_HOURS - 1, -1, -1)]
    counts: dict[datetime, Counter[Group]] = {start: Counter() for start in starts}
    for line in lines:
        hour = line.created_at.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        if hour in counts:
            counts[hour][group_of(line.state)] += 1
    return [HourBar(f"{start:%H}h", {g: counts[start][g] for g in GROUPS}) for start in starts]


@dataclass(frozen=True)
class SupplierState:
    """A supplier as the console shows it: health, clock, limits, its balance as last read
    (``balance_age`` ago; ``balance_error``: why there is none, or that the last read failed),
    what it was paid over the last ``RUNWAY_DAYS`` days and the key's budget used today."""

    name: str
    enabled: bool
    paused_until: datetime | None
    failure_streak: int
    last_failure: str | None
    clock: str | None  # "+300 s ± 1 s"
    rate_limit: int | None
    daily_limit: int | None
    key_expires_at: datetime | None
    balance: float | None
    balance_error: str | None
    spent_7_days: float = 0.0  # the attempts' amounts (bought ones) over RUNWAY_DAYS days
    used_today: int | None = None  # requests the key's budget counted today; None: not read
    budget_daily_limit: int | None = None  # the limit the budget enforces (configured or told)
    balance_age: str | None = None  # "4 min": how long ago the balance shown was read

    @property
    def health(self) -> Health:
        if not self.enabled:
            return Health.DISABLED
        if self.paused_until is not None:
            return Health.PAUSED
        return Health.FAILING if self.failure_streak else Health.OK

    @property
    def runway_days(self) -> float | None:
        """Days of orders the balance still pays for at the last ``RUNWAY_DAYS`` days' rate;
        None when there is no rate (nothing spent) or no balance to divide."""
        if self.balance is None or self.spent_7_days <= 0:
            return None
        return max(0.0, self.balance) / (self.spent_7_days / RUNWAY_DAYS)

    @property
    def runway_gap(self) -> str | None:
        """Why there is no runway, when there is none."""
        if self.runway_days is not None:
            return None
        if self.spent_7_days <= 0:
            return _("no purchase cost in %(days)s days") % {"days": RUNWAY_DAYS}
        return _("balance not read")


def spent_since(session: Session, since: datetime) -> dict[str, float]:
    """What each supplier was paid for attempts started at or after ``since`` (bought ones: a
    trans_id; an attempt whose cost the supplier did not say adds nothing)."""
    # Summed here, not grouped in SQL: SQLite would read every attempt ever made along
    # uq_purchase_attempts_trans (already in supplier order) rather than the days' few along
    # ix_purchase_attempts_started_at.
    rows = session.exec(
        select(PurchaseAttempt.supplier_name, PurchaseAttempt.amount).where(
            col(PurchaseAttempt.trans_id).is_not(None),
            col(PurchaseAttempt.amount).is_not(None),
            col(PurchaseAttempt.started_at) >= since,
        )
    ).all()
    totals: dict[str, float] = {}
    for name, amount in rows:
        if amount is not None:
            totals[name] = totals.get(name, 0.0) + float(amount)
    return totals


class Balances:
    """Each supplier's balance as the workers last read it (``readings``: a stale one is asked
    for), and, from ``budget``, the key's budget used today (a read of the limiter's own count,
    no supplier call)."""

    def __init__(
        self,
        readings: SupplierReadings,
        budget: Callable[[Supplier], KeyBudget] | None = None,
    ) -> None:
        self._readings = readings
        self._budget = budget

    def shown(
        self, session: Session, suppliers: Sequence[Supplier], now: datetime
    ) -> dict[str, Shown[float]]:
        """Each supplier's balance; those the workers may call (enabled, not paused) are asked
        for when stale."""
        return self._readings.shown(
            session,
            ReadingKind.BALANCE,
            [s.name for s in suppliers],
            now,
            balance_of,
            refresh=[s.name for s in suppliers if not is_paused(s, now)],
        )

    def budget_today(self, supplier: Supplier) -> tuple[int | None, int | None]:
        """(requests counted today, the daily limit enforced); None for what was not read."""
        if self._budget is None:
            return None, None
        try:
            budget = self._budget(supplier)
        except Exception:  # noqa: BLE001 - the page still renders without it
            return None, None
        return budget.used_today(), budget.rule.daily_limit


def supplier_states(
    session: Session, balances: Balances | None, now: datetime
) -> list[SupplierState]:
    states = []
    spent = spent_since(session, now - timedelta(days=RUNWAY_DAYS))
    suppliers = list(session.exec(select(Supplier).order_by(col(Supplier.name))))
    shown = balances.shown(session, suppliers, now) if balances else {}
    for supplier in suppliers:
        clock = stored_clock(supplier)
        found = shown.get(supplier.name) or Shown(None, None, _("not read"))
        used, day_limit = balances.budget_today(supplier) if balances else (None, None)
        states.append(
            SupplierState(
                name=supplier.name,
                enabled=supplier.enabled,
                paused_until=supplier.paused_until if is_paused(supplier, now) else None,
                failure_streak=supplier.failure_streak,
                last_failure=supplier.last_failure,
                clock=clock.describe() if clock else None,
                rate_limit=supplier.rate_limit,
                daily_limit=supplier.daily_limit,
                key_expires_at=supplier.key_expires_at,
                balance=found.value,
                balance_error=found.note,
                balance_age=(ago((now - found.read_at).total_seconds()) if found.read_at else None),
                spent_7_days=spent.get(supplier.name, 0.0),
                used_today=used,
                budget_daily_limit=day_limit,
            )
        )
    return states
