"""The latitudes the docs leave open, and what the real server does, run together on the real
workers.

Each world fixes how ``orders/list`` is sorted, whether Pancake sends webhooks at all (the
catch-up must then find every order), and the zone each supplier prints ``created_at`` in (UTC,
UTC+7, UTC+8: the bridge is not told, it learns); within it, phases change how a multi-item
``orders/create`` would answer, how far (and how coarsely) the supplier's clock runs from ours,
and whether one item of several units is answered as several orders (a quantity split). Every
phase loses the answer of its first purchase at each supplier, so settling must find the order
by that clock and zone, whole when it was split. The suite's summary line counts the cells run.
"""

from __future__ import annotations

import pytest

from bridge.dev.simulators.supplier import MultiItem, Precision
from tests.faults.conftest import MakeWorld
from tests.faults.ledger import SUMMARY
from tests.faults.world import CANVA, CAOSHOP, DONE, NETFLIX, SHOPKEY, SPOTIFY

# (how a multi-item create would answer, supplier clock minus ours in seconds, created_at
# precision, each create line split into orders of these sizes or not)
PHASES: tuple[tuple[MultiItem, float, Precision, list[int] | None], ...] = (
    ("reversed", -300.0, "minutes", None),
    ("merged", 300.0, "seconds", [1]),
    ("partial", -540.0, "seconds", [1]),
    ("in_order", 0.0, "minutes", None),
)
# The zones (hours east of UTC) caoshop and shopkey print their times in, per world.
ZONES = {
    ("newest_first", "sent"): (0, 8),
    ("oldest_first", "sent"): (8, 0),
    ("newest_first", "lost"): (7, 0),
    ("oldest_first", "lost"): (0, 7),
}
# Units bought per phase: NETFLIX 1 + SPOTIFY 1 item of 2 units + NETFLIX 1 + NETFLIX 1 at
# caoshop; CANVA 1 + 2 at shopkey.
UNITS = {CAOSHOP: 5, SHOPKEY: 3}


@pytest.mark.parametrize("webhooks", ["sent", "lost"])
@pytest.mark.parametrize("list_order", ["newest_first", "oldest_first"])
def test_no_double_purchase_and_no_lost_line_across_the_latitudes(
    make_world: MakeWorld, list_order: str, webhooks: str
) -> None:
    world = make_world(worker_env={"BRIDGE_CATCHUP_INTERVAL_SECONDS": "1"})
    world.sandbox.pancake.send_webhooks = webhooks == "sent"
    zones = dict(zip((CAOSHOP, SHOPKEY), ZONES[(list_order, webhooks)], strict=True))
    for name, simulator in world.suppliers.items():
        simulator.switch(list_order=list_order, created_at_zone_hours=zones[name])
        simulator.hang_seconds = 3.0  # past the bridge's 1 s supplier timeout
    world.start_workers(2)

    for multi_item, skew, precision, split in PHASES:
        for simulator in world.suppliers.values():
            simulator.switch(
                multi_item=multi_item,
                clock_skew_seconds=skew,
                created_at_precision=precision,
                quantity_split=split,
            )
            simulator.inject("drop_after_commit")
        # Two lines of one supplier in one order (a batch, if the bridge made batches), and
        # orders of one line at each supplier.
        world.place_order([(NETFLIX, 1), (SPOTIFY, 1), (NETFLIX, 1)])
        world.place_order([(CANVA, 1), (CANVA, 2)])
        world.place_order([(NETFLIX, 1)])
        world.wait_all_settled(timeout=60, states=DONE)
        zone = f"{zones[CAOSHOP]:+d}h/{zones[SHOPKEY]:+d}h"
        cell = (list_order, multi_item, f"{skew:+.0f}s/{precision}", webhooks, zone, str(split))
        SUMMARY.cells.add(cell)

    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    for name, units in UNITS.items():
        bought = sum(p.quantity for p in world.supplier(name).ledger)
        assert bought == units * len(PHASES), f"{name}: every unit bought once"
    split_phases = sum(1 for *_, split in PHASES if split)
    assert len(world.supplier(SHOPKEY).ledger) == 2 * len(PHASES) + split_phases
    adopted = world.settlements()["adopted"]
    assert adopted >= 2 * len(PHASES), "every phase lost an answer at each supplier"
