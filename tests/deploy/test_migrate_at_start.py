"""Several processes starting at once on a new database (``--scale worker=4``, or the web and
the workers of a host booting together) each run the migrations: exactly one applies them, the
others wait for it and find nothing to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from bridge.migrate import HEAD, current_revisions
from tests.conftest import bridge_cli, clean_environment

STARTERS = 4


def start_at_once(database_url: str) -> list[subprocess.CompletedProcess[str]]:
    env = clean_environment() | {"BRIDGE_DATABASE_URL": database_url}
    children = [
        subprocess.Popen(
            bridge_cli("db", "upgrade"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(STARTERS)
    ]
    done = []
    for child in children:
        out, err = child.communicate(timeout=180)
        done.append(subprocess.CompletedProcess(child.args, child.returncode, out, err))
    return done


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_starting_together_migrate_once_and_all_start(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgres"
        else f"sqlite:///{tmp_path / 'bridge.db'}"
    )
    results = start_at_once(url)
    failed = [r.stderr[-2000:] for r in results if r.returncode != 0]
    assert failed == [], failed
    engine = create_engine(url)
    try:
        assert current_revisions(engine) == {HEAD}
    finally:
        engine.dispose()
