"""What the bridge knows of each pushed quantity: marked before a push, confirmed after it.

Levels are addressed by their unique key (shop, variation, warehouse: each row names its own)
with executemany parameters, so a batch of 100 pushes costs a few statements, not a few hundred.
The statements are written once and sent straight to the driver, their constants (the
timestamps) converted once per statement: SQLAlchemy's executemany converts every parameter of
every row, which at 100,000 levels was the largest share of a full sync's CPU. Each function
takes the caller's connection, so a push records one batch's outcome and marks the next in a
single transaction (a commit is a sync's costliest write on SQLite, ``synchronous=FULL``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete
from sqlmodel import col

from bridge.db import driver_mark, session_scope
from workers.queue.context import Context
from workers.stock.models import StockLevel
from workers.stock.report import StockRow

_DELETE_CHUNK = 500
_KEY = ("shop_id", "variation_id", "warehouse_id")


@dataclass(frozen=True, slots=True)
class LevelKeys:
    """Executemany parameters addressing levels by their unique key (shop, variation, warehouse)."""

    shop: str

    def params(
        self, rows: Sequence[StockRow], *, with_value: bool = True, **constants: Any
    ) -> list[dict[str, Any]]:
        """Per row its key (and new value, ``q``), with the statement's ``constants``."""
        keyed: list[dict[str, Any]] = [
            {
                "shop_id": self.shop,
                "variation_id": row.variation_id,
                "warehouse_id": row.warehouse_id,
                **constants,
            }
            for row in rows
        ]
        if with_value:
            for params, row in zip(keyed, rows, strict=True):
                params["q"] = row.new
        return keyed


def _table() -> Any:
    return StockLevel.__table__  # type: ignore[attr-defined]


def _marks(conn: Connection, names: Sequence[str]) -> dict[str, str]:
    """Each parameter as the driver writes it (SQLite and PostgreSQL share the SQL otherwise)."""
    mark = driver_mark(conn.dialect)
    return {name: mark.format(name) for name in names}


def _timestamp(conn: Connection, moment: datetime) -> Any:
    """``moment`` as the driver takes it for a timestamp column (once per statement)."""
    convert = _table().c.updated_at.type.bind_processor(conn.dialect)
    return convert(moment) if convert is not None else moment


def _update(conn: Connection, assignments: str, params: list[dict[str, Any]]) -> None:
    """``UPDATE stock_levels SET <assignments> WHERE <key>`` for each parameter set;
    ``assignments`` names parameters as ``{name}``."""
    if not params:
        return
    marks = _marks(conn, list(params[0]))
    where = " AND ".join(f"{column} = {marks[column]}" for column in _KEY)
    sql = f"UPDATE {_table().name} SET {assignments.format(**marks)} WHERE {where}"
    conn.exec_driver_sql(sql, params)


def mark_pushing(conn: Connection, key: LevelKeys, rows: Sequence[StockRow], now: datetime) -> None:
    """Before the call: Pancake echoes these values in webhooks; they are ours, not staff's."""
    if not rows:
        return
    params = key.params(rows, now=_timestamp(conn, now))
    marks = _marks(conn, list(params[0]))
    columns = (*_KEY, "pushing_quantity", "updated_at")
    values = ", ".join(marks[name] for name in (*_KEY, "q", "now"))
    # A level seen for the first time; one that exists (or that a webhook created meanwhile)
    # is left to the update below.
    conn.exec_driver_sql(
        f"INSERT INTO {_table().name} ({', '.join(columns)}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(_KEY)}) DO NOTHING",
        params,
    )
    _update(conn, "pushing_quantity = {q}, updated_at = {now}", params)


def mark_pushed(
    conn: Connection, key: LevelKeys, rows: Sequence[StockRow], now: datetime, read_at: datetime
) -> None:
    """After a successful call. A report that came in after the sync read the levels stays: that
    change may be newer than our push, so the next sync pushes again."""
    stamp = _timestamp(conn, now)
    _update(
        conn,
        "pushed_quantity = {q}, pushing_quantity = NULL, pushed_at = {now}, updated_at = {now}, "
        "reported_at = CASE WHEN reported_at <= {read_at} THEN NULL ELSE reported_at END",
        key.params(rows, now=stamp, read_at=_timestamp(conn, read_at)),
    )


def clear_pushing(conn: Connection, key: LevelKeys, rows: Sequence[StockRow]) -> None:
    _update(conn, "pushing_quantity = NULL", key.params(rows, with_value=False))


def forget(ctx: Context, level_ids: Sequence[int]) -> None:
    """Drop levels the sync no longer tracks (a variation unsynced, a warehouse changed)."""
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        for start in range(0, len(level_ids), _DELETE_CHUNK):
            chunk = level_ids[start : start + _DELETE_CHUNK]
            conn.execute(delete(StockLevel).where(col(StockLevel.id).in_(chunk)))
