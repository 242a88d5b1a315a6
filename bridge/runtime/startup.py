"""What is checked before the bridge starts anything, each failure one sentence.

Every failure here is one a person caused and can fix, raised as the error tree's
``SettingsError`` (a setting that cannot be used) or ``Refused`` (the database is another
process's): the CLI prints ``error: <sentence>`` and exits 2 (``bridge/cli/exits.py``), with no
traceback. This is the one place that turns the libraries' start-up errors (SQLAlchemy's, the
drivers', the socket's) into those sentences:

* the database URL: parsed, on a backend the bridge runs on (SQLite, PostgreSQL through psycopg),
  ``postgres://`` named for what it is;
* the database itself: it answers, it exists, it lets the user in (the driver's reason quoted);
* the port: free before any worker starts, so a port in use leaves nothing half-started;
* one process per SQLite file: an OS lock (``flock``) on ``<database>.lock``, held for the
  process's lifetime, released by the kernel however the process ends; a second one is told
  which process holds it.

Light to import: SQLAlchemy and the models are imported inside the functions.
"""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from bridge.errors import Refused, SettingsError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from bridge.settings import Settings

URL_SETTING = "BRIDGE_DATABASE_URL"
URL_SHAPES = "sqlite:////PATH/bridge.db or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
# The one driver the bridge installs for each backend it runs on.
DRIVERS = {"sqlite": "pysqlite", "postgresql": "psycopg"}


def check_database_url(url: str) -> URL:
    """The parsed URL, or a ``SettingsError`` saying what is wrong with it and what to write."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from bridge.db import prepare_location, sqlite_path

    try:
        parsed = make_url(url)
    except ArgumentError:
        prepare_location(url)  # it has the sentence for a URL that does not parse
        raise
    backend = parsed.get_backend_name()
    if backend == "postgres":
        raise SettingsError(
            f"{URL_SETTING} starts with postgres://, a name SQLAlchemy does not know: write "
            "postgresql+psycopg:// instead, the rest of the URL unchanged."
        )
    if backend not in DRIVERS:
        raise SettingsError(
            f"{URL_SETTING} names a {backend} database: the bridge runs on SQLite or PostgreSQL "
            f"({URL_SHAPES})."
        )
    driver = parsed.get_driver_name()
    if driver != DRIVERS[backend]:
        raise SettingsError(
            f"{URL_SETTING} asks for the {backend} driver {driver}, which the bridge does not "
            f"use: write {backend}+{DRIVERS[backend]}:// (or {backend}://), the rest unchanged."
        )
    path = sqlite_path(url)
    # SQLite writes beside the file too (its journal, the bridge's locks), not only into it.
    if path is not None and path.parent.is_dir() and not os.access(path.parent, os.W_OK):
        raise SettingsError(
            f"the folder of the SQLite database {path} is not writable by this user: give it "
            f"write access to {path.parent}, or point {URL_SETTING} at a folder of its own."
        )
    return parsed


def open_database(settings: Settings) -> Engine:
    """An engine on the database, connected once (so a database that does not answer is found
    here, not at the first query) and migrated when ``auto_migrate`` is on (and needed)."""
    from bridge.db import make_engine
    from bridge.migrate import ensure_current

    check_database_url(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with reporting_database_errors(settings.database_url):
            # A read: on SQLite it takes no write lock (see bridge.db.READ_ONLY).
            with engine.connect().execution_options(bridge_read_only=True) as conn:
                conn.exec_driver_sql("SELECT 1")
            if settings.auto_migrate:
                ensure_current(settings.database_url, engine=engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


@contextmanager
def reporting_database_errors(url: str) -> Iterator[None]:
    """The driver's errors of opening the database, as one sentence (``SettingsError``)."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    try:
        yield
    except DatabaseError as exc:
        cause = exc.orig if exc.orig is not None else exc
        sentence = database_problem(url, cause, operational=isinstance(exc, OperationalError))
        if sentence is None:
            raise
        raise SettingsError(sentence) from None
    except OSError as exc:
        # A file SQLite or the migrations keep beside the database (a journal, a lock).
        if exc.filename is None:
            raise
        raise SettingsError(
            f"cannot write {exc.filename} ({exc.strerror}): the user running the bridge must be "
            f"able to write beside the database ({URL_SETTING})."
        ) from None


