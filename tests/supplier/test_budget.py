"""The API budget: exact sliding windows, shared through Redis, slowed by a 429."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier.budget import (
    Budget,
    BudgetExhausted,
    BudgetRule,
    Budgets,
    KeyBudget,
    LocalBudget,
)
from bridge.supplier.bulkhead import Bulkhead, SupplierBusy
from bridge.supplier.client import SupplierClient
from bridge.supplier.schemas import OrderItem
from bridge.web.server import ServerThread
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


# The real server refuses a spent rate limit with a 401 and no Retry-After, and counts every
# request of the last window, refused ones included.


def test_a_refused_request_still_spends_its_slot() -> None:
    """The supplier counts refused requests against the limit: so does the budget (the client
    reports every answer, refusals included, with ``answered``)."""
    clock = FakeClock()
    budget = LocalBudget(BudgetRule(limit=3, window_seconds=1.0, margin=0), clock=clock)
    for _ in range(3):
        send(budget)  # three answers: whatever they said, they were counted
    assert admitted(budget) == 0
    clock.now += 1.1
    assert admitted(budget) == 3


@pytest.mark.parametrize("store", ["local", "redis"])
def test_a_refusal_without_retry_after_blocks_a_whole_window_and_teaches_the_limit(
    store: str, request: pytest.FixtureRequest
) -> None:
    """Believing 5 a window, the 4th request is refused: the key waits a whole window, then
    sends at most 3 a window (the 4 the window held answered, less one) for a while."""
    budget: Budget
    if store == "local":
        clock = FakeClock()
        budget = LocalBudget(RULE, clock=clock)
    else:
        budgets, _ = request.getfixturevalue("redis_budgets")
        budget = budgets.for_key("sk_live_learning")
    for _ in range(4):
        send(budget)
    in_flight = budget.acquire(max_wait=0)  # sent, not answered: it may not have arrived yet
    blocked = budget.penalize(None)
    assert blocked == pytest.approx(RULE.guarded_window, abs=0.05)
    with pytest.raises(BudgetExhausted, match="blocked"):
        budget.acquire(max_wait=0)
    budget.answered(in_flight)
    if store == "local":
        clock.now += RULE.guarded_window + 0.01
    else:
        time.sleep(RULE.guarded_window + 0.05)
    assert admitted(budget) == 3
    if store == "local":
        clock.now += RULE.guarded_window + 0.01
    else:
        time.sleep(RULE.guarded_window + 0.05)
    assert admitted(budget) == 3, "the lower limit holds for more than one window"


def test_a_refusal_with_retry_after_is_waited_out_and_teaches_nothing() -> None:
    """A Retry-After (the docs' 429, a proxy in front) says when: the key waits that long, and
    what the window held proves nothing about the key's limit."""
    clock = FakeClock()
    budget = LocalBudget(RULE, clock=clock)
    for _ in range(4):
        send(budget)
    assert budget.penalize(3.0) == pytest.approx(3.0)
    clock.now += 3.0
    assert admitted(budget) == int(RULE.limit * 0.9)


def test_a_refusal_that_our_own_requests_do_not_explain_teaches_nothing() -> None:
    clock = FakeClock()
    budget = LocalBudget(RULE, clock=clock)
    send(budget)  # the refused request alone: someone else spends the key
    budget.penalize(None)
    clock.now += RULE.guarded_window + 0.01
    assert admitted(budget) == int(RULE.limit * 0.9)


def test_a_lower_limit_learned_is_never_raised_by_a_later_refusal() -> None:
    clock = FakeClock()
    budget = LocalBudget(BudgetRule(limit=20, window_seconds=1.0, margin=0), clock=clock)
    for _ in range(3):
        send(budget)
    budget.penalize(None)  # learns 2
    clock.now += 1.1
    for _ in range(2):
        send(budget)
    budget.penalize(None)  # 1 would be lower still; 2 answered teach 1
    clock.now += 1.1
    assert admitted(budget) == 1


@pytest.mark.parametrize("store", ["local", "redis"])
def test_a_pause_blocks_the_key_and_never_shortens_a_longer_block(
    store: str, request: pytest.FixtureRequest
) -> None:
    budget: Budget
    if store == "local":
        budget = LocalBudget(RULE)
    else:
        budgets, _ = request.getfixturevalue("redis_budgets")
        budget = budgets.for_key("sk_live_paused")
    budget.pause(3600.0)
    budget.pause(1.0)
    with pytest.raises(BudgetExhausted, match="blocked") as caught:
        budget.acquire(max_wait=0)
    assert caught.value.retry_after > 3500


@pytest.mark.parametrize("store", ["local", "redis"])
def test_background_requests_leave_a_slot_and_come_one_spacing_apart(
    store: str, request: pytest.FixtureRequest
) -> None:
    """Two "processes" on Redis: the spacing and the reserve hold across them."""
    reader: Budget
    buyer: Budget
    if store == "local":
        reader = buyer = LocalBudget(RULE)
    else:
        budgets, namespace = request.getfixturevalue("redis_budgets")
        other = Budgets(RULE, REDIS_URL, namespace)
        request.addfinalizer(other.close)
        reader, buyer = budgets.for_key("sk_live_shared"), other.for_key("sk_live_shared")
    reader.answered(reader.acquire(max_wait=0, background=True))
    with pytest.raises(BudgetExhausted, match="spaced") as caught:
        reader.acquire(max_wait=0, background=True)
    assert 0 < caught.value.retry_after <= RULE.spacing
    started = time.monotonic()
    for _ in range(RULE.limit - 2):
        reader.answered(reader.acquire(max_wait=1.0, background=True))
    # One spacing between each; the window now holds limit - 1: no more background.
    assert time.monotonic() - started >= (RULE.limit - 2) * RULE.spacing * 0.9
    with pytest.raises(BudgetExhausted, match="per-minute"):
        reader.acquire(max_wait=0, background=True)
    send(buyer)  # the slot left for a purchase, at once


@pytest.mark.parametrize("shared", [False, True], ids=["in-process", "redis"])
def test_a_purchase_refused_unsent_gives_its_slot_back_at_once(shared: bool) -> None:
    """A create refused by the supplier's share of threads after its slot was reserved was never
    sent: the slot is free again at once, not idle for a window (the supplier sees the whole
    limit used, and nothing over it)."""
    namespace = f"bridge-test-{uuid.uuid4().hex[:8]}"
    if shared:
        require_service("Redis", "127.0.0.1", 6379)
    sim = SupplierSimulator(rate_limit_per_minute=3, time_scale=6.0, balance=10_000_000)
    sim.add_plan(319, name="Netflix Premium 1 tháng", price=75_000)
    # A "minute" of 10 s: a slot kept for a window would outlast the test.
    rule = BudgetRule(limit=3, window_seconds=10.0, daily_limit=1000, margin=0)
    budgets = Budgets(rule, REDIS_URL if shared else None, namespace)
    bulkhead = Bulkhead("sim", 1, retry_cap=1.0)
    item = OrderItem(plan_id=319, quantity=1)
    try:
        with (
            ServerThread(sim.app) as server,
            SupplierClient(
                server.url + "/api/v1",
                DEMO_API_KEY,
                DEMO_API_SECRET,
                budget=budgets.for_key(DEMO_API_KEY),
                budget_wait=0,
                bulkhead=bulkhead,
            ) as client,
        ):
            for _ in range(3):
                ticket = client.reserve_slot(max_wait=0)
                # Another call holds the supplier's only thread: this one is refused unsent.
                with bulkhead.call(), pytest.raises(SupplierBusy):
                    client.create_order([item], ticket=ticket)
            for _ in range(3):
                client.create_order([item])
            with pytest.raises(BudgetExhausted):
                client.balance()
    finally:
        budgets.close()
        store = redis.Redis.from_url(REDIS_URL)
        for key in store.scan_iter(f"{namespace}:*"):
            store.delete(key)
        store.close()
    assert sim.calls.count(("POST", "/api/v1/orders/create")) == 3
    assert len(sim.ledger) == 3
    assert sim.count_429 == 0
