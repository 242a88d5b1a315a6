"""The latitudes the docs leave open, run together on the real workers.

Each world fixes how ``orders/list`` is sorted and whether Pancake sends webhooks at all (the
catch-up must then find every order); within it, phases change how a multi-item ``orders/create``
would answer and how far (and how coarsely) the supplier's clock runs from ours. Every phase loses
the answer of its first purchase at each supplier, so settling must find the order by that clock.
The suite's summary line counts the cells run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from bridge.dev.simulators.supplier import MultiItem, Precision
from tests.faults.conftest import MakeWorld
from tests.faults.ledger import SUMMARY
from tests.faults.world import CANVA, CAOSHOP, DONE, NETFLIX, SHOPKEY, SPOTIFY

# (how a multi-item create would answer, supplier clock minus ours in seconds, created_at precision)
PHASES: tuple[tuple[MultiItem, float, Precision], ...] = (
    ("reversed", -300.0, "minutes"),
    ("merged", 300.0, "seconds"),
    ("partial", -540.0, "seconds"),
    ("in_order", 0.0, "minutes"),
)


def skewed(seconds: float) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(seconds=seconds)


@pytest.mark.parametrize("webhooks", ["sent", "lost"])
@pytest.mark.parametrize("list_order", ["newest_first", "oldest_first"])
def test_no_double_purchase_and_no_lost_line_across_the_latitudes(
    make_world: MakeWorld, list_order: str, webhooks: str
) -> None:
    world = make_world(worker_env={"BRIDGE_CATCHUP_INTERVAL_SECONDS": "1"})
    world.sandbox.pancake.send_webhooks = webhooks == "sent"
    for simulator in world.suppliers.values():
        simulator.list_order = list_order  # type: ignore[assignment]
        simulator.hang_seconds = 3.0  # past the bridge's 1 s supplier timeout
    world.start_workers(2)

    for multi_item, skew, precision in PHASES:
        for simulator in world.suppliers.values():
            simulator.multi_item = multi_item
            simulator.clock = skewed(skew)
            simulator.created_at_precision = precision
            simulator.inject("drop_after_commit")
        # Two lines of one supplier in one order (a batch, if the bridge made batches), and
        # orders of one line at each supplier.
        world.place_order([(NETFLIX, 1), (SPOTIFY, 1), (NETFLIX, 1)])
        world.place_order([(CANVA, 1), (CANVA, 2)])
        world.place_order([(NETFLIX, 1)])
        world.wait_all_settled(timeout=60, states=DONE)
        SUMMARY.cells.add((list_order, multi_item, f"{skew:+.0f}s/{precision}", webhooks))

    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    assert world.purchases_of(CAOSHOP) == 4 * len(PHASES)
    assert world.purchases_of(SHOPKEY) == 2 * len(PHASES)
    adopted = world.settlements()["adopted"]
    assert adopted >= 2 * len(PHASES), "every phase lost an answer at each supplier"
