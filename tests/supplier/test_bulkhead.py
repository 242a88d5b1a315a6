"""A supplier's share of a process's worker threads (bridge.supplier.bulkhead): a call beyond it is
refused at once, sends nothing and gives its budget back; against the dripping simulator."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import create_engine

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.secrets import SecretBox
from bridge.settings import Settings
from bridge.supplier import OrderItem, SupplierClient, SupplierOutcomeUnknown
from bridge.supplier.budget import BudgetExhausted, Budgets, Ticket
from bridge.supplier.bulkhead import MIN_RETRY_SECONDS, Bulkhead, SupplierBusy, bulkhead_size
from bridge.supplier.models import Supplier
from bridge.web.server import ServerThread
from workers.queue.context import Context

BALANCE = ("GET", "/api/v1/account/balance")


def test_the_share_is_a_part_of_the_threads_and_at_least_one() -> None:
    assert bulkhead_size(8, 0.5) == 4
    assert bulkhead_size(8, 0.25) == 2
    assert bulkhead_size(4, 0.25) == 1
    assert bulkhead_size(1, 0.1) == 1


def test_a_call_beyond_the_share_is_refused_at_once_and_a_slot_comes_back() -> None:
    bulkhead = Bulkhead("caoshop", 2, retry_cap=30.0)
    with bulkhead.call(), bulkhead.call():
        started = time.monotonic()
        with pytest.raises(SupplierBusy) as caught, bulkhead.call():
            pass
        assert time.monotonic() - started < 0.1
        assert isinstance(caught.value, BudgetExhausted)  # every step: "nothing sent, later"
        # The calls in progress have just begun: come back in about the minimum.
        assert 0.8 * MIN_RETRY_SECONDS <= caught.value.retry_after <= 1.2 * MIN_RETRY_SECONDS
        assert "supplier caoshop busy: 2 call(s) in progress" in str(caught.value)
    with pytest.raises(RuntimeError), bulkhead.call():
        raise RuntimeError("a call that failed gives its slot back too")
    assert bulkhead.in_use == 0


def test_lines_come_back_after_as_long_as_the_oldest_call_has_run_at_most_the_deadline() -> None:
    bulkhead = Bulkhead("caoshop", 1, retry_cap=4.0)
    entered, leave = threading.Event(), threading.Event()

    def hang() -> None:
        with bulkhead.call():
            entered.set()
            leave.wait(10)

    holder = threading.Thread(target=hang)
    holder.start()
    try:
        assert entered.wait(5)
        time.sleep(2.0)
        with pytest.raises(SupplierBusy) as caught, bulkhead.call():
            pass
        assert 0.8 * 2.0 <= caught.value.retry_after <= 1.2 * 4.0
    finally:
        leave.set()
        holder.join()


class RecordingBudget:
    """A budget that admits everything and records what was given back."""

    def __init__(self) -> None:
        self.taken: list[Ticket] = []
        self.answered_tickets: list[Ticket] = []
        self.released: list[Ticket] = []

    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        ticket = Ticket(f"t{len(self.taken)}")
        self.taken.append(ticket)
        return ticket

    def answered(self, ticket: Ticket) -> None:
        self.answered_tickets.append(ticket)

    def release(self, ticket: Ticket) -> None:
        self.released.append(ticket)

    def penalize(self, retry_after: float | None) -> float:
        return retry_after or 60.0

    def pause(self, seconds: float) -> None:
        return None


@pytest.fixture
def served() -> Iterator[tuple[SupplierSimulator, str]]:
    """A simulator selling plan 319, served over HTTP, and its API root."""
    sim = SupplierSimulator(name="sim")
    sim.add_plan(319, name="Netflix Premium 1 tháng", price=75_000)
    with ServerThread(sim.app) as server:
        yield sim, server.url + "/api/v1"


@pytest.fixture
def dripping(served: tuple[SupplierSimulator, str]) -> tuple[SupplierSimulator, str]:
    served[0].drip("account/balance", seconds_per_byte=0.2)
    return served


def test_a_supplier_hanging_in_its_share_refuses_more_calls_without_sending_them(
    dripping: tuple[SupplierSimulator, str],
) -> None:
    sim, url = dripping
    budget = RecordingBudget()
    with SupplierClient(
        url,
        DEMO_API_KEY,
        DEMO_API_SECRET,
        timeout=httpx.Timeout(30.0, connect=5.0),
        deadline=3.0,
        budget=budget,
        bulkhead=Bulkhead("sim", 1, retry_cap=3.0),
    ) as client:
        hung: list[BaseException] = []

        def read() -> None:
            try:
                client.balance()
            except SupplierOutcomeUnknown as exc:
                hung.append(exc)

        holder = threading.Thread(target=read)
        holder.start()
        try:
            deadline = time.monotonic() + 5
            while BALANCE not in sim.calls:  # the first call is at the supplier, dripping
                assert time.monotonic() < deadline
                time.sleep(0.01)
            started = time.monotonic()
            with pytest.raises(SupplierBusy):
                client.balance()
            with pytest.raises(SupplierBusy):  # before any budget is taken for a purchase
                client.reserve_slot(max_wait=20)
            # A slot reserved before the share filled up is given back when the call is refused.
            ticket = budget.acquire(0)
            with pytest.raises(SupplierBusy):
                client.create_order([OrderItem(plan_id=319, quantity=1)], ticket=ticket)
            assert time.monotonic() - started < 0.5  # refused at once, not after a wait
        finally:
            holder.join()

    assert len(hung) == 1  # the hung call itself ended at its deadline
    assert sim.calls.count(BALANCE) == 1
    assert ("POST", "/api/v1/orders/create") not in sim.calls
    assert sim.ledger == []
    assert client.calls == 1
    # The read refused took no budget; the create's reserved slot was given back, unsent.
    assert budget.released == [ticket]
    assert ticket not in budget.answered_tickets
    assert len(budget.taken) == 2


class GatedBudget(RecordingBudget):
    """A budget whose window stays full until ``opened`` is set: ``acquire`` waits for that (at
    most ``max_wait``), as a call waits for a slot of the key to free."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self.opened = threading.Event()

    def acquire(self, max_wait: float, *, background: bool = False) -> Ticket:
        self.waiting.set()
        if not self.opened.wait(max_wait):
            raise BudgetExhausted(1.0, "per-minute limit reached")
        return super().acquire(max_wait, background=background)


