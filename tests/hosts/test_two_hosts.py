"""Two hosts, each running `bridge worker`, on one PostgreSQL and one Redis (issue 22, item 6).

Each host is a network namespace reaching the shared services over its LAN only
(``tests.hosts.network``). The host running the scheduler is SIGKILLed while it holds purchases the
supplier has committed but not yet answered: the other host must take the scheduler's lease and
those lines within the heartbeat bound (a silent host counts as dead after
``BRIDGE_HEARTBEAT_TIMEOUT_SECONDS``; the scheduler notices on its next tick, one
``BRIDGE_HEARTBEAT_SECONDS`` later), and every order must end in its note, bought exactly once per
the supplier's ledger. Throughout, the workers' own logs must show one scheduler at a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from bridge.db import session_scope
from bridge.states import AttemptOutcome, FulfilmentState
from tests.faults.waiting import wait_until
from tests.faults.world import INSTANT
from tests.hosts.network import Lan
from tests.hosts.world import HostsWorld
from workers.queue.models import SchedulerLease, WorkerProcess

HEARTBEAT = 0.5
HEARTBEAT_TIMEOUT = 2.0
# The bound: dead after the timeout, noticed within one tick; plus the tick's own queries on a
# loaded two-core machine.
TAKEOVER_BOUND = HEARTBEAT_TIMEOUT + HEARTBEAT + 2.0


def _wait(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, 30.0, what)


def _ts(record: dict[str, object]) -> float:
    return datetime.fromisoformat(str(record["ts"])).timestamp()


def _beating_for(world: HostsWorld, pid: str) -> float:
    """How long the worker with ``pid`` has been beating (0 before its first beat)."""
    with session_scope(world.sandbox.runtime.engine) as session:
        rows = session.exec(select(WorkerProcess).where(WorkerProcess.pid == int(pid))).all()
    return max(((r.beat_at - r.started_at).total_seconds() for r in rows), default=0.0)


def test_one_scheduler_and_a_dead_hosts_work_taken_over_in_time(
    lan: Lan, postgres_url: str, tmp_path: Path
) -> None:
    world = HostsWorld(
        postgres_url,
        tmp_path,
        lan,
        lease_seconds=600.0,  # only heartbeats can recover in time
        # Host 0's calls outlast host 1's start on a loaded machine: its purchases are still held
        # when it is killed (the settle window is twice this, early looks adopt sooner).
        supplier_timeout_seconds=20.0,
        worker_threads=4,
        worker_env={
            "BRIDGE_HEARTBEAT_SECONDS": str(HEARTBEAT),
            "BRIDGE_HEARTBEAT_TIMEOUT_SECONDS": str(HEARTBEAT_TIMEOUT),
            "BRIDGE_LOG_LEVEL": "INFO",
        },
    )
    with world:
        # Host 0 starts alone, so it runs the scheduler and claims every purchase; the supplier
        # commits each order and holds its answer back. Host 1 joins while they are held.
        world.start_workers(1)
        _wait(lambda: bool(world.events(0, "scheduler.lease.taken")), "a scheduler")
        for name in world.suppliers:
            world.supplier(name).create_latency_seconds = 60.0
        orders = [world.place_order([(product, 1)]) for product in INSTANT]
        dead_pid = str(world.workers[0].pid)

        def _bought() -> int:
            return sum(len(sim.ledger) for sim in world.suppliers.values())

        def held_by_host_0() -> list[int]:
            return [
                a.fulfilment_id
                for a in world.attempts()
                if a.outcome == AttemptOutcome.IN_FLIGHT
                and a.sent_at is not None
                and (a.worker_id or "").split(":")[1] == dead_pid
            ]

        _wait(
            lambda: len(held_by_host_0()) == len(orders) and _bought() == len(orders),
            "host 0 to hold every purchase, committed",
        )
        world.start_workers(1)
        _wait(lambda: _beating_for(world, str(world.workers[1].pid)) >= 4 * HEARTBEAT, "host 1")
        # Host 1 ticked beside a live scheduler (its scheduler ticks with its heartbeat): it
        # stood by, never taking the lease.
        assert world.events(1, "scheduler.lease.taken") == [], world.worker_report()
        held = held_by_host_0()
        assert len(held) == len(orders), "host 0's purchases answered before the kill"

        killed_at = time.time()
        world.kill_worker(0)
        for name in world.suppliers:
            world.supplier(name).create_latency_seconds = 0.0

        _wait(lambda: bool(world.events(1, "scheduler.lease.taken")), "the takeover")
        [taken] = world.events(1, "scheduler.lease.taken")
        scheduler_takeover = _ts(taken) - killed_at

        def taken_back() -> bool:
            lines = {line.id: line for line in world.lines()}
            return all(lines[i].state != FulfilmentState.PURCHASING for i in held)

        _wait(taken_back, "the dead host's purchases taken back")
        lines_takeover = time.time() - killed_at
        with session_scope(world.sandbox.runtime.engine) as session:
            [lease] = session.exec(select(SchedulerLease)).all()
        assert lease.holder == taken["holder"]

        world.wait_all_settled(orders, timeout=45, states=frozenset({FulfilmentState.ANNOTATED}))
        assert _bought() == len(orders), "each order bought once"
        assert world.double_purchases() == 0, world.ledger_check().problems()
        assert world.note_problems() == []
        # The survivor never took the lease before the kill: one scheduler at a time.
        assert _ts(taken) > killed_at
        assert len(world.events(0, "scheduler.lease.taken")) == 1
        assert scheduler_takeover <= TAKEOVER_BOUND, f"scheduler after {scheduler_takeover:.1f} s"
        assert lines_takeover <= TAKEOVER_BOUND, f"lines after {lines_takeover:.1f} s"
