"""A worker process SIGKILLed mid-work: what it held comes back on its heartbeat, not its lease.

The lease here is ten minutes, so every case below would wait that long without heartbeats; each
must end with the credentials in the note within a minute, bought exactly once. The three moments
are the issue's: the supplier has committed an order whose answer the worker never got; the line
is claimed but its request not sent yet (waiting for budget); a manual plan's line is being
polled. The recovery times themselves are measured by ``tests/bench/recovery.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bridge.states import AttemptOutcome, FulfilmentState
from tests.faults.conftest import MakeWorld
from tests.faults.world import CANVA, CHATGPT, NETFLIX, SHOPKEY, FaultWorld

LEASE = 600.0
TIMEOUT = 60.0
HEARTBEAT = {"BRIDGE_HEARTBEAT_SECONDS": "0.5", "BRIDGE_HEARTBEAT_TIMEOUT_SECONDS": "2"}


def _wait(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def _annotated(world: FaultWorld, order_id: str) -> bool:
    lines = world.lines(order_id)
    return bool(lines) and all(line.state == FulfilmentState.ANNOTATED for line in lines)


def _kill_and_restart(world: FaultWorld) -> None:
    world.kill_worker(0)
    world.restart_worker(0)


def test_an_order_committed_while_its_worker_died_is_settled_not_bought_again(
    make_world: MakeWorld,
) -> None:
    world = make_world(
        launch="exec", lease_seconds=LEASE, supplier_timeout_seconds=10.0, worker_env=HEARTBEAT
    )
    world.start_workers(1)
    caoshop = world.supplier(NETFLIX.supplier)
    caoshop.create_latency_seconds = 5.0  # the supplier holds the answer
    order = world.place_order([(NETFLIX, 1)])
    _wait(lambda: len(caoshop.ledger) == 1, "the supplier to commit")

    _kill_and_restart(world)
    caoshop.create_latency_seconds = 0.0

    _wait(lambda: _annotated(world, order), "the note after the kill")
    [line] = world.lines(order)
    attempts = world.attempts(line.id)
    # The purchase may first be turned away unsent by the supplier's bulkhead (the start-up
    # account check and catalogue read hold its calls): that attempt bought nothing.
    unsent = [a for a in attempts if a.outcome == AttemptOutcome.NOT_SENT]
    assert all(a.trans_id is None for a in unsent)
    [attempt] = [a for a in attempts if a not in unsent]
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.BOUGHT, "adopted")
    assert attempt.trans_id == caoshop.ledger[0].trans_id
    assert len(caoshop.ledger) == 1
    assert world.double_purchases() == 0, world.ledger_check().problems()
    assert world.note_problems() == []


def test_a_claim_not_yet_sent_when_its_worker_died_is_bought_once(make_world: MakeWorld) -> None:
    # One request per 10 s window on each key: the second order's purchase claims its line and
    # waits for budget, and is killed while it waits.
    world = make_world(
        launch="exec",
        lease_seconds=LEASE,
        worker_env={
            **HEARTBEAT,
            "BRIDGE_SUPPLIER_RATE_LIMIT": "2",
            "BRIDGE_SUPPLIER_RATE_MARGIN": "1",
            "BRIDGE_SUPPLIER_RATE_WINDOW_SECONDS": "10",
            "BRIDGE_SUPPLIER_BUDGET_WAIT_SECONDS": "30",
            "BRIDGE_STOCK_SYNC_ENABLED": "false",
        },
    )
    world.start_workers(1)
    shopkey = world.supplier(SHOPKEY)
    first = world.place_order([(CANVA, 1)])
    _wait(lambda: _annotated(world, first), "the first order")
    order = world.place_order([(CANVA, 1)])

    def waiting_for_budget() -> bool:
        lines = world.lines(order)
        return bool(lines) and any(
            a.outcome == AttemptOutcome.IN_FLIGHT and a.sent_at is None
            for a in world.attempts(lines[0].id)
        )

    _wait(waiting_for_budget, "the claim to wait for budget")
    _kill_and_restart(world)

    _wait(lambda: _annotated(world, order), "the note after the kill")
    [line] = world.lines(order)
    outcomes = [a.outcome for a in world.attempts(line.id)]
    assert outcomes == [AttemptOutcome.NOT_SENT, AttemptOutcome.BOUGHT]
    assert len(shopkey.ledger) == 2, "each order bought once"
    assert world.double_purchases() == 0, world.ledger_check().problems()


def test_a_manual_line_polled_when_its_worker_died_is_delivered(make_world: MakeWorld) -> None:
    world = make_world(launch="exec", lease_seconds=LEASE, worker_env=HEARTBEAT)
    world.start_workers(1)
    manual = world.supplier(CHATGPT.supplier)
    order = world.place_order([(CHATGPT, 1)])
    _wait(
        lambda: any(line.state == FulfilmentState.PURCHASED for line in world.lines(order)),
        "the manual order to be bought",
    )
    time.sleep(0.5)  # its polls are scheduled, held by the worker until due

    _kill_and_restart(world)
    world.complete_manual_orders()

    _wait(lambda: _annotated(world, order), "the note after the kill")
    assert len(manual.ledger) == 1
    assert world.note_problems() == []
