"""Sustained fulfilment rate under the supplier's API budget (issue 3's benchmark).

Run: ``uv run python tests/bench/throughput.py [--orders 400] [--time-scale 10]``

The supplier simulator enforces 60 requests a minute per key, time-compressed: with
``--time-scale 10`` a "minute" lasts 6 s. The bridge is told the same budget and runs as
`bridge run` does (SQLite, embedded broker, workers in-process) against the simulators over real
HTTP. A backlog of single-line instant orders is placed at once; the sustained rate is the number
fulfilled (credentials in the Pancake note) per budget-minute between the first purchase and the
last note. A budget unused before the run allows one window's worth at once when it starts; the
default run lasts about 15 budget-minutes so that burst weighs little, and a strict figure that
charges it as budget spent is printed too. Each such order needs at least 2 supplier calls
(orders/create, and one orders/status read for the credentials), so the budget allows at most
60 / 2 = 30 orders a minute:

    budget_efficiency = orders fulfilled per minute / 30

It also prints the supplier and Pancake calls per fulfilled order and the 429s the supplier
answered (the bridge's limiter should keep that at 0). The catch-up for missed webhooks runs once
per budget-minute (its overlap one budget-minute too); once the run is over and the overlap has
passed, the Pancake calls of a few quiet intervals are counted:

    quiet_interval_pancake_calls_per_shop = calls / intervals (1 is the floor: one list read)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.settings import Settings
from bridge.states import FulfilmentState

PLAN = 319
VARIATION = "bench-netflix"
CALLS_PER_ORDER_FLOOR = 2


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=400)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--rate-limit", type=int, default=60)
    args = parser.parse_args()
    minute = 60.0 / args.time_scale

    workdir = Path(tempfile.mkdtemp(prefix="bridge-throughput-"))
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bridge.db'}",
        redis_url=None,
        supplier_rate_limit=args.rate_limit,
        supplier_rate_window_seconds=minute,
        supplier_budget_wait_seconds=minute * 2,
        poll_initial_seconds=0.5,
        poll_max_seconds=2.0,
        sweep_interval_seconds=1.0,
        lease_seconds=60.0,
        supplier_timeout_seconds=10.0,
        worker_threads=16,
        stock_sync_enabled=False,
        catchup_interval_seconds=minute,
        catchup_overlap_seconds=minute,
        log_level="WARNING",
    )
    supplier = SupplierSimulator(
        name="bench",
        rate_limit_per_minute=args.rate_limit,
        time_scale=args.time_scale,
        balance=args.orders * 1_000_000,
    )
    supplier.add_plan(PLAN, name="Netflix Premium 1 tháng", stock=args.orders * 2)
    sandbox = Sandbox(settings)
    try:
        sandbox.add_supplier("bench", supplier)
        sandbox.map(VARIATION, supplier="bench", plan_id=PLAN, name="Netflix")
        sandbox.start()
        order_ids = [
            sandbox.place_order([{"variation_id": VARIATION, "quantity": 1}])
            for _ in range(args.orders)
        ]
        pancake_calls_before = len(sandbox.pancake.calls)
        started = time.monotonic()
        sandbox.wait_for(
            lambda: _fulfilled(sandbox) >= len(order_ids),
            timeout=max(120.0, args.orders * 3 * minute / args.rate_limit * 4),
            what="every order to be fulfilled",
        )
        elapsed = time.monotonic() - started
        first_purchase = min(p.created_at for p in supplier.ledger)
        done_at = sorted(
            (f.updated_at - first_purchase).total_seconds() for f in sandbox.fulfilments()
        )
        pancake_calls = len(sandbox.pancake.calls) - pancake_calls_before
        quiet = _quiet_interval_calls(sandbox, minute)
    finally:
        sandbox.stop()

    fulfilled = len(order_ids)
    supplier_calls = len(supplier.calls)
    window = done_at[-1]
    per_minute = fulfilled / (window / minute)
    # A sliding window admits up to limit x (elapsed / window + 1) requests in `elapsed`: the
    # "+ 1" is the burst that a budget unused before the run allows at its start. The strict
    # figure charges that burst as budget spent too.
    strict = fulfilled / (window / minute + 1)
    ceiling = args.rate_limit / CALLS_PER_ORDER_FLOOR
    print(f"orders fulfilled:            {fulfilled} in {elapsed:.1f} s")
    print(f"first purchase to last note: {window:.1f} s")
    print(f"budget minute:               {minute:.1f} s ({args.rate_limit} requests per key)")
    print(f"orders per budget-minute:    {per_minute:.2f} (ceiling {ceiling:.0f})")
    print(f"supplier calls per order:    {supplier_calls / fulfilled:.2f}")
    print(f"pancake calls per order:     {pancake_calls / fulfilled:.2f}")
    print(f"429s seen:                   {supplier.count_429}")
    print(f"double purchases:            {len(supplier.ledger) - fulfilled}")
    print(f"strict efficiency (start-up burst charged): {strict / ceiling:.2f}")
    print(f"budget_efficiency={per_minute / ceiling:.2f}")
    print(f"quiet_interval_pancake_calls_per_shop={quiet:.2f}")
    return 0 if supplier.count_429 == 0 and len(supplier.ledger) == fulfilled else 1


QUIET_INTERVALS = 4


def _quiet_interval_calls(sandbox: Sandbox, interval: float) -> float:
    """Pancake calls per catch-up interval once nothing happens and the overlap has passed."""
    time.sleep(3 * interval)  # the overlap (one interval) and the tick rounding behind us
    before = len(sandbox.pancake.calls)
    time.sleep(QUIET_INTERVALS * interval)
    return (len(sandbox.pancake.calls) - before) / QUIET_INTERVALS


def _fulfilled(sandbox: Sandbox) -> int:
    return sum(1 for f in sandbox.fulfilments() if f.state == FulfilmentState.ANNOTATED)


if __name__ == "__main__":
    raise SystemExit(main())
