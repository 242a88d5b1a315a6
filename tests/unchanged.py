"""Every row of every table, for asserting that a refused command saved nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Each table's rows, sorted (their order on disk is not what a test compares)."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {
            name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for name, table in sorted(metadata.tables.items())
        }
