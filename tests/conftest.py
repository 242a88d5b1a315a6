"""Shared fixtures: the two backends (SQLite + embedded broker, PostgreSQL + Redis) and sandboxes.

PostgreSQL and Redis tests run for real; they skip only when the server is absent locally and CI
is unset. In CI a missing server fails the run instead of hiding the tests.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import dramatiq
import pytest
from sqlalchemy import create_engine, text

from bridge.dev.sandbox import Sandbox
from bridge.migrate import upgrade
from bridge.settings import Settings
from tests.e2e.world import build_world
from workers.queue.broker import build_broker

if TYPE_CHECKING:
    from tests.faults.redis_control import PrivateRedis

PG_ADMIN_URL = os.environ.get(
    "BRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
FIXTURES = Path(__file__).parent / "fixtures"


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{name} is required in CI but {host}:{port} is not reachable")
    pytest.skip(f"{name} is not running on {host}:{port}")


def clean_environment() -> dict[str, str]:
    """The test process's environment without any BRIDGE_ setting that could leak into a child
    process (a worker, a CLI command)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}


def bridge_cli(*args: str) -> list[str]:
    """The command line of ``python -m bridge.cli ARGS``."""
    return [sys.executable, "-m", "bridge.cli", *args]


@contextmanager
def postgres_database(prefix: str = "bridge_test", *, template: str | None = None) -> Iterator[str]:
    """The URL of a fresh PostgreSQL database, dropped afterwards (tests, benchmarks): empty, or
    a copy of the database named ``template``."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template is not None else ""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with postgres_database() as url:
        yield url


# Most tests start from a database at the newest schema. Migrating one costs about a second
# (thirty migrations; SQLite alters by copying tables), so each backend is migrated once per
# session and every test gets a copy of it: a file copy, or PostgreSQL's CREATE DATABASE ...
# TEMPLATE. Tests of the migrations themselves use the empty ones (``postgres_url``, a new file).


_migrated_sqlite: Path | None = None


def migrated_sqlite_url(folder: Path) -> str:
    """The URL of a new SQLite database ``folder/bridge.db`` at the newest schema: a copy of a
    file migrated once per test run (its engines are disposed, so its WAL is in the file)."""
    global _migrated_sqlite
    if _migrated_sqlite is None:
        template = Path(tempfile.mkdtemp(prefix="bridge-migrated-")) / "bridge.db"
        atexit.register(shutil.rmtree, template.parent, ignore_errors=True)
        upgrade(f"sqlite:///{template}")
        _migrated_sqlite = template
    path = folder / "bridge.db"
    shutil.copyfile(_migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def migrated_postgres_template() -> Iterator[str]:
    """The name of a PostgreSQL database at the newest schema, for CREATE DATABASE ... TEMPLATE
    (nothing stays connected to it: a template must have no other session)."""
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with postgres_database("bridge_template") as url:
        upgrade(url)
        yield url.rsplit("/", 1)[1]


@pytest.fixture
def migrated_postgres_url(migrated_postgres_template: str) -> Iterator[str]:
    """A fresh PostgreSQL database at the newest schema for one test, dropped afterwards."""
    with postgres_database(template=migrated_postgres_template) as url:
        yield url


@pytest.fixture
def redis_broker() -> Iterator[dramatiq.Broker]:
    """dramatiq's Redis broker on a namespace of its own, emptied afterwards."""
    require_service("Redis", "127.0.0.1", 6379)
    broker = build_broker(REDIS_URL, namespace=f"bridge-test-{uuid.uuid4().hex[:8]}")
    try:
        yield broker
    finally:
        broker.flush_all()
        broker.close()


def fast_settings(database_url: str, **overrides: object) -> Settings:
    """Settings with short waits so end-to-end tests finish in seconds."""
    values: dict[str, object] = {
        "database_url": database_url,
        "redis_url": None,
        "poll_initial_seconds": 0.2,
        "poll_factor": 1.5,
        "poll_max_seconds": 1.0,
        "sweep_interval_seconds": 0.5,
        "lease_seconds": 30.0,
        "supplier_timeout_seconds": 5.0,
        "worker_threads": 4,
        # Stock sync reads supplier catalogues and pushes to Pancake in the background; tests of
        # other features keep their call counts to themselves. tests/workers/stock turns it on.
        "stock_sync_enabled": False,
        "settle_delay_seconds": 0.5,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Backend:
    name: str
    database_url: str
    broker: dramatiq.Broker | None  # None: the embedded broker the runtime builds itself

    def sandbox(self, **overrides: object) -> Sandbox:
        return Sandbox(fast_settings(self.database_url, **overrides), broker=self.broker)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """SQLite + the embedded broker, and PostgreSQL + Redis: every e2e test runs on both, each
    on a database already at the newest schema."""
    if request.param == "sqlite":
        return Backend("sqlite", migrated_sqlite_url(tmp_path), None)
    url: str = request.getfixturevalue("migrated_postgres_url")
    broker: dramatiq.Broker = request.getfixturevalue("redis_broker")
    return Backend("postgres", url, broker)


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend, for the tests of migrating and of a first start."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bridge.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def world(backend: Backend) -> Iterator[Sandbox]:
    """The standard world, running on each backend."""
    sandbox = build_world(backend.sandbox()).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[Sandbox]:
    """The standard world on SQLite only, for error paths that do not depend on the backend."""
    settings = fast_settings(migrated_sqlite_url(tmp_path), supplier_timeout_seconds=1.0)
    sandbox = build_world(Sandbox(settings)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A Redis of the test's own, on a free port, that the test may stop and start (the shared
    one at 6379 is never stopped)."""
    from tests.faults.redis_control import PrivateRedis  # it reads this module's REDIS_URL

    if shutil.which("redis-server") is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is required in CI")
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.close()
