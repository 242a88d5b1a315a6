"""Catalogue reads and purchases share one key's budget without starving purchases: a big
catalogue read under a small real-time budget while purchases arrive from another process (two
``Budgets`` on one Redis), each purchase's wait measured from the supplier simulator's own log of
when calls reached it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier.budget import BudgetRule, Budgets
from bridge.supplier.catalogue import read_catalogue
from bridge.supplier.client import SupplierClient
from bridge.supplier.schemas import OrderItem
from bridge.web.server import ServerThread
from tests.conftest import REDIS_URL, require_service

# 10 requests a "minute" of 3 s: one call's spacing is 0.31 s (the guarded window / 10); a
# window filled by the catalogue would hold a purchase back ~3 s.
LIMIT = 10
TIME_SCALE = 20.0
RULE = BudgetRule(limit=LIMIT, window_seconds=60.0 / TIME_SCALE, daily_limit=10_000, margin=0)
PLANS = 2_000  # 20 pages of 100: a read of ~6 s at this budget, purchases taken
PURCHASES = 6
PURCHASE_EVERY = 0.8
# Scheduling and HTTP on a loaded 2-core host, beyond the one call's spacing allowed.
JITTER = 0.2


class TimedCalls(list[tuple[str, str]]):
    """The simulator's call log, with when each call reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, call: tuple[str, str]) -> None:
        self.times.append(time.monotonic())
        super().append(call)


@pytest.fixture
def namespace() -> Iterator[str]:
    require_service("Redis", "127.0.0.1", 6379)
    name = f"test-share-{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)
    client.close()


def test_a_purchase_waits_at_most_one_call_while_a_catalogue_is_read(namespace: str) -> None:
    sim = SupplierSimulator(rate_limit_per_minute=LIMIT, time_scale=TIME_SCALE, balance=100_000_000)
    for plan in range(1, PLANS + 1):
        sim.add_plan(plan, name=f"Plan {plan}", stock=100)
    sim.calls = calls = TimedCalls()
    # Two processes: the stock sync's and a purchasing worker's, one Redis log.
    syncing, buying = Budgets(RULE, REDIS_URL, namespace), Budgets(RULE, REDIS_URL, namespace)
    with ServerThread(sim.app) as server:
        url = server.url + "/api/v1"
        reader = SupplierClient(
            url, DEMO_API_KEY, DEMO_API_SECRET, budget=syncing.for_key(DEMO_API_KEY)
        )
        buyer = SupplierClient(
            url, DEMO_API_KEY, DEMO_API_SECRET, budget=buying.for_key(DEMO_API_KEY)
        )
        found: list[int] = []
        read_done: list[float] = []

        def read() -> None:
            catalogue = read_catalogue(reader)
            found.append(len(catalogue))
            read_done.append(time.monotonic())

        sync = threading.Thread(target=read)
        started = time.monotonic()
        sync.start()
        asked: list[float] = []
        for n in range(PURCHASES):
            # The n-th purchase is asked for at a fixed moment of the read (not after a sleep
            # of fixed length: the previous purchase's own wait does not shift it).
            time.sleep(max(0.0, started + (n + 1) * PURCHASE_EVERY - time.monotonic()))
            asked.append(time.monotonic())
            ticket = buyer.reserve_slot(max_wait=10.0)
            buyer.create_order([OrderItem(plan_id=1 + n)], ticket=ticket)
        sync.join(timeout=60)
        reader.close()
        buyer.close()
    syncing.close()
    buying.close()

    assert found == [PLANS], "the catalogue was read whole"
    assert sim.count_429 == 0
    assert read_done[0] > asked[-1], "every purchase came during the read"
    arrived = [
        at for at, call in zip(calls.times, calls, strict=True) if "orders/create" in call[1]
    ]
    assert len(arrived) == PURCHASES
    waits = [round(got - ask, 3) for ask, got in zip(asked, arrived, strict=True)]
    assert max(waits) <= RULE.spacing + JITTER, waits
