"""The fast path every command takes before it opens the database: ``migrate.ensure_current``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from bridge import migrate

ROOT = Path(__file__).resolve().parents[1]


def revisions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_head_is_the_newest_migration(tmp_path: Path) -> None:
    config = migrate.alembic_config(f"sqlite:///{tmp_path / 'unused.db'}")
    assert migrate.HEAD == ScriptDirectory.from_config(config).get_current_head(), (
        "bridge.migrate.HEAD must name the newest file in bridge/migrations/versions/"
    )


def test_ensure_current_migrates_an_empty_database_then_does_nothing(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(empty_url)
    try:
        assert migrate.current_revisions(engine) is None
    finally:
        engine.dispose()

    assert migrate.ensure_current(empty_url) is True
    assert revisions(empty_url) == [migrate.HEAD]
    assert {"fulfilments", "mappings", "stock_sync_runs"} <= tables(empty_url)

    calls: list[str] = []
    monkeypatch.setattr(migrate, "upgrade", calls.append)
    assert migrate.ensure_current(empty_url) is False
    engine = create_engine(empty_url)
    try:
        assert migrate.ensure_current(empty_url, engine=engine) is False
    finally:
        engine.dispose()
    assert calls == [], "a current database is not migrated again"


def test_an_older_database_is_brought_to_head(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    command.upgrade(migrate.alembic_config(url), "0001")
    assert revisions(url) == ["0001"]

    assert migrate.ensure_current(url) is True
    assert revisions(url) == [migrate.HEAD]


def test_a_current_database_is_checked_without_importing_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    migrate.upgrade(url)
    probe = (
        "import sys; from bridge import migrate; "
        f"changed = migrate.ensure_current({url!r}); "
        "print(changed, any(name.split('.')[0] == 'alembic' for name in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.split() == ["False", "False"], result.stderr
