"""What the bridge creates on disk is private: the data folder 0700, the SQLite database and its
-wal and -shm files 0600 (they hold the console's password hashes and the audit)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from bridge.db import make_engine
from bridge.migrate import upgrade
from bridge.settings import default_database_path, default_database_url


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022: what the modes would be if the bridge left them to the umask."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


@pytest.mark.usefixtures("permissive_umask")
def test_the_default_folder_and_database_are_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    path = default_database_path()
    assert path.is_relative_to(tmp_path)
    assert not path.parent.exists()

    engine = make_engine(default_database_url())  # as `bridge run` opens it, then migrates
    upgrade(default_database_url())
    with engine.begin() as conn:  # a write while open: SQLite's -wal and -shm files exist
        conn.execute(text("CREATE TABLE touched (n INTEGER)"))
        # The migrations' lock file is empty; the folder keeps it private anyway.
        files = {p.name: mode(p) for p in path.parent.iterdir() if "lock" not in p.name}
    engine.dispose()

    assert mode(path.parent) == 0o700
    assert files == {"bridge.db": 0o600, "bridge.db-wal": 0o600, "bridge.db-shm": 0o600}


@pytest.mark.usefixtures("permissive_umask")
def test_a_database_in_a_folder_of_the_operators_choice_is_private_and_existing_files_kept(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "chosen"
    folder.mkdir()
    chosen = folder / "bridge.db"
    upgrade(f"sqlite:///{chosen}")
    assert mode(chosen) == 0o600
    assert mode(folder) == 0o755, "a folder the bridge did not create is left as it is"

    existing = folder / "shared.db"
    existing.touch(mode=0o640)
    upgrade(f"sqlite:///{existing}")
    assert mode(existing) == 0o640, "an existing file keeps its mode"
