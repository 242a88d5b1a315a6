"""Redis restarted mid-run (stopped with nothing saved: every queued and delayed message is
gone) loses nothing and buys nothing twice: the database is the truth and the sweep re-sends what
was lost.

The Redis restarted is the world's private one (``redis_control.PrivateRedis``); the machine's
shared Redis, which other test sessions use meanwhile, is watched and must answer throughout.

The workers here are ``python -m bridge.cli worker`` itself. If one exits because Redis went away,
the world restarts it as systemd would and the exit is reported as a finding in the summary.
"""

from __future__ import annotations

import random
import time

from tests.faults.conftest import MakeWorld
from tests.faults.redis_control import SHARED_REDIS_URL, redis_answers
from tests.faults.world import CAOSHOP, CHATGPT, DONE, INSTANT, SHOPKEY, YOUTUBE, Product

LIMIT = 30
TIME_SCALE = 10  # a simulated minute lasts 6 s


def _order(rng: random.Random) -> list[tuple[Product, int]]:
    return [(rng.choice(INSTANT), rng.randint(1, 2)) for _ in range(rng.randint(1, 2))]


def _shared_redis_answers() -> None:
    assert redis_answers(SHARED_REDIS_URL), "the machine's shared Redis stopped answering"


def test_a_redis_restart_mid_run_loses_nothing(make_world: MakeWorld) -> None:
    rng = random.Random()
    # Both shops enforce their limit, in a minute compressed to 6 s so the run presses on it: the
    # restart must not let the workers burst past what the shops counted before it.
    limited = {"rate_limit_per_minute": LIMIT, "time_scale": TIME_SCALE}
    world = make_world(
        launch="exec",
        private_redis=True,
        shop_options={CAOSHOP: limited, SHOPKEY: limited},
        worker_env={
            "BRIDGE_SUPPLIER_RATE_LIMIT": str(LIMIT),
            "BRIDGE_SUPPLIER_RATE_WINDOW_SECONDS": str(60 / TIME_SCALE),
        },
    )
    assert world.redis_url != SHARED_REDIS_URL
    world.start_workers(3)

    # Manual plans stay pending at the supplier: their delivery polls wait as delayed messages.
    for product in (CHATGPT, YOUTUBE, CHATGPT):
        world.place_order([(product, 1), (rng.choice(INSTANT), 1)])
    for _ in range(9):
        world.place_order(_order(rng))
    time.sleep(0.3)  # work in flight

    with world.every(0.1, _shared_redis_answers, "shared-redis-watch"), world.redis_down():
        assert not redis_answers(world.redis_url), "the world's own Redis is down"
        # Webhooks keep arriving: the bridge records them, but cannot queue their intake.
        for _ in range(4):
            world.place_order(_order(rng))
        assert world.sandbox.pancake.wait_idle(10), "the webhooks were sent while Redis was down"
        time.sleep(1.0)
    for _ in range(4):
        world.place_order(_order(rng))

    with world.every(0.5, world.complete_manual_orders, "complete-manual"):
        world.wait_all_settled(timeout=45, states=DONE)

    assert len(world.order_ids) == 20
    refused = [d for d in world.sandbox.pancake.deliveries if d.result != 200]
    assert refused == [], "the bridge must record webhooks while Redis is down"
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    assert world.count_429() == 0, "the restart let the workers burst past the shops' limit"
    # A worker that exited was restarted by the world (as systemd would) and is a finding, not a
    # failure: it shows in the suite's summary.
