"""Engines, sessions, the timezone-aware timestamp type and dialect-portable upserts.

SQLite is the embedded default and PostgreSQL the production database; the code below is the one
place that knows the difference. On SQLite every transaction starts with ``BEGIN IMMEDIATE`` (a
read-then-write transaction would otherwise fail with SQLITE_BUSY at once, ignoring the busy
timeout) and the journal is WAL so readers never wait for the writer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, ColumnDefault, Dialect, Table, event
from sqlalchemy.engine import Connection, Engine, create_engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.types import DateTime, TypeDecorator

from bridge.errors import SettingsError

# sqlmodel (with pydantic's model machinery) and the settings are imported where they are used:
# what only needs an engine and UTCDateTime (the migrations' version check, the secret key
# check) does not pay for them. (The CLI's list and show commands import none of this module:
# bridge/cli/driver.py reads as UTCDateTime does, and tests/cli/test_reads.py holds it to it.)
if TYPE_CHECKING:
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


def optional_timestamp(*, index: bool = False) -> Any:
    """A model field for a moment that may be unset (a lease, a lock, a finish time)."""
    from sqlmodel import Field

    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def created_timestamp() -> Any:
    """A model field set to the moment the row is made."""
    from sqlmodel import Field

    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names (made absolute), or None for another database or memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).expanduser().absolute()


def describe_database(url: str) -> str:
    """Where the database is, for a person: a SQLite file's path, or the URL without password."""
    try:
        path = sqlite_path(url)
        if path is not None:
            return str(path)
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(an unreadable BRIDGE_DATABASE_URL)"


PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600


def prepare_location(url: str) -> None:
    """Make sure a SQLite database can be created where its URL points.

    The default location (the per-user data directory) is created when missing; any other
    missing folder is refused with one sentence naming it, instead of sqlite's traceback. What
    the bridge creates is private: the folder 0700 and the database file 0600 (it holds the
    console's password hashes and the audit; SQLite gives its -wal and -shm files the database
    file's mode). An existing folder or file keeps the mode it has.
    """
    try:
        path = sqlite_path(url)
    except ArgumentError:
        raise SettingsError(
            "BRIDGE_DATABASE_URL is not a database URL (e.g. sqlite:////var/lib/bridge/bridge.db "
            "or postgresql+psycopg://user@host/db)."
        ) from None
    if path is None:
        return
    if not path.parent.is_dir():
        from bridge.settings import default_database_path

        if path != default_database_path().absolute():
            raise SettingsError(
                f"the folder of the SQLite database {path} does not exist: create {path.parent} "
                "or point BRIDGE_DATABASE_URL elsewhere."
            )
        path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_FOLDER)
    try:
        # An empty file is an empty SQLite database; made here, it is made with our mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass


def make_engine(url: str) -> Engine:
    prepare_location(url)
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
    from sqlmodel import Session

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

    Returns the new row's ``returning`` column, or None when the row already existed. This is
    the webhook endpoint's hot path: the SQL is built once per shape and sent straight to the
    driver, with each value converted by its column type. Building a SQLAlchemy statement per
    row cost more than the insert itself.
    """
    raw = _raw_insert(conn.dialect, table, tuple(values), tuple(conflict), returning)
    row = {**values, **{key: default() for key, default in raw.defaults}}
    params = {
        key: convert(row[key]) if convert else row[key]
        for key, convert in zip(raw.keys, raw.converters, strict=True)
    }
    return conn.exec_driver_sql(raw.sql, params).scalar()


def insert_ignore_many(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], conflict: list[str]
) -> None:
    """Insert many rows at once, skipping those that violate the unique key ``conflict``."""
    if not rows:
        return
    # Imported here: a sizeable import that a command on SQLite (most CLI runs) never needs.
    from sqlalchemy.dialects import postgresql, sqlite

    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(dialect_insert(table).on_conflict_do_nothing(index_elements=conflict), rows)


def driver_mark(dialect: Dialect) -> str:
    """How the driver writes a named parameter, as a format of its name: SQL sent straight to
    the driver is otherwise the same on SQLite and PostgreSQL."""
    return ":{}" if dialect.name == "sqlite" else "%({})s"


@dataclass(frozen=True)
class _RawInsert:
    sql: str
    keys: tuple[str, ...]
    converters: tuple[Callable[[Any], Any] | None, ...]
    defaults: tuple[tuple[str, Callable[[], Any]], ...]


def _column_default(column: Column[Any]) -> Callable[[], Any] | None:
    """The Python-side default SQLAlchemy would have filled in for an omitted column."""
    default = column.default
    if not isinstance(default, ColumnDefault) or column.primary_key:
        return None
    if default.is_callable:
        return lambda: default.arg(None)
    return lambda: default.arg


@lru_cache(maxsize=128)
def _raw_insert(
    dialect: Dialect, table: Table, keys: tuple[str, ...], conflict: tuple[str, ...], returning: str
) -> _RawInsert:
    defaults = tuple(
        (column.name, fill)
        for column in table.columns
        if column.name not in keys and (fill := _column_default(column)) is not None
    )
    keys = keys + tuple(name for name, _ in defaults)
    mark = driver_mark(dialect)
    preparer = dialect.identifier_preparer
    columns = ", ".join(preparer.quote(key) for key in keys)
    marks = ", ".join(mark.format(key) for key in keys)
    sql = (
        f"INSERT INTO {preparer.format_table(table)} ({columns}) VALUES ({marks}) "
        f"ON CONFLICT ({', '.join(preparer.quote(c) for c in conflict)}) DO NOTHING "
        f"RETURNING {preparer.quote(returning)}"
    )
    converters = tuple(table.c[key].type.bind_processor(dialect) for key in keys)
    return _RawInsert(sql, keys, converters, defaults)
