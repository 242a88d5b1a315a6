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
must be 0).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from bridge.states import AttemptOutcome, FulfilmentState
from tests.conftest import PG_ADMIN_URL
from tests.faults.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY
from tests.hosts.network import Lan, namespaces_possible
from tests.hosts.world import HostsWorld

CALLS_PER_ORDER_FLOOR = 2
SECOND_KEY = "sk_live_e5f6a7b8" + "1" * 24


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new PostgreSQL database for the run, dropped afterwards."""
    name = f"bridge_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
    print(f"strict ratio (start-up burst charged): {strict / ceiling:.2f}")
    print(f"hosts_throughput_ratio={per_minute / ceiling:.2f}")
    return 0 if count_429 == 0 and doubles == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
