from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.dev.sandbox import Sandbox
from tests.conftest import fast_settings
from tests.e2e.world import build_world


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[Sandbox]:
    """The standard world on SQLite only, for error paths that do not depend on the backend."""
    settings = fast_settings(f"sqlite:///{tmp_path / 'bridge.db'}", supplier_timeout_seconds=1.0)
    sandbox = build_world(Sandbox(settings)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()
