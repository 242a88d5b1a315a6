"""The circuit breaker: a supplier that keeps failing is paused instead of being hammered.

Transient failures (no connection, timeouts, 5xx) count; any answer the supplier gives on purpose,
including a refusal, proves it is up and resets the streak. Lines waiting for a paused supplier are
not failed: they try another choice or wait for the pause to end. It sits in the supplier
room because both fulfilment (purchases, polls) and stock (which suppliers count) read a
supplier's health.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Connection, Engine

from bridge.db import session_scope
from bridge.logs import event
from bridge.settings import Settings
from bridge.supplier.models import Supplier


def is_paused(supplier: Supplier, now: datetime) -> bool:
    return not supplier.enabled or (
        supplier.paused_until is not None and supplier.paused_until > now
    )


def record_success(engine: Engine, name: str) -> None:
    with session_scope(engine) as session:
        supplier = session.get(Supplier, name)
        if supplier is not None and (supplier.failure_streak or supplier.paused_until):
            supplier.failure_streak = 0
            supplier.paused_until = None
            session.add(supplier)


def record_failure(
    engine: Engine, settings: Settings, name: str, error: str, now: datetime
) -> bool:
    """Count a transient failure; True when it (re)opens the pause.

    Failures come in bursts (every worker thread's call times out at once when a supplier goes
    down), so the count is one UPDATE in the database: read and written back by each thread, on
    PostgreSQL six failures at once counted as one. The pause never cuts a longer one short (a
    spent day: ``workers.suppliers.keys.day_spent``).
    """
    table = Supplier.__table__  # type: ignore[attr-defined]
    row = table.c
    with session_scope(engine) as session:
        conn = session.connection()
        counted = conn.execute(
            update(table)
            .where(row.name == name)
            .values(failure_streak=row.failure_streak + 1, last_failure=error[:300])
            .returning(row.failure_streak)
        ).first()
        if counted is None:
            return False
        streak = int(counted[0])
        over = streak - settings.breaker_threshold
        paused = over >= 0
        if paused:
            pause = min(
                settings.breaker_max_pause_seconds, settings.breaker_pause_seconds * 2**over
            )
            pause_until(conn, name, now + timedelta(seconds=pause))
    if paused:
        event("supplier.paused", logging.WARNING, supplier=name, streak=streak)
    return paused


def pause_until(conn: Connection, name: str, until: datetime) -> None:
    """Pause the supplier until ``until``, never shortening a longer pause (a spent day, a
    breaker pause that doubled)."""
    row = Supplier.__table__.c  # type: ignore[attr-defined]
    conn.execute(
        update(Supplier.__table__)  # type: ignore[attr-defined]
        .where(row.name == name, or_(row.paused_until.is_(None), row.paused_until < until))
        .values(paused_until=until)
    )
