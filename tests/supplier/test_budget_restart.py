"""The budget after a Redis restart, and the daily count seeded from the supplier's own.

The restart test runs its own ``redis-server`` (the shared one serves other sessions), sends
through the real client to the simulator, and counts what the simulator refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier.budget import BudgetExhausted, BudgetRule, Budgets, KeyBudget, LocalBudget
from bridge.supplier.client import SupplierClient
from bridge.web.server import ServerThread
from tests.conftest import REDIS_URL, require_service
from tests.faults.redis_control import PrivateRedis

# The simulator's minute runs 60 times faster: 5 requests a second, as the budget is told.
RULE = BudgetRule(limit=5, window_seconds=1.0, daily_limit=1_000, margin=0)


@pytest.fixture
def shop() -> Iterator[tuple[SupplierSimulator, str]]:
    sim = SupplierSimulator(rate_limit_per_minute=RULE.limit, time_scale=60.0)
    with ServerThread(sim.app) as server:
        yield sim, server.url + "/api/v1"


def test_a_redis_restart_mid_window_sends_no_burst(
    private_redis: PrivateRedis, shop: tuple[SupplierSimulator, str]
) -> None:
    sim, url = shop
    budgets = Budgets(RULE, private_redis.url, f"restart-{uuid.uuid4().hex[:8]}")
    client = SupplierClient(
        url, DEMO_API_KEY, DEMO_API_SECRET, budget=budgets.for_key(DEMO_API_KEY), budget_wait=5.0
    )
    try:
        for _ in range(4):  # most of a window
            client.balance()
        with private_redis.down():
            pass  # the log, the day's count and the epoch are gone; the simulator still counts
        for _ in range(12):  # over two windows' worth
            client.balance()
    finally:
        client.close()
        budgets.close()
    assert sim.count_429 == 0
    assert len(sim.calls) == 16


def test_after_a_restart_one_process_waits_for_the_others_to_put_back_their_window(
    private_redis: PrivateRedis, shop: tuple[SupplierSimulator, str]
) -> None:
    """Two worker processes share the key's window; after the restart only the first calls
    again at once (the other is, say, still reconnecting to its queue). Its own entries alone
    would leave it room the other's already took at the supplier."""
    sim, url = shop
    namespace = f"pair-{uuid.uuid4().hex[:8]}"
    processes = [Budgets(RULE, private_redis.url, namespace) for _ in range(2)]
    first, second = (
        SupplierClient(
            url, DEMO_API_KEY, DEMO_API_SECRET, budget=b.for_key(DEMO_API_KEY), budget_wait=5.0
        )
        for b in processes
    )
    try:
        for _ in range(2):
            first.balance()
        for _ in range(3):  # the window is full between them
            second.balance()
        with private_redis.down():
            pass
        for _ in range(RULE.limit):  # the first alone, over a window's worth
            first.balance()
        second.balance()
    finally:
        for client in (first, second):
            client.close()
        for budgets in processes:
            budgets.close()
    assert sim.count_429 == 0
    assert len(sim.calls) == 2 * RULE.limit + 1


def test_a_fresh_store_admits_its_first_request_at_once(private_redis: PrivateRedis) -> None:
    budgets = Budgets(RULE, private_redis.url, f"fresh-{uuid.uuid4().hex[:8]}")
    try:
        budget = budgets.for_key(DEMO_API_KEY)
        for _ in range(RULE.limit):  # the whole window at once: nothing suggests a history
            budget.answered(budget.acquire(max_wait=0))
    finally:
        budgets.close()


def test_after_a_restart_the_day_count_is_kept(private_redis: PrivateRedis) -> None:
    rule = BudgetRule(limit=100, window_seconds=1.0, daily_limit=10, margin=0)
    budgets = Budgets(rule, private_redis.url, f"day-{uuid.uuid4().hex[:8]}")
    try:
        budget = budgets.for_key(DEMO_API_KEY)
        budget.seed_daily(8)
        with private_redis.down():
            pass
        budget.answered(budget.acquire(max_wait=2.0))  # after the window's block
        budget.answered(budget.acquire(max_wait=0))
        with pytest.raises(BudgetExhausted, match="daily"):
            budget.acquire(max_wait=0)
    finally:
        budgets.close()


@pytest.fixture
def redis_budgets() -> Iterator[Budgets]:
    require_service("Redis", "127.0.0.1", 6379)
    namespace = f"bridge-test-{uuid.uuid4().hex[:8]}"
    budgets = Budgets(RULE, REDIS_URL, namespace)
    yield budgets
    budgets.close()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    client.close()


def _seeded_count(budget: KeyBudget, daily_limit: int) -> int:
    """How many more requests the day allows."""
    for left in range(daily_limit + 1):
        try:
            budget.answered(budget.acquire(max_wait=2.0))
        except BudgetExhausted as exc:
            if "daily" not in str(exc):
                raise
            return left
    raise AssertionError("the daily limit never stopped a request")


@pytest.mark.parametrize("store", ["local", "redis"])
def test_seeding_the_day_never_lowers_it(store: str, request: pytest.FixtureRequest) -> None:
    rule = BudgetRule(limit=100, window_seconds=1.0, daily_limit=10, margin=0)
    budget: KeyBudget
    if store == "local":
        budget = LocalBudget(rule)
    else:
        budgets: Budgets = request.getfixturevalue("redis_budgets")
        budget = budgets.for_key("sk_live_seeded", daily_limit=10)
        assert budget.rule.daily_limit == 10
    budget.answered(budget.acquire(max_wait=0))
    budget.answered(budget.acquire(max_wait=0))
    budget.seed_daily(1)  # fewer than counted: no change
    budget.seed_daily(7)
    budget.seed_daily(3)
    assert _seeded_count(budget, 10) == 3


def test_a_change_of_limits_retunes_the_one_budget_of_the_key() -> None:
    budgets = Budgets(RULE, None, "local")
    first = budgets.for_key("sk_live_one")
    second = budgets.for_key("sk_live_one", rate_limit=2, daily_limit=50)
    assert first is second
    assert (first.rule.limit, first.rule.daily_limit, first.rule.margin) == (2, 50, 0)
    assert budgets.for_key("sk_live_one").rule.limit == RULE.limit, "None: the default again"
