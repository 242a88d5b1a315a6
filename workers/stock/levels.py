"""What the bridge knows of each pushed quantity: marked before a push, confirmed after it.

Levels are addressed by their unique key (shop, variation, warehouse: each row names its own)
with executemany parameters, so a batch of 100 pushes costs a few statements, not a few hundred.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, update
from sqlmodel import col

from bridge.db import insert_ignore_many, session_scope
from workers.queue.context import Context
from workers.stock.models import StockLevel
from workers.stock.report import StockRow

_DELETE_CHUNK = 500


@dataclass(frozen=True, slots=True)
class LevelKeys:
    """Executemany parameters addressing levels by their unique key (shop, variation, warehouse)."""

    shop: str

    def params(self, rows: Sequence[StockRow], *, with_value: bool = False) -> list[dict[str, Any]]:
        keyed: list[dict[str, Any]] = [
            {"k_shop": self.shop, "k_variation": row.variation_id, "k_warehouse": row.warehouse_id}
            for row in rows
        ]
        if with_value:
            for params, row in zip(keyed, rows, strict=True):
                params["q"] = row.new
        return keyed


def _levels() -> Any:
    return StockLevel.__table__  # type: ignore[attr-defined]


def _by_key() -> Any:
    table = _levels()
    return and_(
        table.c.shop_id == bindparam("k_shop"),
        table.c.variation_id == bindparam("k_variation"),
        table.c.warehouse_id == bindparam("k_warehouse"),
    )


def mark_pushing(ctx: Context, key: LevelKeys, rows: Sequence[StockRow]) -> None:
    """Before the call: Pancake echoes these values in webhooks; they are ours, not staff's."""
    now = ctx.clock()
    table = _levels()
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        insert_ignore_many(
            conn,
            table,
            [
                {
                    "shop_id": key.shop,
                    "variation_id": row.variation_id,
                    "warehouse_id": row.warehouse_id,
                    "pushing_quantity": row.new,
                    "updated_at": now,
                }
                for row in rows
            ],
            ["shop_id", "variation_id", "warehouse_id"],
        )
        conn.execute(
            update(table).where(_by_key()).values(pushing_quantity=bindparam("q"), updated_at=now),
            key.params(rows, with_value=True),
        )


def mark_pushed(ctx: Context, key: LevelKeys, rows: Sequence[StockRow], read_at: datetime) -> None:
    """After a successful call. A report that came in after the sync read the levels stays: that
    change may be newer than our push, so the next sync pushes again."""
    if not rows:
        return
    now = ctx.clock()
    table = _levels()
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(table)
            .where(_by_key())
            .values(
                pushed_quantity=bindparam("q"),
                pushing_quantity=None,
                pushed_at=now,
                updated_at=now,
                reported_at=case((table.c.reported_at <= read_at, None), else_=table.c.reported_at),
            ),
            key.params(rows, with_value=True),
        )


def clear_pushing(ctx: Context, key: LevelKeys, rows: Sequence[StockRow]) -> None:
    if not rows:
        return
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(_levels()).where(_by_key()).values(pushing_quantity=None), key.params(rows)
        )


def forget(ctx: Context, level_ids: Sequence[int]) -> None:
    """Drop levels the sync no longer tracks (a variation unsynced, a warehouse changed)."""
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        for start in range(0, len(level_ids), _DELETE_CHUNK):
            chunk = level_ids[start : start + _DELETE_CHUNK]
            conn.execute(delete(StockLevel).where(col(StockLevel.id).in_(chunk)))
