"""``used_today``: the day's count of a key's budget, read without spending or changing it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from bridge.supplier.budget import BudgetRule, Budgets, KeyBudget, LocalBudget
from tests.conftest import REDIS_URL, require_service

RULE = BudgetRule(limit=100, window_seconds=1.0, daily_limit=1_000, margin=0)
# Nothing listens on port 1: a Redis that cannot be reached.
UNREACHABLE = "redis://127.0.0.1:1/0"


@pytest.fixture
def redis_budgets() -> Iterator[tuple[Budgets, str]]:
    require_service("Redis", "127.0.0.1", 6379)
    namespace = f"bridge-test-{uuid.uuid4().hex[:8]}"
    budgets = Budgets(RULE, REDIS_URL, namespace)
    yield budgets, namespace
    budgets.close()
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"{namespace}:*"):
        client.delete(key)
    client.close()


@pytest.mark.parametrize("store", ["local", "redis"])
def test_used_today_counts_admitted_requests_and_the_suppliers_own_count(
    store: str, request: pytest.FixtureRequest
) -> None:
    budget: KeyBudget
    if store == "local":
        budget = LocalBudget(RULE)
    else:
        budgets, _ = request.getfixturevalue("redis_budgets")
        budget = budgets.for_key("sk_live_used_today")
    assert budget.used_today() == 0
    for _ in range(3):
        budget.answered(budget.acquire(max_wait=0))
    assert budget.used_today() == 3
    assert budget.used_today() == 3, "reading is not counted"
    budget.seed_daily(40)  # what account/info says the day used
    assert budget.used_today() == 40


def test_another_process_sees_the_same_count_through_redis(
    redis_budgets: tuple[Budgets, str],
) -> None:
    budgets, namespace = redis_budgets
    sender = budgets.for_key("sk_live_shared")
    sender.answered(sender.acquire(max_wait=0))
    reader = Budgets(RULE, REDIS_URL, namespace)  # the console's process
    try:
        assert reader.for_key("sk_live_shared").used_today() == 1
        assert reader.for_key("sk_live_other").used_today() == 0
    finally:
        reader.close()


def test_used_today_is_none_when_redis_cannot_be_reached() -> None:
    budgets = Budgets(RULE, UNREACHABLE, f"bridge-test-{uuid.uuid4().hex[:8]}")
    try:
        assert budgets.for_key("sk_live_down").used_today() is None
    finally:
        budgets.close()
