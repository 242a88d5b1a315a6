"""Alerts read from the rows' state by a periodic job: a line in ``needs_attention``, and a supplier
paused by the circuit breaker.

Both states are entered and left in many places: a line parks from intake (a bulk insert), from
every step and from cancellations; it leaves through `fulfilments retry` in the CLI or the
console, a cancellation, a resend. The breaker sits in the supplier room, which may not import
a domain. A call at every transition would be missed by the next transition someone writes;
comparing the state with the open alerts each sweep sees every way in and out, at the cost of
two indexed queries that usually return nothing. A line that parks and is retried within one
sweep interval is never announced, which is what an operator wants from a blip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import String, cast, exists, select
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bridge.db import READ_ONLY, session_scope
from bridge.models import Fulfilment
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from workers.alerts.models import Alert
from workers.alerts.store import raise_alert, resolve_alert
from workers.queue.context import Context
from workers.queue.dispatch import Send

NEEDS_ATTENTION = "needs_attention"
SUPPLIER_PAUSED = "supplier_paused"
# Lines taken per sweep: a mass incident (every line refused) is announced over a few sweeps.
BATCH = 500

_lines = Fulfilment.__table__  # type: ignore[attr-defined]
_alerts = Alert.__table__  # type: ignore[attr-defined]
_suppliers = Supplier.__table__  # type: ignore[attr-defined]


class _Parked(NamedTuple):
    id: int
    order_id: str
    shop_id: str
    item_name: str | None
    reason: str | None


@dataclass(frozen=True)
class _Changes:
    parked: list[_Parked]
    unparked: dict[int, str | None]  # line id -> its state now (None: the line is gone)
    paused: list[tuple[str, int, str | None]]  # supplier, streak, last failure
    unpaused: dict[str, str]  # supplier -> why it no longer counts as paused

    def __bool__(self) -> bool:
        return bool(self.parked or self.unparked or self.paused or self.unpaused)


def watch_conditions(ctx: Context) -> list[Send]:
    """The scheduler's job: raise and resolve the alerts the rows' state calls for."""
    # Read without the write lock (SQLite): most sweeps find nothing to change.
    with ctx.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        changes = _read(conn)
    if changes:
        now = ctx.clock()
        with session_scope(ctx.engine) as session:
            _apply(session, changes, now)
    return []


def _read(conn: Connection) -> _Changes:
    open_alert = select(_alerts.c.id).where(
        _alerts.c.kind == NEEDS_ATTENTION,
        _alerts.c.subject == cast(_lines.c.id, String),
        _alerts.c.resolved.is_(False),
    )
    parked = conn.execute(
        select(
            _lines.c.id, _lines.c.order_id, _lines.c.shop_id, _lines.c.item_name, _lines.c.reason
        )
        .where(_lines.c.state == FulfilmentState.NEEDS_ATTENTION, ~exists(open_alert))
        .order_by(_lines.c.id)
        .limit(BATCH)
    ).all()
    announced = [int(s) for s in _open_subjects(conn, NEEDS_ATTENTION) if s.isdigit()]
    states: dict[int, str | None] = dict.fromkeys(announced)
    for start in range(0, len(announced), BATCH):
        chunk = announced[start : start + BATCH]
        rows = conn.execute(select(_lines.c.id, _lines.c.state).where(_lines.c.id.in_(chunk)))
        states.update({line_id: state for line_id, state in rows})
    suppliers = {
        row.name: row
        for row in conn.execute(
            select(
                _suppliers.c.name,
                _suppliers.c.enabled,
                _suppliers.c.paused_until,
                _suppliers.c.failure_streak,
                _suppliers.c.last_failure,
            )
        )
    }
    open_paused = set(_open_subjects(conn, SUPPLIER_PAUSED))
    # Paused until its next success (the breaker clears the pause only then); a supplier
    # disabled by the operator is no incident.
    is_paused = {
        name for name, row in suppliers.items() if row.enabled and row.paused_until is not None
    }
    return _Changes(
        parked=[_Parked(*row) for row in parked],
        unparked={i: s for i, s in states.items() if s != FulfilmentState.NEEDS_ATTENTION},
        paused=[
            (name, suppliers[name].failure_streak, suppliers[name].last_failure)
            for name in sorted(is_paused - open_paused)
        ],
        unpaused={
            name: _why_not_paused(suppliers[name].enabled if name in suppliers else None)
            for name in open_paused - is_paused
        },
    )


def _why_not_paused(enabled: bool | None) -> str:
    if enabled is None:
        return "it was removed"
    return "it answers again" if enabled else "it was disabled"


def _open_subjects(conn: Connection, kind: str) -> list[str]:
    return list(
        conn.execute(
            select(_alerts.c.subject).where(_alerts.c.kind == kind, _alerts.c.resolved.is_(False))
        ).scalars()
    )


def _apply(session: Session, changes: _Changes, now: datetime) -> None:
    for line in changes.parked:
        what = f" ({line.item_name})" if line.item_name else ""
        raise_alert(
            session,
            NEEDS_ATTENTION,
            str(line.id),
            f"line {line.id}{what} of order {line.order_id}, shop {line.shop_id}, needs "
            f"attention: {line.reason or 'no reason recorded'}. Fix the cause, then "
            f"`bridge fulfilments retry {line.id}`",
            now,
        )
    for line_id, state in changes.unparked.items():
        note = f"line {line_id} is gone" if state is None else f"line {line_id} is {state} now"
        resolve_alert(session, NEEDS_ATTENTION, str(line_id), now, note=note)
    for name, streak, last_failure in changes.paused:
        raise_alert(
            session,
            SUPPLIER_PAUSED,
            name,
            f"supplier {name} is paused after {streak} failed calls in a row "
            f"(last: {last_failure or 'unknown'}); the bridge tries it again by itself and "
            "lines wait or use another choice. If it lasts, check the supplier's site",
            now,
        )
    for name, why in changes.unpaused.items():
        resolve_alert(session, SUPPLIER_PAUSED, name, now, note=f"supplier {name}: {why}")
