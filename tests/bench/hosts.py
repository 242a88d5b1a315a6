"""Throughput across two hosts with two supplier keys (issue 22, item 6's figure).

Run (as root: the hosts are network namespaces): ``uv run python tests/bench/hosts.py
[--orders 240] [--time-scale 4] [--rate-limit 60]``

Two hosts (``tests/hosts/network.py``) each run `bridge worker` against one PostgreSQL and one
Redis, reached over their LAN only; the simulators and the bridge's web side run here. Two
suppliers each enforce ``--rate-limit`` requests a minute on a key of their own (time-compressed:
with ``--time-scale 4`` a "minute" lasts 15 s), and the bridge is told the same budget. A backlog
of single-line instant orders, alternating between the two suppliers, is placed at once. Each
order needs at least 2 supplier calls (orders/create, one orders/status read), so each key allows
``rate / 2`` orders a minute and both together ``rate``:

    hosts_throughput_ratio = orders fulfilled per budget-minute / (2 keys x rate / 2)

measured between the first purchase and the last note; the strict figure charges the burst an
unused budget allows when the run starts (one window per key) as budget spent. Also printed: each
host's share of the purchases, the 429s the suppliers answered and the double purchases (both
must be 0). Then the host running the scheduler is SIGKILLed while it holds purchases the
suppliers committed but have not answered yet: the seconds until the other host holds the
scheduler's lease and until it took those purchases back, at the default heartbeat (a silent
host is dead after ``BRIDGE_HEARTBEAT_TIMEOUT_SECONDS``, noticed within one
``BRIDGE_HEARTBEAT_SECONDS`` tick); every order still gets its note, bought once.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import select

from bridge.db import session_scope
from bridge.settings import Settings
from bridge.states import AttemptOutcome, FulfilmentState
from tests.conftest import postgres_database
from tests.faults.waiting import wait_until
from tests.faults.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY
from tests.hosts.network import Lan, namespaces_possible
from tests.hosts.world import HostsWorld
from workers.queue.models import SchedulerLease

CALLS_PER_ORDER_FLOOR = 2
TAKEOVER_ROUNDS = 5
SECOND_KEY = "sk_live_e5f6a7b8" + "1" * 24


def fresh_database() -> contextlib.AbstractContextManager[str]:
    """A new PostgreSQL database for the run, dropped afterwards."""
    return postgres_database("bridge_bench")


@dataclass(frozen=True)
class Takeover:
    heartbeat: float
    timeout: float
    scheduler: float  # kill -> the survivor logs scheduler.lease.taken
    lines: int  # purchases in flight on the killed host
    lines_after: float  # kill -> none of them still held by it


def takeover(world: HostsWorld) -> Takeover:
    """Kill the scheduler's host while it holds committed purchases whose answers are held back;
    time the survivor's takeover of the lease and of the lines, then let every order finish."""
    settings = Settings()  # the workers run the default heartbeat
    with session_scope(world.sandbox.runtime.engine) as session:
        [lease] = session.exec(select(SchedulerLease)).all()
    [victim] = [w for w in world.workers if lease.holder.split(":")[1] == str(w.pid)]
    survivor = 1 - victim.index

    def held() -> list[int]:
        return [
            a.fulfilment_id
            for a in world.attempts()
            if a.outcome == AttemptOutcome.IN_FLIGHT
            and a.sent_at is not None
            and (a.worker_id or "::").split(":")[1] == str(victim.pid)
        ]

    def bought() -> int:
        return sum(len(sim.ledger) for sim in world.suppliers.values())

    def bought_at_least(count: int) -> Callable[[], bool]:
        return lambda: bought() >= count

    for _ in range(TAKEOVER_ROUNDS):
        # Long enough to kill the host after the last commit, short enough for a round to end
        # soon when the other host claimed them all (each host's queue consumer takes a batch).
        for sim in world.suppliers.values():
            sim.create_latency_seconds = 8.0
        target = bought() + 8
        orders = [world.place_order([(product, 1)]) for product in (NETFLIX, CANVA) * 4]
        wait_until(bought_at_least(target), 60, "the orders committed")
        lines = held()
        if lines:
            break
        world.wait_all_settled(orders, timeout=120, states=frozenset({FulfilmentState.ANNOTATED}))
    else:
        print(f"(the scheduler's host claimed no held purchase in {TAKEOVER_ROUNDS} rounds)")
    before = len(world.events(survivor, "scheduler.lease.taken"))
    killed_at = time.time()
    world.kill_worker(victim.index)
    for sim in world.suppliers.values():
        sim.create_latency_seconds = 0.0
    wait_until(lambda: not set(held()) & set(lines), 60, "the killed host's purchases")
    lines_after = time.time() - killed_at
    wait_until(
        lambda: len(world.events(survivor, "scheduler.lease.taken")) > before, 60, "the lease"
    )
    taken = world.events(survivor, "scheduler.lease.taken")[-1]
    scheduler = datetime.fromisoformat(str(taken["ts"])).timestamp() - killed_at
    world.wait_all_settled(orders, timeout=120, states=frozenset({FulfilmentState.ANNOTATED}))
    return Takeover(
        settings.heartbeat_seconds,
        settings.heartbeat_timeout_seconds,
        scheduler,
        len(lines),
        lines_after,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=240)
    parser.add_argument("--time-scale", type=float, default=4.0)
    parser.add_argument("--rate-limit", type=int, default=60)
    parser.add_argument("--worker-threads", type=int, default=8)
    args = parser.parse_args()
    reason = namespaces_possible()
    if reason is not None:
        print(f"cannot run: {reason}")
        return 2
    minute = 60.0 / args.time_scale
    limits = {"rate_limit_per_minute": args.rate_limit, "time_scale": args.time_scale}
    with (
        fresh_database() as database_url,
        tempfile.TemporaryDirectory(prefix="bridge-hosts-") as workdir,
        contextlib.closing(Lan(hosts=2).open()) as lan,
        HostsWorld(
            database_url,
            Path(workdir),
            lan,
            keys={SHOPKEY: SECOND_KEY},
            shop_options={CAOSHOP: limits, SHOPKEY: limits},
            lease_seconds=60.0,
            sweep_interval_seconds=1.0,
            supplier_timeout_seconds=10.0,
            worker_threads=args.worker_threads,
            worker_env={
                "BRIDGE_SUPPLIER_RATE_LIMIT": str(args.rate_limit),
                "BRIDGE_SUPPLIER_RATE_WINDOW_SECONDS": str(minute),
                "BRIDGE_SUPPLIER_BUDGET_WAIT_SECONDS": str(2 * minute),
                "BRIDGE_STOCK_SYNC_ENABLED": "false",
                "BRIDGE_CATCHUP_INTERVAL_SECONDS": str(minute),
                "BRIDGE_CATCHUP_OVERLAP_SECONDS": str(minute),
                "BRIDGE_LOG_LEVEL": "INFO",  # the scheduler's lease.taken lines
            },
        ) as world,
    ):
        world.start_workers(2)
        products = (NETFLIX, CANVA)
        orders = [world.place_order([(products[i % 2], 1)]) for i in range(args.orders)]
        started = time.monotonic()
        world.wait_all_settled(
            orders,
            timeout=max(120.0, args.orders * 3 * minute / args.rate_limit * 4),
            states=frozenset({FulfilmentState.ANNOTATED}),
        )
        elapsed = time.monotonic() - started
        ledgers = [p for sim in world.suppliers.values() for p in sim.ledger]
        first_purchase = min(p.created_at for p in ledgers)
        last_note = max(f.updated_at for f in world.lines())
        window = (last_note - first_purchase).total_seconds()
        pids = {str(w.pid): world.host_of(w.index) for w in world.workers}
        hosts = Counter(
            pids.get((a.worker_id or "::").split(":")[1], -1)
            for a in world.attempts()
            if a.outcome == AttemptOutcome.BOUGHT
        )
        per_key = {name: len(sim.ledger) for name, sim in world.suppliers.items()}
        calls = sum(len(sim.calls) for sim in world.suppliers.values())
        taken = takeover(world)
        count_429 = world.count_429()
        doubles = world.double_purchases()

    fulfilled = len(orders)
    per_minute = fulfilled / (window / minute)
    strict = fulfilled / (window / minute + 1)
    ceiling = 2 * args.rate_limit / CALLS_PER_ORDER_FLOOR
    print(f"orders fulfilled:            {fulfilled} in {elapsed:.1f} s over 2 hosts, 2 keys")
    print(f"first purchase to last note: {window:.1f} s")
    print(f"budget minute:               {minute:.1f} s ({args.rate_limit} requests per key)")
    print(f"orders per budget-minute:    {per_minute:.2f} (ceiling {ceiling:.0f}: both keys)")
    print(f"purchases per host:          {dict(sorted(hosts.items()))}")
    print(f"purchases per key:           {per_key}")
    print(f"supplier calls per order:    {calls / fulfilled:.2f}")
    print(f"429s seen:                   {count_429}")
    print(f"double purchases:            {doubles}")
    print(
        f"host killed (heartbeat {taken.heartbeat:g} s, timeout {taken.timeout:g} s): "
        f"scheduler taken over after {taken.scheduler:.1f} s, its {taken.lines} purchase(s) "
        f"after {taken.lines_after:.1f} s (bound {taken.timeout + taken.heartbeat:g} s)"
    )
    print(f"strict ratio (start-up burst charged): {strict / ceiling:.2f}")
    print(f"hosts_throughput_ratio={per_minute / ceiling:.2f}")
    return 0 if count_429 == 0 and doubles == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
