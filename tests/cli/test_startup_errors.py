"""Every start-up failure a person can cause is one line, ``error: …``, exit 2, and nothing
started: no thread left behind, no port held, no log line, no traceback.

The table runs each command in this process (cheap: no interpreter to start per case), where
the threads it would have started and the log records it would have written can be seen; the
two failures that need a real second process (a port another program holds, a second `bridge
run` on the same SQLite file) run the real command in a subprocess.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from bridge.cli.invocation import program
from bridge.runtime.startup import hold_database
from bridge.settings import get_settings
from bridge.web.server import free_port
from tests.cli.test_main import SECRET_KEY, run
from tests.conftest import PG_ADMIN_URL, bridge_cli, clean_environment, require_service

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = PG_ADMIN_URL.rsplit("/", 1)[0]  # postgresql+psycopg://postgres@127.0.0.1:5432


@dataclass(frozen=True)
class Case:
    name: str
    argv: tuple[str, ...]
    url: str
    said: tuple[str, ...]  # what the sentence must say (what is wrong, what to do)
    postgres: bool = False  # needs the PostgreSQL server running


def closed_port() -> int:
    """A port nothing listens on (taken from the kernel, then let go)."""
    return free_port()


CASES = (
    Case(
        "unparseable",
        ("run",),
        "not a url",
        ("BRIDGE_DATABASE_URL is not a database URL", "postgresql+psycopg://"),
    ),
    Case(
        "postgres-scheme",
        ("run",),
        "postgres://postgres@127.0.0.1:5432/test",
        ("starts with postgres://", "write postgresql+psycopg:// instead"),
    ),
    Case(
        "unknown-driver",
        ("serve",),
        "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        ("the postgresql driver asyncpg", "write postgresql+psycopg://"),
    ),
    Case(
        "unsupported-database",
        ("worker",),
        "mysql://bridge@127.0.0.1/bridge",
        ("names a mysql database", "SQLite or PostgreSQL"),
    ),
    Case(
        "postgres-down",
        ("run",),
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test",
        ("does not answer (Connection refused)", "start it, or correct the host and port"),
    ),
    Case(
        "postgres-down-for-a-command",
        ("shops", "list"),
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test",
        ("does not answer (Connection refused)", "start it"),
    ),
    Case(
        "missing-database",
        ("worker",),
        f"{PG_SERVER}/bridge_missing_{uuid.uuid4().hex[:8]}",
        ("does not exist on 127.0.0.1:5432", "create it (createdb -h 127.0.0.1 -p 5432"),
        postgres=True,
    ),
    Case(
        "missing-database-on-upgrade",
        ("db", "upgrade"),
        f"{PG_SERVER}/bridge_missing_{uuid.uuid4().hex[:8]}",
        ("does not exist", "correct the database name in BRIDGE_DATABASE_URL"),
        postgres=True,
    ),
    Case(
        "unknown-role",
        ("serve",),
        PG_SERVER.replace("postgres@", "nobody_here@") + "/test",
        ('refused the login (role "nobody_here" does not exist)', "correct the user"),
        postgres=True,
    ),
)


@pytest.fixture
def bridge_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A key, no Redis, and a free port for the web; the port is what each test yields."""
    for name in [name for name in os.environ if name.startswith("BRIDGE_")]:
        monkeypatch.delenv(name)
    port = free_port()
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("BRIDGE_PORT", str(port))
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{tmp_path / 'bridge.db'}")
    get_settings.cache_clear()
    yield port
    get_settings.cache_clear()


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_database_that_cannot_be_used_is_one_line_and_exit_2(
    case: Case,
    bridge_env: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    if case.postgres:
        require_service("PostgreSQL", "127.0.0.1", 5432)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", case.url)
    threads = set(threading.enumerate())
    caplog.set_level(logging.INFO)

    code, out, err = run(capsys, *case.argv)

    assert (code, out) == (2, "")
    assert err.startswith("error: "), err
    assert err.count("\n") == 1, err
    for words in case.said:
        assert words in err, err
    assert "Traceback" not in err
    assert not caplog.records, "nothing logged: nothing started"
    assert set(threading.enumerate()) <= threads, "no thread left behind"
    assert port_is_free(bridge_env), "the port is not held"


@pytest.fixture
def powerless_user() -> Iterator[str]:
    """A PostgreSQL database and a user that may log in to it but create nothing there (as
    PostgreSQL 15 and later make any user but the owner), dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"bridge_powerless_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{name}" LOGIN'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # What PostgreSQL 15 does by default, done here for older servers too.
    owner = create_engine(f"{PG_SERVER}/{name}", isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    owner.dispose()
    try:
        yield f"{PG_SERVER.replace('postgres@', f'{name}@')}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
        admin.dispose()


def test_a_user_that_may_not_create_the_tables_is_one_line(
    bridge_env: int,
    powerless_user: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BRIDGE_DATABASE_URL", powerless_user)
    name = powerless_user.rsplit("/", 1)[1]
    code, out, err = run(capsys, "run")
    assert (code, out) == (2, "")
    assert err == (
        f'error: the PostgreSQL user {name} may not create the bridge\'s tables in "{name}" '
        f"(permission denied for schema public): make it the database's owner (ALTER DATABASE "
        f'"{name}" OWNER TO {name}) or use the owner in BRIDGE_DATABASE_URL.\n'
    )


def test_a_sqlite_file_that_is_not_a_database_is_one_line(
    bridge_env: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{notes}")
    code, out, err = run(capsys, "run")
    assert (code, out) == (2, "")
    assert err == (
        f"error: {notes} is not a SQLite database (file is not a database): point "
        "BRIDGE_DATABASE_URL at the bridge's database, or at a new file.\n"
    )
    assert notes.read_text() == "not a database\n" * 100, "the file is left as it was"


def test_an_address_that_is_not_this_machines_is_one_line(
    bridge_env: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRIDGE_HOST", "192.0.2.1")  # TEST-NET-1: never a local address
    code, out, err = run(capsys, "serve")
    assert (code, out) == (2, "")
    assert err == (
        f"error: cannot listen on 192.0.2.1:{bridge_env} (Cannot assign requested address): "
        "192.0.2.1 is not an address of this machine; use 127.0.0.1 (this machine only) or "
        "0.0.0.0 (every interface)\n"
    )


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("BRIDGE_CONSOLE_TIMEZONE", "Mars/Olympus", "invalid timezone"),
        ("BRIDGE_CONSOLE_SESSION_HOURS", "-1", "greater than 0"),
    ],
)
def test_a_bad_console_setting_is_one_line_before_anything_starts(
    variable: str,
    value: str,
    said: str,
    bridge_env: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, value)
    threads = set(threading.enumerate())
    code, out, err = run(capsys, "run")
    assert (code, out) == (2, "")
    assert err.startswith(f"error: the BRIDGE_CONSOLE_* settings are not usable: {variable}: ")
    assert said in err
    assert err.count("\n") == 1, err
    assert set(threading.enumerate()) <= threads, "no thread left behind"


def real_env(tmp_path: Path, port: int) -> dict[str, str]:
    return clean_environment() | {
        "BRIDGE_SECRET_KEY": SECRET_KEY,
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_PORT": str(port),
    }


def test_a_port_in_use_stops_bridge_run_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            bridge_cli("run"),
            cwd=ROOT,
            env=real_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: cannot listen on 127.0.0.1:{port} (Address already in use): another program "
        "is listening there; stop it or choose another BRIDGE_PORT\n"
    )
    assert not (tmp_path / "bridge.db").exists(), "the database was not even opened"


def test_a_second_bridge_run_on_the_same_sqlite_file_is_refused_while_the_first_runs(
    tmp_path: Path,
) -> None:
    first_port, second_port = free_port(), free_port()
    first_said = tmp_path / "first.err"
    with first_said.open("w") as stderr:
        first = subprocess.Popen(
            bridge_cli("run"),
            cwd=ROOT,
            env=real_env(tmp_path, first_port),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        health = f"http://127.0.0.1:{first_port}/healthz"
        deadline = time.monotonic() + 60
        while not _answers(health):
            assert first.poll() is None, "the first bridge run exited"
            assert time.monotonic() < deadline, "the first bridge run did not start"
            time.sleep(0.2)
        # Where the console is, and, with no user yet, the command that makes one.
        said = first_said.read_text().splitlines()
        assert said[1:3] == [
            f"console: http://127.0.0.1:{first_port}/admin/",
            "no console user yet: make one (it asks for the password) with "
            f"`{program(ROOT)} admin add-user admin`",
        ], said

        second = subprocess.run(
            bridge_cli("run"),
            cwd=ROOT,
            env=real_env(tmp_path, second_port),
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert (second.returncode, second.stdout) == (2, "")
        database = tmp_path / "bridge.db"
        assert second.stderr.startswith(
            f"error: the database {database} is in use by `bridge run` (pid {first.pid}, since "
        )
        assert second.stderr.endswith(
            "): stop that one first, or give this one a database of its own "
            "(BRIDGE_DATABASE_URL).\n"
        )
        assert second.stderr.count("\n") == 1
        assert port_is_free(second_port), "the second one never listened"
        assert _answers(health), "the first one keeps running"
    finally:
        os.killpg(first.pid, signal.SIGINT)
        first.wait(timeout=60)
    # The kernel let the lock go with the process: the file is free again.
    lock = hold_database(f"sqlite:///{tmp_path / 'bridge.db'}", "test")
    assert lock is not None
    lock.release()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5).is_success
    except httpx.TransportError:
        return False
