"""The circuit breaker (``bridge/supplier/breaker.py``) on each backend: failures that come at
once (a supplier going down under several worker threads) are each counted, and its pause never
cuts short a longer one (a spent day)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bridge.db import make_engine, session_scope, utcnow
from bridge.supplier.breaker import record_failure
from bridge.supplier.models import Supplier
from tests.conftest import fast_settings, migrated_sqlite_url

NAME = "caoshop"


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    url: str = (
        migrated_sqlite_url(tmp_path)
        if request.param == "sqlite"
        else request.getfixturevalue("migrated_postgres_url")
    )
    engine = make_engine(url)
    with session_scope(engine) as session:
        session.add(
            Supplier(name=NAME, base_url="http://127.0.0.1:9", api_key_enc="", api_secret_enc="")
        )
    try:
        yield engine
    finally:
        engine.dispose()


def supplier(engine: Engine) -> Supplier:
    with session_scope(engine) as session:
        row = session.get(Supplier, NAME)
        assert row is not None
        return row


def test_failures_at_once_are_each_counted_and_pause_the_supplier(engine: Engine) -> None:
    settings = fast_settings("sqlite://", breaker_threshold=6)
    start = threading.Barrier(6)
    now = utcnow()

    def fail() -> None:
        start.wait()
        record_failure(engine, settings, NAME, "timed out", now)

    threads = [threading.Thread(target=fail) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    row = supplier(engine)
    assert row.failure_streak == 6
    assert row.paused_until is not None
    assert row.paused_until > now


def test_a_failure_never_shortens_a_longer_pause(engine: Engine) -> None:
    settings = fast_settings("sqlite://", breaker_threshold=1)
    now = utcnow()
    tomorrow = now + timedelta(days=1)  # the key's day is spent (workers.suppliers.keys)
    with session_scope(engine) as session:
        row = session.get(Supplier, NAME)
        assert row is not None
        row.paused_until = tomorrow
        session.add(row)

    assert record_failure(engine, settings, NAME, "timed out", now)

    assert supplier(engine).paused_until == tomorrow
