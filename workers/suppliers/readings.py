"""What the workers last read of each supplier, kept for the console (``SupplierReading``).

The console never calls a supplier on a page view: a supplier that hangs or answers a
decompression bomb would hold the web process (which, in ``bridge run``, also runs the workers).
It shows what is stored here instead, with its age, and when that is older than it likes it
*asks* (``ask``): the step ``supplier.readings`` (``workers.suppliers.refresh``) reads what was
asked for through the workers' bounded clients and stores it.

Balances also arrive for free: every ``orders/create`` answer's ``new_balance`` and every stock
sync's ``account/balance`` read go through ``workers.suppliers.balance.note_balance``, which
records them here.

Writes are upserts (``INSERT … ON CONFLICT``): one may run inside a purchase's transaction,
which a race with the console's insert of the same row must never fail.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, not_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from bridge.supplier.catalogue import Catalogue, PlanInfo, RequiredField, Route
from workers.suppliers.models import ReadingKind, SupplierReading

ERROR_CHARS = 300


def readings(session: Session, kind: ReadingKind) -> dict[str, SupplierReading]:
    """Every supplier's reading of ``kind``, by supplier name."""
    rows = session.exec(select(SupplierReading).where(SupplierReading.kind == kind))
    return {row.supplier_name: row for row in rows}


def record_value(session: Session, name: str, kind: ReadingKind, value: str, now: datetime) -> None:
    _upsert(session, name, kind, value=value, read_at=now)


def record_failure(
    session: Session, name: str, kind: ReadingKind, error: str, now: datetime
) -> None:
    _upsert(session, name, kind, error=error[:ERROR_CHARS], error_at=now)


def record_balance(session: Session, name: str, balance: float, read_at: datetime) -> bool:
    """Keep ``balance`` as read at ``read_at``, unless a reading taken later is kept already
    (a purchase answered while a stock sync read its catalogue): True when it is kept."""
    kept = _table().c.read_at
    newer = kept.is_not(None) & (kept > read_at)
    value = json.dumps(balance)
    return _upsert(session, name, ReadingKind.BALANCE, unless=newer, value=value, read_at=read_at)


def ask(session: Session, name: str, kind: ReadingKind, now: datetime) -> None:
    """The console wants a fresh reading: the next ``supplier.readings`` step reads it."""
    _upsert(session, name, kind, wanted_at=now)


def claim(session: Session, name: str, kind: ReadingKind, now: datetime) -> bool:
    """Take the request for a reading; False when another step took it (or nobody asked)."""
    result = session.connection().execute(
        update(_table())
        .where(
            col(SupplierReading.supplier_name) == name,
            col(SupplierReading.kind) == kind,
            col(SupplierReading.wanted_at).is_not(None),
        )
        .values(wanted_at=None, taken_at=now)
    )
    return bool(result.rowcount == 1)


def wanted(session: Session) -> list[tuple[str, ReadingKind]]:
    """The readings the console asked for and no step has taken yet."""
    rows = session.exec(
        select(SupplierReading.supplier_name, SupplierReading.kind)
        .where(col(SupplierReading.wanted_at).is_not(None))
        .order_by(col(SupplierReading.supplier_name), col(SupplierReading.kind))
    )
    return [(name, ReadingKind(kind)) for name, kind in rows]


def balance_of(reading: SupplierReading) -> float | None:
    return None if reading.value is None else float(json.loads(reading.value))


def catalogue_json(catalogue: Catalogue) -> str:
    """The catalogue as stored: its plans, and how much of it was read."""
    return json.dumps(
        {
            "plans": [asdict(plan) for plan in catalogue.values()],
            "complete": catalogue.complete,
            "listed": catalogue.listed,
            "products": catalogue.products,
            "routes": [str(route) for route in catalogue.routes],
            "calls": catalogue.calls,
            "gap": catalogue.gap,
            "unread": sorted(catalogue.unread),
        },
        ensure_ascii=False,
    )


def catalogue_of(reading: SupplierReading) -> Catalogue | None:
    if reading.value is None:
        return None
    stored: dict[str, Any] = json.loads(reading.value)
    plans = {
        int(plan["plan_id"]): PlanInfo(
            **{key: value for key, value in plan.items() if key != "required"},
            required=tuple(RequiredField(**field) for field in plan.get("required", ())),
        )
        for plan in stored["plans"]
    }
    return Catalogue(
        plans,
        complete=stored["complete"],
        listed=stored["listed"],
        products=stored["products"],
        routes=tuple(Route(route) for route in stored["routes"]),
        calls=stored["calls"],
        gap=stored["gap"],
        unread=frozenset(stored["unread"]),
    )


def _upsert(
    session: Session,
    name: str,
    kind: ReadingKind,
    *,
    unless: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    """Insert or update the reading; an existing row for which ``unless`` holds is left as it
    is. True when a row was written."""
    conn = session.connection()
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    table = _table()
    written = conn.execute(
        insert(table)
        .values(supplier_name=name, kind=str(kind), **values)
        .on_conflict_do_update(
            index_elements=["supplier_name", "kind"],
            set_=values,
            where=None if unless is None else not_(unless),
        )
        # What was written, rather than a row count: psycopg's is -1 for this statement.
        .returning(table.c.kind)
    ).first()
    return written is not None


def _table() -> Table:
    table = SupplierReading.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table