def database_problem(url: str, cause: BaseException, *, operational: bool) -> str | None:
    """What a driver's error on opening the database means and what to do; None when it is not
    one a setting or a stopped server explains (a bug, a migration's own error, keeps its
    traceback). ``operational``: the driver's OperationalError (the connection, the server),
    as opposed to an error in what was asked of it."""
    from sqlalchemy.engine import make_url

    from bridge.db import sqlite_path

    reason = _driver_reason(cause)
    path = sqlite_path(url)
    if path is not None:
        if "not a database" in reason:
            return (
                f"{path} is not a SQLite database ({reason}): point {URL_SETTING} at the "
                "bridge's database, or at a new file."
            )
        if "unable to open" in reason or "readonly" in reason:
            return (
                f"cannot open the SQLite database {path} ({reason}): the user running the bridge "
                f"must be able to write {path.parent}."
            )
        return None
    parsed = make_url(url)
    host, port = parsed.host or "localhost", parsed.port or 5432
    where, user = f"{host}:{port}", parsed.username or "postgres"
    if operational and reason.startswith("database ") and "does not exist" in reason:
        name = parsed.database or ""
        return (
            f'the PostgreSQL database "{name}" does not exist on {where}: create it '
            f"(createdb -h {host} -p {port} -U {user} {name}) or correct the database name in "
            f"{URL_SETTING}."
        )
    if "permission denied" in reason:
        # The login worked; the user may not create the bridge's tables (the migrations).
        return (
            f"the PostgreSQL user {user} may not create the bridge's tables in "
            f'"{parsed.database}" ({reason}): make it the database\'s owner '
            f'(ALTER DATABASE "{parsed.database}" OWNER TO {user}) or use the owner in '
            f"{URL_SETTING}."
        )
    if not operational:
        return None
    if any(phrase in reason for phrase in ("role", "password", "authentication", "pg_hba")):
        return (
            f"PostgreSQL at {where} refused the login ({reason}): correct the user and password "
            f"in {URL_SETTING}, or give that user access."
        )
    return (
        f"PostgreSQL at {where} does not answer ({reason}): start it, or correct the host and "
        f"port in {URL_SETTING}."
    )


def _driver_reason(cause: BaseException) -> str:
    """The driver's own words, first line, without libpq's "connection to server at … failed:"
    preamble (the sentence names the server itself) or the severity word."""
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    reason = first.rsplit(" failed: ", 1)[-1].strip()
    for severity in ("FATAL:", "ERROR:"):
        reason = reason.removeprefix(severity).strip()
    return reason or type(cause).__name__


def check_port(host: str, port: int, *, setting: str) -> None:
    """Refuse, in one sentence naming ``setting``, an address this process cannot listen on.

    Bound and released at once, with ``SO_REUSEADDR`` as uvicorn binds (a port a stopped bridge
    left in TIME_WAIT is free to it), so a port another program listens on is found before any
    worker starts.
    """
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise SettingsError(_listen_problem(host, port, exc, setting)) from None


def _listen_problem(host: str, port: int, exc: OSError, setting: str) -> str:
    reason = exc.strerror or str(exc)
    start = f"cannot listen on {host}:{port} ({reason}): "
    if exc.errno == errno.EADDRINUSE:
        return start + f"another program is listening there; stop it or choose another {setting}"
    if exc.errno == errno.EACCES:
        return start + f"ports below 1024 need privileges; choose another {setting} (e.g. 8080)"
    return start + (
        f"{host} is not an address of this machine; use 127.0.0.1 (this machine only) or "
        "0.0.0.0 (every interface)"
    )


@dataclass
class DatabaseLock:
    """The lock a process holds on its SQLite database for as long as it runs."""

    path: Path
    fd: int

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = -1


def hold_database(url: str, what: str) -> DatabaseLock | None:
    """Hold ``<database>.lock`` for this process's lifetime when the database is a SQLite file;
    ``Refused``, naming the holder, when another process holds it. None for PostgreSQL, which
    many processes share by design.

    One process per file: the embedded queue lives in a process's memory, and a second process
    would resend, as lost, the messages the first one holds.
    """
    import fcntl

    from bridge.db import prepare_location, sqlite_path

    check_database_url(url)
    database = sqlite_path(url)
    if database is None:
        return None
    if not database.parent.is_dir():
        prepare_location(url)  # makes the default folder, refuses any other missing one
    path = database.with_name(database.name + ".lock")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SettingsError(
            f"cannot create {path} ({exc.strerror}): the user running the bridge must be able "
            f"to write {path.parent}."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
        os.close(fd)
        raise Refused(
            f"the database {database} is in use by {holder}: stop that one first, or give this "
            f"one a database of its own ({URL_SETTING})."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    since = datetime.now(UTC).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"`{what}` (pid {os.getpid()}, since {since})\n".encode(), 0)
    return DatabaseLock(path, fd)
