"""A read-only connection straight through the database driver (sqlite3, psycopg 3), for the
list and show commands.

Why: each of those commands is a process of its own, run all day, and importing SQLAlchemy was
about half of one (150 ms of 0.3 s, issue 22). So they read with SQL text sent to the DB-API
driver, and the service and the console keep their ORM. Importing ``sqlite3`` costs 11 ms;
psycopg costs what it costs on PostgreSQL, where SQLAlchemy imported it too.

What comes back is what the ORM gave for the same columns: a ``UTCDateTime`` is an aware
datetime in UTC (``bridge.db.UTCDateTime``), JSON is decoded, a boolean is a ``bool``. On
SQLite the declared type of a column decides (``PARSE_DECLTYPES``, with converters for the
declared types the migrations create: DATETIME, JSON, BOOLEAN; VARCHAR, TEXT, INTEGER and FLOAT
come back as the driver gives them); psycopg types every value itself, and only its
``timestamptz`` is turned to UTC here (it gives the session's time zone). A value computed in
SQL has no declared type on SQLite: ``moment`` makes an aggregated timestamp what the ORM made.

One moment, and never in a writer's way: one read-only transaction for the whole command. On
SQLite it is a deferred ``BEGIN`` with ``PRAGMA query_only`` (WAL: a reader neither takes the
write lock nor waits for the writer; the busy timeout is the service's, for the rare moments
SQLite makes a reader wait, e.g. while another connection recovers the WAL index); on
PostgreSQL a ``READ ONLY, REPEATABLE READ`` transaction (one snapshot for every statement).

SQL is written once, with ``:name`` parameters; psycopg is given ``%(name)s``. Rows are tuples
with their columns as attributes (a namedtuple class per column list), ``_asdict`` for a record.

The schema is checked first, in the same transaction: ``alembic_version`` at ``HEAD``
(``bridge.migrate``). When it is not, when the URL is not one read here (a file or a server,
through the bridge's drivers), or the database does not open, the command goes the way every
other command goes (``bridge.runtime.startup.open_database``: it migrates when
``auto_migrate`` is on, or says in one sentence what is wrong) and then reads. A PostgreSQL
server that does not answer, or refuses the login, is that same sentence at once, without
trying a second time.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, quote, unquote

from bridge.errors import SettingsError

if TYPE_CHECKING:
    from bridge.settings import Settings

    class Row(tuple[Any, ...]):
        """A row: a tuple with its columns as attributes."""

        _fields: tuple[str, ...]

        def __getattr__(self, name: str) -> Any: ...
        def _asdict(self) -> dict[str, Any]: ...

else:
    Row = tuple

# The service's busy timeout (bridge.db.make_engine), in seconds.
BUSY_TIMEOUT = 30.0
# A URL as SQLAlchemy parses it (sqlalchemy.engine.url._parse_url), so that a URL the service
# opens is read the same way here: user, password and database %-unescaped.
URL_PATTERN = re.compile(
    r"""
        (?P<name>[\w+]+)://
        (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
        (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
        (?:/(?P<database>[^?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)
# The URL schemes read here: the bridge's own driver of each backend (runtime.startup.DRIVERS).
SQLITE = frozenset({"sqlite", "sqlite+pysqlite"})
POSTGRESQL = frozenset({"postgresql", "postgresql+psycopg"})
# `:name` in SQL text, not `::type` (a PostgreSQL cast).
NAMED = re.compile(r"(?<![:\w]):(\w+)")


@dataclass(frozen=True)
class Location:
    """Where to connect, parsed from ``BRIDGE_DATABASE_URL``: a SQLite file or a server."""

    path: Path | None = None
    server: dict[str, Any] = field(default_factory=dict)


def location(url: str) -> Location | None:
    """The file or server ``url`` names, or None for one not read here (another backend or
    driver, an in-memory database, options only SQLAlchemy understands)."""
    found = URL_PATTERN.match(url)
    if found is None:
        return None
    parts = found.groupdict()
    name = parts["name"]
    database = unquote(parts["database"]) if parts["database"] is not None else None
    if name in SQLITE:
        if not database or database == ":memory:" or "uri" in dict(parse_qsl(parts["query"] or "")):
            return None
        # As bridge.db.sqlite_path makes it: absolute, `~` expanded. Other options of the URL
        # (a `timeout`, say) are the service's connection's; a read sets its own.
        return Location(path=Path(database).expanduser().absolute())
    if name not in POSTGRESQL:
        return None
    query = parse_qsl(parts["query"] or "")
    if len({key for key, _ in query}) != len(query):
        return None  # a key given twice is a list, which only SQLAlchemy's dialect reads
    server: dict[str, Any] = dict(query)
    for key, value in (
        ("dbname", database or None),
        ("host", parts["ipv4host"] or parts["ipv6host"]),
        ("port", int(parts["port"]) if parts["port"] else None),
        ("user", unquote(parts["username"]) if parts["username"] is not None else None),
        ("password", unquote(parts["password"]) if parts["password"] is not None else None),
    ):
        if value:  # as SQLAlchemy's translate_connect_args: an empty one is left out
            server[key] = value
    return Location(server=server)


def _aware(value: datetime) -> datetime:
    """As ``bridge.db.UTCDateTime`` hands a value back: aware, in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def moment(value: datetime | str | None) -> datetime | None:
    """A timestamp computed in SQL (``max(created_at)``), as the ORM types it: SQLite gives
    its stored text, PostgreSQL a datetime."""
    if value is None:
        return None
    return _aware(datetime.fromisoformat(value) if isinstance(value, str) else value)


# SQLite's stored text of each declared type, as SQLAlchemy reads it back (DATETIME with
# datetime.fromisoformat, then UTCDateTime).
SQLITE_CONVERTERS: dict[str, Callable[[bytes], Any]] = {
    "DATETIME": lambda raw: _aware(datetime.fromisoformat(raw.decode())),
    "JSON": json.loads,
    "BOOLEAN": lambda raw: bool(int(raw)),
}


# namedtuple typed as a plain function: its fields are known only once a query ran.
_NAMEDTUPLE: Callable[[str, tuple[str, ...]], type[Row]] = namedtuple  # type: ignore[assignment]


@lru_cache(maxsize=64)
def row_type(columns: tuple[str, ...]) -> type[Row]:
    """The row class of a column list (made once per list: a namedtuple class costs ~50 µs)."""
    return _NAMEDTUPLE("Row", columns)


class _Cursor(Protocol):
    """What a reader uses of sqlite3's and psycopg's cursors."""

    @property
    def description(self) -> Sequence[Any] | None: ...

    def execute(self, sql: str, params: dict[str, Any], /) -> Any: ...
    def fetchall(self) -> Sequence[Sequence[Any]]: ...


@dataclass
class Reader:
    """One read-only transaction on the database, through its driver."""

    cursor: _Cursor
    postgresql: bool

    def rows(self, sql: str, **params: Any) -> list[Row]:
        """The rows ``sql`` selects, each column named by its (aliased) name."""
        self.cursor.execute(_marked(sql) if self.postgresql else sql, params)
        description = self.cursor.description or ()
        make = row_type(tuple(column[0] for column in description))
        return [make(*values) for values in self.cursor.fetchall()]

    def row(self, sql: str, **params: Any) -> Row | None:
        """The first row ``sql`` selects, None for none."""
        found = self.rows(sql, **params)
        return found[0] if found else None

    def scalar(self, sql: str, **params: Any) -> Any:
        """The first column of the first row, None for no row."""
        found = self.row(sql, **params)
        return found[0] if found is not None else None


@lru_cache(maxsize=256)
def _marked(sql: str) -> str:
    """``sql`` as psycopg takes it: ``%(name)s`` for ``:name``, and a literal ``%`` doubled."""
    return NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


def listed(name: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:name_0, :name_1, …)`` and its parameters, for ``IN``: one mark a value."""
    params = {f"{name}_{index}": value for index, value in enumerate(values)}
    return f"({', '.join(':' + key for key in params)})", params


@contextmanager
def reader(settings: Settings) -> Iterator[Reader]:
    """A ``Reader`` for the length of a command (see the module's docstring)."""
    from bridge.migrate import HEAD

    where = location(settings.database_url)
    if where is not None:
        with _opened(settings.database_url, where) as found:
            if found is not None and _revisions(found) == {HEAD}:
                yield found
                return
    # The way every command opens the database: it migrates, or says what is wrong.
    from bridge.runtime.startup import open_database

    open_database(settings).dispose()
    if where is None:
        raise SettingsError(
            "the list and show commands read a SQLite file (sqlite:////PATH/bridge.db, no "
            "options after it) or a PostgreSQL server (postgresql+psycopg://...): "
            "BRIDGE_DATABASE_URL names neither."
        )
    with _opened(settings.database_url, where, checked=True) as opened:
        assert opened is not None
        yield opened


def _revisions(reader: Reader) -> set[str] | None:
    """The revisions ``alembic_version`` names; None when it cannot be read (no such table)."""
    try:
        return {str(row[0]) for row in reader.rows("SELECT version_num FROM alembic_version")}
    except _driver_errors(reader.postgresql):
        return None


def _driver_errors(postgresql: bool) -> type[Exception]:
    if postgresql:
        import psycopg

        return psycopg.Error
    import sqlite3

    return sqlite3.Error


@contextmanager
def _opened(url: str, where: Location, *, checked: bool = False) -> Iterator[Reader | None]:
    """A reader in its transaction, or None when the database does not open (``checked``:
    ``open_database`` opened it just now, so an error is the driver's to raise)."""
    if where.path is not None:
        with _sqlite(where.path, checked=checked) as reader:
            yield reader
    else:
        with _postgresql(url, where.server, checked=checked) as reader:
            yield reader


@contextmanager
def _sqlite(path: Path, *, checked: bool) -> Iterator[Reader | None]:
    import sqlite3

    # Converters are the sqlite3 module's, for the process: only connections opened with
    # detect_types use them (SQLAlchemy's engines, in the tests' processes, do not).
    for name, convert in SQLITE_CONVERTERS.items():
        sqlite3.register_converter(name, convert)
    try:
        # mode=rw: a missing file is not made here (open_database makes it, with its mode).
        conn = sqlite3.connect(
            f"file:{quote(str(path))}?mode=rw",
            uri=True,
            timeout=BUSY_TIMEOUT,
            detect_types=sqlite3.PARSE_DECLTYPES,
            isolation_level=None,  # the transaction is this module's: BEGIN below
        )
    except sqlite3.Error:
        if checked:
            raise
        yield None
        return
    try:
        cursor = conn.cursor()
        try:
            cursor.execute("PRAGMA query_only = ON")
            cursor.execute("BEGIN")  # deferred: the first read takes a snapshot, no lock
        except sqlite3.Error:
            if checked:
                raise
            yield None
            return
        yield Reader(cursor, postgresql=False)
    finally:
        conn.close()  # ends the transaction; nothing was written


@contextmanager
def _postgresql(url: str, server: dict[str, Any], *, checked: bool) -> Iterator[Reader | None]:
    import psycopg
    from psycopg.types.datetime import TimestamptzLoader

    class UTCLoader(TimestamptzLoader):
        """``timestamptz`` as UTCDateTime hands it back: in UTC, not the session's zone."""

        def load(self, data: Any) -> datetime:
            return _aware(super().load(data))

    try:
        conn = psycopg.connect(**server)
    except psycopg.Error as exc:
        if checked:
            raise
        _say_why(url, exc, operational=isinstance(exc, psycopg.OperationalError))
        yield None
        return
    try:
        conn.adapters.register_loader("timestamptz", UTCLoader)
        conn.read_only = True
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        yield Reader(conn.cursor(), postgresql=True)
    finally:
        conn.close()  # rolls back the transaction; nothing was written


def _say_why(url: str, exc: Exception, *, operational: bool) -> None:
    """Raise the one sentence today's path gives for the driver's error on connecting (it
    would connect again only to say it); return when there is none (that path decides)."""
    from bridge.runtime.startup import database_problem

    sentence = database_problem(url, exc, operational=operational)
    if sentence is not None:
        raise SettingsError(sentence) from None
