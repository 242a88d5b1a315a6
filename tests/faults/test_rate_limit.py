"""The supplier's rate limit (60 requests a minute per key, here compressed tenfold to 60 per 6 s)
is budgeted by one limiter that every worker process shares: the bridge never sees a 429.

A loaded 2-core host delays some requests between their admission and their arrival by more than
the window's 2% guard (0.12 s here); the limiter counts each request from its answer, so no delay
lets the supplier see more than the limit (at fivefold with admission stamps, CI once saw a 429).
"""

from __future__ import annotations

from tests.faults.conftest import MakeWorld
from tests.faults.world import CAOSHOP, DONE, NETFLIX, SPOTIFY

LIMIT = 60
TIME_SCALE = 10  # a simulated minute lasts 6 s


def test_three_workers_share_the_supplier_rate_limit_and_see_no_429(
    make_world: MakeWorld,
) -> None:
    world = make_world(
        shop_options={CAOSHOP: {"rate_limit_per_minute": LIMIT, "time_scale": TIME_SCALE}},
        worker_env={
            "BRIDGE_SUPPLIER_RATE_LIMIT": str(LIMIT),
            "BRIDGE_SUPPLIER_RATE_WINDOW_SECONDS": str(60 / TIME_SCALE),
        },
    )
    world.start_workers(3)

    # 60 orders of one line: 60 orders/create alone, plus the reads that follow them.
    for n in range(LIMIT):
        world.place_order([(NETFLIX if n % 3 else SPOTIFY, 1)])
    world.wait_all_settled(timeout=75, states=DONE)

    caoshop = world.supplier(CAOSHOP)
    assert len(caoshop.calls) > LIMIT, "the test must need more than one window's budget"
    assert caoshop.count_429 == 0
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []


def test_a_purchase_waiting_for_budget_past_its_lease_is_not_bought_twice(
    make_world: MakeWorld,
) -> None:
    """A purchase whose attempt is recorded, then waits for API budget longer than its lease, must
    not be settled as "nothing bought" and bought again while it still goes on to buy."""
    limit, time_scale = 6, 30  # 6 requests per 2 s: most of the burst below waits for budget
    world = make_world(
        shop_options={CAOSHOP: {"rate_limit_per_minute": limit, "time_scale": time_scale}},
        worker_env={
            "BRIDGE_SUPPLIER_RATE_LIMIT": str(limit),
            "BRIDGE_SUPPLIER_RATE_WINDOW_SECONDS": str(60 / time_scale),
        },
    )
    world.start_workers(3)

    # Twelve purchases at once: the last ones wait longer than their 3 s lease for budget.
    for _ in range(12):
        world.place_order([(NETFLIX, 1)])
    world.wait_all_settled(timeout=60, states=DONE)

    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    assert world.supplier(CAOSHOP).count_429 == 0
