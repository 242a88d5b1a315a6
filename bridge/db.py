"""Engines, sessions, the timezone-aware timestamp type and dialect-portable upserts.

SQLite is the embedded default and PostgreSQL the production database; the code below is the one
place that knows the difference. On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (a
read-then-write transaction would otherwise fail with SQLITE_BUSY at once, ignoring the busy
timeout) and the journal is WAL so readers never wait for the writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Dialect, Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, create_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import Executable
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Session


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back an aware datetime, on SQLite too (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30, "isolation_level": None}
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a webhook acknowledged with 2xx survives a power cut, not only a process crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


READ_ONLY = "bridge_read_only"


def _sqlite_begin_immediate(connection: Connection) -> None:
    # A read-only transaction takes no write lock: in WAL mode it never waits for the writer.
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_ignore(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    conflict: list[str],
    *,
    returning: str = "id",
) -> Any | None:
    """INSERT that skips a row violating the unique key ``conflict``.

    Returns the new row's ``returning`` column, or None when the row already existed.
    """
    statement = _insert_ignore_statement(conn.dialect.name, table, tuple(conflict), returning)
    return conn.execute(statement, dict(values)).scalar_one_or_none()


@lru_cache(maxsize=64)
def _insert_ignore_statement(
    dialect: str, table: Table, conflict: tuple[str, ...], returning: str
) -> Executable:
    """Built once per table: building and cache-keying a statement per row was most of the
    webhook endpoint's CPU. The values are bound at execute time."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        dialect_insert(table)
        .on_conflict_do_nothing(index_elements=list(conflict))
        .returning(table.c[returning])
    )
