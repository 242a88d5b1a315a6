"""A simulated world with stock sync switched on, on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from tests.conftest import Backend, fast_settings
from tests.e2e.world import build_world

SECRET_KEY = "stock-tests-secret-key-0123456789"
STOCK_SETTINGS: dict[str, object] = {
    "stock_sync_enabled": True,
    "stock_debounce_seconds": 0.5,
    # Periodic syncs only where a test asks for them.
    "stock_sync_interval_seconds": 3600.0,
    # Space syncs by milliseconds, not by the real budget's seconds (tested on its own).
    "supplier_daily_limit": 100_000_000,
}


def stock_sandbox(backend: Backend, **overrides: object) -> Sandbox:
    settings = fast_settings(backend.database_url, **(STOCK_SETTINGS | overrides))
    return Sandbox(settings, secret_key=SECRET_KEY, broker=backend.broker)


@pytest.fixture
def world(backend: Backend) -> Iterator[Sandbox]:
    """The standard world, its web side up but no workers: tests run syncs themselves."""
    sandbox = build_world(stock_sandbox(backend)).start(workers=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def quantity(sandbox: Sandbox, variation_id: str) -> int:
    return sandbox.pancake.remain_quantity(sandbox.shop_id, variation_id)


def pushes(sandbox: Sandbox) -> int:
    """update_quantity calls Pancake received."""
    return sandbox.pancake.count_calls("POST", "/variations/update_quantity")


def catalogue_reads(simulator: SupplierSimulator) -> int:
    return sum(1 for method, path in simulator.calls if path.endswith("/products/list"))