def test_a_call_waiting_for_the_budget_leaves_the_share_to_a_call_that_holds_its_budget(
    served: tuple[SupplierSimulator, str],
) -> None:
    """Waiting for the key's budget is not the supplier being slow: a read waiting for a slot of
    the window does not take the supplier's only thread from a purchase whose budget is already
    reserved (it once did, and the purchase was refused and sent back for as long as the read
    had waited)."""
    sim, url = served
    budget = GatedBudget()
    bulkhead = Bulkhead("sim", 1, retry_cap=30.0)
    with SupplierClient(
        url, DEMO_API_KEY, DEMO_API_SECRET, budget=budget, budget_wait=30.0, bulkhead=bulkhead
    ) as client:
        balances: list[float] = []
        reader = threading.Thread(target=lambda: balances.append(client.balance()))
        reader.start()
        try:
            assert budget.waiting.wait(5)  # the read waits for the window
            reserved = Ticket("reserved before the window filled")
            result = client.create_order([OrderItem(plan_id=319, quantity=1)], ticket=reserved)
        finally:
            budget.opened.set()
            reader.join(10)

    assert [p.trans_id for p in sim.ledger] == [order.trans_id for order in result.orders]
    assert budget.released == []  # nothing refused, so nothing given back
    assert balances == [sim.balance]  # and the read went out once the window had room
    assert sim.calls.count(BALANCE) == 1
    assert budget.answered_tickets == [reserved, budget.taken[0]]


def test_every_client_of_a_supplier_in_a_process_shares_its_bulkhead() -> None:
    settings = Settings(database_url="sqlite://", worker_threads=8, supplier_thread_share=0.25)
    box = SecretBox(secrets.token_urlsafe(32))
    engine = create_engine("sqlite://")
    ctx = Context(settings, engine, box, Budgets.from_settings(settings))

    def supplier(name: str, key: str) -> Supplier:
        return Supplier(
            name=name,
            base_url="http://127.0.0.1:9/api/v1",
            api_key_enc=box.encrypt(key),
            api_secret_enc=box.encrypt(DEMO_API_SECRET),
        )

    try:
        before = ctx.supplier(supplier("caoshop", DEMO_API_KEY))
        rotated = ctx.supplier(supplier("caoshop", "sk_live_a1b2c3d4" + "1" * 24))
        other = ctx.supplier(supplier("shopkey", DEMO_API_KEY))
        assert rotated is not before
        assert before.bulkhead is not None
        assert rotated.bulkhead is before.bulkhead
        assert before.bulkhead.size == 2  # a quarter of 8 threads
        assert other.bulkhead is not before.bulkhead
        assert before.deadline == settings.supplier_timeout_seconds
    finally:
        ctx.close()
        engine.dispose()
