"""The API budget: exact sliding windows, shared through Redis, slowed by a 429."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from bridge.supplier.budget import (
    Budget,
    BudgetExhausted,
    BudgetRule,
    Budgets,
    KeyBudget,
    LocalBudget,
)
from tests.conftest import REDIS_URL, require_service

RULE = BudgetRule(limit=5, window_seconds=1.0, daily_limit=1000, margin=0)


def send(budget: Budget, max_wait: float = 0) -> None:
    """One request admitted and answered at once."""
    budget.answered(budget.acquire(max_wait=max_wait))


def admitted(budget: Budget, tries: int = 50) -> int:
    """How many requests go through right now, without waiting."""
    for count in range(tries):
        try:
            send(budget)
        except BudgetExhausted:
            return count
    return tries


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_local_budget_admits_the_limit_per_sliding_window() -> None:
    clock = FakeClock()
    budget = LocalBudget(RULE, clock=clock)
    for _ in range(5):
        send(budget, max_wait=0)
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=0)
    assert 0 < caught.value.retry_after <= 1.1
    clock.now += 1.1  # the window plus its guard
    send(budget, max_wait=0)


def test_local_budget_keeps_a_margin_and_slows_down_after_a_429() -> None:
    clock = FakeClock()
    budget = LocalBudget(BudgetRule(limit=10, window_seconds=1.0, margin=2), clock=clock)
    assert admitted(budget) == 8
    clock.now += 1.1
    budget.penalize(retry_after=3.0)
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=0)
    assert caught.value.retry_after == pytest.approx(3.0)
    clock.now += 3.0
    assert admitted(budget) == int(8 * 0.9)


def test_a_slow_request_holds_its_slot_until_one_window_after_its_answer() -> None:
    """The supplier counts a request when it arrives, which may be long after it was admitted:
    its slot frees one window after the answer, never one window after the admission."""
    clock = FakeClock()
    budget = LocalBudget(BudgetRule(limit=2, window_seconds=1.0, margin=0), clock=clock)
    slow = budget.acquire(max_wait=0)
    send(budget)
    clock.now += 5.0  # five windows later the slow request is still unanswered: one slot free
    assert admitted(budget) == 1
    budget.answered(slow)
    clock.now += 0.9
    assert admitted(budget) == 0
    clock.now += 0.2  # one window (and its guard) after the answer
    assert admitted(budget) == 2


def test_a_request_never_answered_frees_its_slot_after_its_in_flight_ceiling() -> None:
    """A process killed mid-request never says it was answered: its slot is not held forever."""
    clock = FakeClock()
    rule = BudgetRule(limit=1, window_seconds=1.0, margin=0, in_flight_seconds=10.0)
    budget = LocalBudget(rule, clock=clock)
    budget.acquire(max_wait=0)
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=0)
    assert caught.value.retry_after <= 0.1, "an unanswered slot may free at any moment: poll"
    clock.now += 10.5
    assert admitted(budget) == 0
    clock.now += 1.0
    assert admitted(budget) == 1


def test_local_budget_daily_limit() -> None:
    clock = FakeClock()
    budget = LocalBudget(
        BudgetRule(limit=100, window_seconds=1.0, daily_limit=3, margin=0), clock=clock
    )
    for _ in range(3):
        send(budget, max_wait=0)
    with pytest.raises(BudgetExhausted, match="daily"):
        budget.acquire(max_wait=0)


def test_acquire_waits_for_a_slot_when_allowed_to() -> None:
    budget = LocalBudget(BudgetRule(limit=2, window_seconds=0.3, margin=0))
    started = time.monotonic()
    for _ in range(4):
        send(budget, max_wait=5)
    assert time.monotonic() - started >= 0.25


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


def test_redis_budget_is_shared_by_every_holder_of_the_same_key(
    redis_budgets: tuple[Budgets, str],
) -> None:
    budgets, namespace = redis_budgets
    # Two "processes": separate Budgets objects, one Redis.
    other = Budgets(RULE, REDIS_URL, namespace)
    try:
        mine: Budget = budgets.for_key("sk_live_key_one")
        theirs: Budget = other.for_key("sk_live_key_one")
        unrelated: Budget = other.for_key("sk_live_key_two")
        for budget in (mine, theirs, mine, theirs, mine):
            send(budget, max_wait=0)
        with pytest.raises(BudgetExhausted):
            theirs.acquire(max_wait=0)
        send(unrelated, max_wait=0)  # another key has its own budget
        send(mine, max_wait=2.0)  # waits until the oldest request leaves the window
    finally:
        other.close()
    client = redis.Redis.from_url(REDIS_URL)
    keys = [k.decode() for k in client.scan_iter(f"{namespace}:*")]
    client.close()
    assert keys
    assert not any("sk_live" in key for key in keys), "keys are hashed, never stored"


def test_redis_budget_counts_a_slow_request_from_its_answer(
    redis_budgets: tuple[Budgets, str],
) -> None:
    budgets, _ = redis_budgets
    budget = budgets.for_key("sk_live_key_one")
    slow = budget.acquire(max_wait=0)
    assert admitted(budget) == RULE.limit - 1
    time.sleep(RULE.guarded_window + 0.1)  # the answered ones have left the window, not the slow
    assert admitted(budget) == RULE.limit - 1
    budget.answered(slow)
    time.sleep(RULE.guarded_window + 0.1)
    assert admitted(budget) == RULE.limit


def test_redis_budget_blocks_after_a_429(redis_budgets: tuple[Budgets, str]) -> None:
    budgets, _ = redis_budgets
    budget = budgets.for_key("sk_live_key_one")
    budget.penalize(retry_after=2.0)
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(max_wait=0)
    assert 1.0 < caught.value.retry_after <= 2.0


# used_today: the day's count of a key's budget, read without spending or changing it.
# Nothing listens on port 1: a Redis that cannot be reached.
UNREACHABLE = "redis://127.0.0.1:1/0"


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
