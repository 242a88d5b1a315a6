"""Each order webhook delivered 1-5 times, in random order, stale and forged copies among them, plus
the echoes of the bridge's own note updates: every line is bought once and noted once.

The Pancake API, not the webhook body, decides what is bought: a copy that claims "confirmed" for
an order staff never confirmed buys nothing, and one that arrives before the confirmation does not
stop the real confirmation from being served.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.faults.conftest import MakeWorld
from tests.faults.world import CONFIRMED, DONE, INSTANT, NETFLIX, FaultWorld

ORDERS = 15


def _forged_confirmed(body: dict[str, Any]) -> dict[str, Any]:
    """A copy that claims the order is confirmed, with the right secret: only the API may decide."""
    return {**body, "status": CONFIRMED, "status_name": "submitted"}


def _deliver_all(deliveries: Sequence[Callable[[], int | None]]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda send: send(), deliveries))
    assert all(code in (None, 200) for code in results), results


def _post(world: FaultWorld, body: dict[str, Any]) -> Callable[[], int]:
    return lambda: world.post_webhook(body)


def _resend(world: FaultWorld, order_id: str) -> Callable[[], None]:
    return lambda: world.sandbox.pancake.send_order_webhook(world.sandbox.shop_id, order_id)


def test_repeated_reordered_stale_and_echoed_webhooks_buy_once(make_world: MakeWorld) -> None:
    rng = random.Random()
    world = make_world()
    world.start_workers(3)

    copies: dict[str, list[dict[str, Any]]] = {}
    for n in range(ORDERS):
        lines = [(rng.choice(INSTANT), rng.randint(1, 2)) for _ in range(rng.randint(1, 3))]
        order_id = world.place_order(lines, confirm=False, note=f"Ghi chú #{n}")
        new = world.snapshot(order_id)
        copies[order_id] = [new, _forged_confirmed(new)]
    never_confirmed = [world.place_order([(NETFLIX, 1)], confirm=False) for _ in range(2)]

    # Forged "confirmed" copies arrive first for some orders: the API says "new", nothing is bought.
    early = [_post(world, copies[o][1]) for o in rng.sample(list(copies), 5)]
    early += [_post(world, _forged_confirmed(world.snapshot(o))) for o in never_confirmed]
    _deliver_all(early)
    for order_id in copies:
        world.confirm(order_id)
        copies[order_id].append(world.snapshot(order_id))

    # Then 1-5 more deliveries per order, shuffled across orders, four at a time.
    deliveries: list[Callable[[], int | None]] = []
    for order_id, bodies in copies.items():
        for _ in range(rng.randint(1, 5)):
            if rng.random() < 0.3:
                deliveries.append(_resend(world, order_id))
            else:
                deliveries.append(_post(world, rng.choice(bodies)))
    rng.shuffle(deliveries)
    _deliver_all(deliveries)

    world.wait_all_settled(timeout=45, states=DONE)
    assert world.sandbox.pancake.wait_idle(10)
    purchases = world.ledger_check().purchases
    notes = {order_id: world.note(order_id) for order_id in copies}

    # Late replays of every old copy, and re-sends of the annotated orders: nothing changes.
    late: list[Callable[[], int | None]] = [_post(world, b) for bs in copies.values() for b in bs]
    late += [_resend(world, order_id) for order_id in copies]
    rng.shuffle(late)
    _deliver_all(late)
    assert world.sandbox.pancake.wait_idle(10)
    time.sleep(2.5)  # several sweeps

    assert world.ledger_check().purchases == purchases
    assert {order_id: world.note(order_id) for order_id in copies} == notes
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.lost_lines() == []
    assert world.note_problems() == []
    for order_id, note in notes.items():
        assert note.startswith(f"Ghi chú #{list(copies).index(order_id)}")
    for order_id in never_confirmed:
        assert world.lines(order_id) == [], "bought on a forged webhook"
