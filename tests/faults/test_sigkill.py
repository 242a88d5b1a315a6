"""Worker processes SIGKILLed at random points of purchase, deliver and annotate lose nothing and
buy nothing twice."""

from __future__ import annotations

import random
import time

from bridge.states import FulfilmentState
from tests.faults import waiting
from tests.faults.conftest import MakeWorld
from tests.faults.world import CHATGPT, DONE, INSTANT, YOUTUBE, FaultWorld, Product

ORDERS = 70
MANUAL_ORDERS = 6


def _random_order(rng: random.Random, manual: Product | None) -> list[tuple[Product, int]]:
    lines = [(rng.choice(INSTANT), rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
    if manual is not None:
        lines[-1] = (manual, rng.randint(1, 2))  # two units are handed over in two parts
    return lines


def _committed(world: FaultWorld) -> int:
    return sum(len(simulator.ledger) for simulator in world.suppliers.values())


def _kill_all_between_commit_and_answer(world: FaultWorld) -> str:
    """One more order, and every worker killed the moment the supplier commits its purchase,
    before the answer leaves: the random kills hit that moment only by chance, and a run in
    which none did would prove nothing about settlement."""
    for simulator in world.suppliers.values():
        # The answer waits (within the world's 1 s request timeout); the kill does not.
        simulator.create_latency_seconds = 0.6
    before = _committed(world)
    order_id = world.place_order([(INSTANT[0], 1)], note=f"Ghi chú của shop #{ORDERS}")
    poll = 0.01  # the kill must land within the 0.6 s the answer waits
    assert waiting.poll(lambda: _committed(world) > before, 60, poll), "the last order not bought"
    for index in range(len(world.workers)):
        world.restart_worker(index)  # SIGKILL, then a new process
    for simulator in world.suppliers.values():
        simulator.create_latency_seconds = 0.3
    return order_id


def test_sigkilled_workers_buy_every_line_exactly_once(make_world: MakeWorld) -> None:
    rng = random.Random()
    world = make_world()
    for simulator in world.suppliers.values():
        # A purchase stays in flight for a while, as at a real shop: the kills must hit some.
        simulator.create_latency_seconds = 0.3
    world.start_workers(3)
    manual = [CHATGPT, YOUTUBE] * (MANUAL_ORDERS // 2)
    manual_at = set(rng.sample(range(ORDERS), MANUAL_ORDERS))

    # Staff fulfil the manual plans by hand on the supplier side, all along.
    with world.every(0.5, world.complete_manual_orders, "complete-manual"):
        with world.killer((0.3, 0.8)) as killer:
            for n in range(ORDERS):
                product = manual.pop() if n in manual_at else None
                world.place_order(_random_order(rng, product), note=f"Ghi chú của shop #{n}")
                time.sleep(rng.uniform(0.05, 0.25))
            time.sleep(5)  # keep killing while the last orders are in flight
        kills = len(killer.events)
        # The random phase's lines first, so the next purchase the supplier commits is the
        # last order's.
        world.wait_all_settled(timeout=90, states=DONE | {FulfilmentState.NEEDS_ATTENTION})
        last_order = _kill_all_between_commit_and_answer(world)

        # The workers stay alive from here: every line must reach the note, or a person when a
        # kill lost several purchases of the same plan at once and settlement cannot prove which
        # order is whose (it then adopts none and never buys again).
        rows = world.wait_all_settled(timeout=40, states=DONE | {FulfilmentState.NEEDS_ATTENTION})

    assert kills >= 10, f"only {kills} workers were killed"
    interrupted = world.settlements()
    assert interrupted["adopted"] + interrupted["not_found"] >= 1, "no kill hit a purchase"
    (last_line,) = [row for row in rows if row.order_id == last_order]
    # Its answer was lost with every worker: settlement found the committed order and kept it.
    settled = [a.settlement for a in world.attempts(last_line.id)]
    assert "adopted" in settled, f"{last_line.state}: {last_line.reason} {settled}"
    assert len(rows) >= ORDERS + 1
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    for row in rows:
        if row.state != FulfilmentState.ANNOTATED:
            settled = [attempt.settlement for attempt in world.attempts(row.id)]
            assert "ambiguous" in settled, f"line {row.id} {row.state}: {row.reason} {settled}"
    assert world.unexpected_exits == []
    for order_id in world.order_ids:
        assert world.note(order_id).startswith(f"Ghi chú của shop #{int(order_id) - 1}")
