"""A disabled choice, or a disabled mapping, is really not used: not bought from, not synced."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from mappings import commands
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import CAOSHOP, NETFLIX, SHOPKEY, SPOTIFY, build_world, second_choice
from tests.workers.stock.conftest import quantity, world  # noqa: F401  (world is a fixture)
from workers.stock.sync import run_exclusive


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = build_world(Sandbox(fast_settings(migrated_sqlite_url(tmp_path)))).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_disabled_choice_is_skipped_and_a_disabled_mapping_buys_nothing(
    running: Sandbox,
) -> None:
    second_choice(running, NETFLIX, SHOPKEY, 77)
    with session_scope(running.runtime.engine) as session:
        commands.set_choice_enabled(session, 1, False, actor="cli")  # caoshop plan 319

    order_id = running.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = running.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert (line.supplier_name, line.plan_id) == (SHOPKEY, 77)
    assert running.suppliers[CAOSHOP].ledger == [], "the disabled choice was not bought from"

    with session_scope(running.runtime.engine) as session:
        commands.set_mapping_enabled(session, running.shop_id, NETFLIX, False, actor="cli")
    order_id = running.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = running.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert len(running.suppliers[SHOPKEY].ledger) == 1, "nothing more was bought"
    assert running.suppliers[CAOSHOP].ledger == []


def test_stock_sync_leaves_a_disabled_mapping_to_staff(world: Sandbox) -> None:  # noqa: F811
    run_exclusive(world.runtime.ctx, trigger="test")
    assert (quantity(world, NETFLIX), quantity(world, SPOTIFY)) == (50, 25)
    with session_scope(world.runtime.engine) as session:
        commands.set_mapping_enabled(session, world.shop_id, NETFLIX, False, actor="cli")
        commands.set_choice_enabled(session, 2, False, actor="cli")  # Spotify's only choice
    world.suppliers[CAOSHOP].set_stock(319, 7)
    world.suppliers[CAOSHOP].set_stock(331, 8)

    report = run_exclusive(world.runtime.ctx, trigger="test")

    synced = {row.variation_id for row in report.rows}
    assert NETFLIX not in synced
    assert SPOTIFY not in synced
    assert (quantity(world, NETFLIX), quantity(world, SPOTIFY)) == (50, 25), (
        "Pancake keeps what it had: staff own the stock of what the bridge does not sell"
    )

    with session_scope(world.runtime.engine) as session:
        commands.set_mapping_enabled(session, world.shop_id, NETFLIX, True, actor="cli")
    run_exclusive(world.runtime.ctx, trigger="test")
    assert quantity(world, NETFLIX) == 7
