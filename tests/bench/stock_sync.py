"""Stock sync benchmark: 10,000 mapped variations across 3 suppliers.

Run it from the repository root::

    uv run python tests/bench/stock_sync.py
    uv run python tests/bench/stock_sync.py --variations 2000 --database-url postgresql+psycopg://...
    uv run python tests/bench/stock_sync.py --variations 100000     # and a 10,000 anchor first

The world: three supplier simulators (Shop API v1, each its own API key) holding 10,000 instant
plans between them, one product per plan, random stock 0-100 and a balance that pays for all of
it; a Pancake simulator with 10,000 variations in one warehouse (configured on the shop, so no
warehouse lookup is needed); one mapping per variation. The simulators run in a child process of
their own (``multiprocessing``, spawned), served over real HTTP on loopback by uvicorn threads
with no added latency, and driven over a pipe (call counts, stock changes, memory); this process
is the bridge alone. The bridge's database is a fresh SQLite file (WAL, ``synchronous=FULL``, as
in production) unless ``--database-url`` says otherwise.

Three syncs run through ``workers.stock.run_exclusive`` (what the worker and `bridge stock sync`
run), each timed on the wall clock:

1. **full**: nothing was pushed before, so every variation is pushed;
2. **no change**: the same catalogues again;
3. **partial**: ``--changes`` plans get a new stock count first.

Calls are counted by the simulators themselves (what arrived over HTTP), not by the bridge.
Targets: supplier calls per sync = Σ over suppliers of (ceil(plans/100) ``products/list`` pages
+ 1 ``account/balance``); Pancake calls = ceil(changed / batch size); the no-change sync makes no
Pancake call; the full sync takes under 30 s. The API budget is raised for the run (the real one,
60 a minute per key, would make the back-to-back syncs wait for the window); the script prints how
much of a real minute's budget one sync spends. It exits 1 when a target is missed.

A catalogue larger than ``--anchor`` (10,000) is measured after a world of ``--anchor``
variations, in the same run: the full sync's ratio to the anchor's says whether the sync scales
linearly (target ≤ 1.1 × the size ratio). Memory: the peak resident size of this process, the
bridge's alone, during each of the big world's syncs (Linux's VmHWM, reset before each; target
≤ 500 MB); the simulators' process is printed beside it. A warm-up sync of a tiny world runs
before the anchor, so that the anchor does not carry the process's one-time costs.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import random
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bridge.db import make_engine, session_scope
from bridge.migrate import upgrade
from bridge.pancake.shops import add_shop
from bridge.secrets import SecretBox
from bridge.settings import Settings
from bridge.supplier.budget import BudgetRule, Budgets
from bridge.supplier.suppliers import add_supplier
from mappings.models import MappingChoice
from workers.queue.context import Context
from workers.stock.report import SyncReport
from workers.stock.sync import run_exclusive
from workers.stock.sync_lease import budget_spacing

SHOP_ID = "bench-shop"
PANCAKE_KEY = "bench-pancake-key"
SUPPLIERS = ("alpha", "bravo", "charlie")
PAGE = 100
REAL_BUDGET_PER_MINUTE = 60 - 2  # the limiter keeps a margin of 2
PUSH_PATH = "/variations/update_quantity"
WARM_UP = 300  # variations of the world synced before the anchor


def _supplier_of(index: int) -> str:
    return SUPPLIERS[index % len(SUPPLIERS)]


def _plan_of(index: int) -> int:
    return 10_000 + index


@dataclass(frozen=True)
class Served:
    """Where the simulators' child serves them, as the bridge is told."""

    pancake_url: str
    warehouse_id: str
    # name -> (API root, API key), in the order the suppliers were first used
    suppliers: dict[str, tuple[str, str]]
    api_secret: str  # every supplier's


@dataclass(frozen=True)
class Counts:
    """What the simulators received so far."""

    supplier_calls: dict[str, int]
    pushes: int
    pancake_calls: int


@dataclass
class Measured:
    name: str
    seconds: float
    reading_seconds: float  # until the last catalogue page arrived
    supplier_calls: dict[str, int]
    pancake_pushes: int
    pancake_other: int
    report: SyncReport
    peak_mb: float  # this process's peak resident size during this sync


def _simulators(conn: Connection, variations: int, seed: int) -> None:
    """The child process: builds the simulators, serves them, then answers the pipe until told
    to close. Imported here, so the bridge's process never holds a simulator."""
    from bridge.dev.simulators.pancake import PancakeSimulator
    from bridge.dev.simulators.supplier import DEMO_API_SECRET, SupplierSimulator
    from bridge.web.server import ServerThread

    rng = random.Random(seed)
    pancake = PancakeSimulator()
    pancake.add_shop(SHOP_ID, api_key=PANCAKE_KEY)
    servers = [ServerThread(pancake.app).start()]
    suppliers: dict[str, SupplierSimulator] = {}
    plans: dict[str, list[int]] = {}
    served: dict[str, tuple[str, str]] = {}
    for index in range(variations):
        name = _supplier_of(index)
        if name not in suppliers:
            api_key = "sk_live_" + secrets.token_hex(16)
            suppliers[name] = SupplierSimulator(name=name, api_key=api_key, balance=10**12)
            servers.append(ServerThread(suppliers[name].app).start())
            served[name] = (servers[-1].url + "/api/v1", api_key)
            plans[name] = []
        plan_id = _plan_of(index)
        suppliers[name].add_plan(plan_id, name=f"Plan {plan_id}", stock=rng.randint(0, 100))
        plans[name].append(plan_id)
        pancake.add_variation(SHOP_ID, f"var-{index:05d}", name=f"Variation {index}")
    warehouse = pancake.warehouses(SHOP_ID)[0]["id"]
    conn.send(Served(servers[0].url + "/api/v1", warehouse, served, DEMO_API_SECRET))
    _reset_peak()
    try:
        while True:
            command, argument = conn.recv()
            if command == "counts":
                conn.send(
                    Counts(
                        {name: len(sim.calls) for name, sim in suppliers.items()},
                        pancake.count_calls("POST", PUSH_PATH),
                        len(pancake.calls),
                    )
                )
            elif command == "change":
                every = [(name, plan) for name, ids in plans.items() for plan in ids]
                for name, plan_id in rng.sample(every, argument):
                    suppliers[name].set_stock(plan_id, 101 + rng.randint(0, 50))
                conn.send(None)
            elif command == "memory":
                conn.send((_memory_mb("VmRSS"), _memory_mb("VmHWM")))
            else:  # "close"
                break
    finally:
        pancake.close()
        for server in servers:
            server.stop()
        conn.send(None)


class World:
    def __init__(self, variations: int, database_url: str | None, seed: int) -> None:
        # Spawned, not forked: the child starts clean (no copy of this process's memory or
        # threads) and this process never imports the simulators.
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._child = context.Process(
            target=_simulators, args=(child, variations, seed), name="simulators", daemon=True
        )
        self._child.start()
        child.close()
        served: Served = self._conn.recv()
        self.plans: dict[str, list[int]] = {name: [] for name in served.suppliers}
        for index in range(variations):
            self.plans[_supplier_of(index)].append(_plan_of(index))
        workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-stock-"))
        url = database_url or f"sqlite:///{workdir / 'bridge.db'}"
        self.settings = Settings(
            database_url=url,
            pancake_base_url=served.pancake_url,
            stock_push_batch_size=PAGE,
            log_level="WARNING",
        )
        upgrade(url)
        self.engine = make_engine(url)
        self.box = SecretBox(secrets.token_urlsafe(32))
        with session_scope(self.engine) as session:
            add_shop(
                session,
                self.box,
                SHOP_ID,
                api_key=PANCAKE_KEY,
                webhook_secret=secrets.token_urlsafe(24),
                warehouse_id=served.warehouse_id,
            )
            for name, (base_url, api_key) in served.suppliers.items():
                add_supplier(
                    session,
                    self.box,
                    name,
                    base_url=base_url,
                    api_key=api_key,
                    api_secret=served.api_secret,
                )
        rows = [
            {
                "shop_id": SHOP_ID,
                "variation_id": f"var-{index:05d}",
                "supplier_name": _supplier_of(index),
                "plan_id": _plan_of(index),
                "units": 1,
                "priority": 0,
                "enabled": True,
                "stock_sync": True,
            }
            for index in range(variations)
        ]
        with session_scope(self.engine) as session:
            session.connection().execute(insert(MappingChoice.__table__), rows)  # type: ignore[attr-defined]
        del rows
        # Raised: the sync itself is measured here, not the supplier's rate limit.
        budgets = Budgets(BudgetRule(limit=100_000, daily_limit=10_000_000), None, "bench")
        self.ctx = Context(self.settings, self.engine, self.box, budgets)

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def counts(self) -> Counts:
        counts: Counts = self._ask("counts")
        return counts

    def measure(self, name: str) -> Measured:
        before = self.counts()
        _reset_peak()
        started = time.perf_counter()
        last_read = [started]

        def progress(phase: str, done: int, total: int | None) -> None:
            if phase.startswith("reading"):
                last_read[0] = time.perf_counter()

        report = run_exclusive(self.ctx, trigger="bench", progress=progress)
        seconds = time.perf_counter() - started
        peak = _memory_mb("VmHWM")
        after = self.counts()
        pushes = after.pushes - before.pushes
        return Measured(
            name,
            seconds,
            last_read[0] - started,
            {n: calls - before.supplier_calls[n] for n, calls in after.supplier_calls.items()},
            pushes,
            after.pancake_calls - before.pancake_calls - pushes,
            report,
            peak,
        )

    def change_stock(self, count: int) -> None:
        self._ask("change", count)

    def simulators_memory(self) -> tuple[float, float]:
        """The simulators' process: resident size now, and its peak since they were built."""
        memory: tuple[float, float] = self._ask("memory")
        return memory

    def close(self) -> None:
        self.ctx.close()
        self.engine.dispose()
        self._ask("close")
        self._child.join(timeout=30)


def _memory_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MB."""
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else float("nan")


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM starts again from VmRSS
    except OSError:
        pass


def _full_sync(variations: int, database_url: str | None, seed: int) -> float:
    world = World(variations, database_url, seed)
    try:
        return world.measure("full").seconds
    finally:
        world.close()


def _anchor(variations: int, database_url: str | None, seed: int) -> float:
    """The full sync of a smaller world, measured in this run: the ratio's denominator. A
    warm-up sync of a tiny world comes first, so the anchor does not carry what only the
    process's first sync pays (imports, TLS contexts, compiled statements): the ratio would
    then flatter the big world."""
    _full_sync(WARM_UP, database_url, seed)
    return _full_sync(variations, database_url, seed)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variations", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=250, help="plans changed before sync 3")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument(
        "--anchor", type=int, default=10_000, help="a catalogue larger than this is compared"
    )
    args = parser.parse_args()

    anchor_seconds = None
    if args.variations > args.anchor:
        anchor_seconds = _anchor(args.anchor, args.database_url, args.seed)
        print(f"anchor: full sync of {args.anchor} variations in {anchor_seconds:.2f}s")
    setup = time.perf_counter()
    world = World(args.variations, args.database_url, args.seed)
    rss_before = _memory_mb("VmRSS")
    print(
        f"world: {args.variations} variations, {len(world.plans)} suppliers "
        f"({', '.join(f'{n}: {len(p)} plans' for n, p in world.plans.items())}), "
        f"database {world.settings.database_url.split(':', 1)[0]}; "
        f"built in {time.perf_counter() - setup:.1f}s"
    )
    try:
        results = [world.measure("full"), world.measure("no change")]
        world.change_stock(args.changes)
        results.append(world.measure(f"{args.changes} changed"))
        simulators_now, simulators_peak = world.simulators_memory()
    finally:
        world.close()

    expected_supplier = {n: math.ceil(len(p) / PAGE) + 1 for n, p in world.plans.items()}
    print(
        f"\n{'sync':<14}{'wall s':>8}{'reading':>9}{'changed':>9}{'supplier calls':>16}"
        f"{'target':>8}{'Pancake calls':>15}{'target':>8}{'peak MB':>9}  errors"
    )
    failures: list[str] = []
    for result in results:
        changed = result.report.changed
        supplier_calls = sum(result.supplier_calls.values())
        pancake_calls = result.pancake_pushes + result.pancake_other
        pancake_target = math.ceil(changed / PAGE)
        print(
            f"{result.name:<14}{result.seconds:>8.2f}{result.reading_seconds:>9.2f}"
            f"{changed:>9}{supplier_calls:>16}"
            f"{sum(expected_supplier.values()):>8}{pancake_calls:>15}{pancake_target:>8}"
            f"{result.peak_mb:>9.0f}  {len(result.report.errors)}"
        )
        if result.supplier_calls != expected_supplier:
            failures.append(f"{result.name}: supplier calls {result.supplier_calls}")
        if pancake_calls != pancake_target:
            failures.append(f"{result.name}: {pancake_calls} Pancake calls, not {pancake_target}")
        if result.report.errors:
            failures.append(f"{result.name}: errors {result.report.errors[:3]}")
    full, quiet, partial = results
    peak = max(result.peak_mb for result in results)
    if full.seconds >= 30:
        failures.append(f"full sync took {full.seconds:.1f}s (target < 30 s)")
    if full.report.changed != args.variations:
        failures.append(f"full sync changed {full.report.changed}, not {args.variations}")
    if quiet.pancake_pushes + quiet.pancake_other != 0:
        failures.append("the no-change sync called Pancake")
    if partial.report.changed != args.changes:
        failures.append(f"partial sync changed {partial.report.changed}, not {args.changes}")
    print(
        f"\nmemory of the bridge's process: {rss_before:.0f} MB with the world built; peak "
        f"{peak:.0f} MB during the syncs (+{peak - rss_before:.0f} MB)"
        f"\nmemory of the simulators' process (not the bridge's): {simulators_now:.0f} MB, "
        f"peak {simulators_peak:.0f} MB during the syncs"
    )
    if peak > 500:
        failures.append(f"peak memory {peak:.0f} MB (target ≤ 500 MB)")
    if anchor_seconds is not None:
        size_ratio = args.variations / args.anchor
        ratio = full.seconds / anchor_seconds
        print(
            f"full sync ratio to the {args.anchor}-variation anchor: {ratio:.1f}x "
            f"for {size_ratio:.1f}x the variations (target ≤ {1.1 * size_ratio:.1f}x)"
        )
        if ratio > 1.1 * size_ratio:
            failures.append(f"full sync ratio {ratio:.1f}x (target ≤ {1.1 * size_ratio:.1f}x)")
    per_key = max(expected_supplier.values())
    defaults = Settings()
    spacing = budget_spacing(defaults, full.report)
    print(
        f"\nsupplier calls per key per sync: {per_key} of the {REAL_BUDGET_PER_MINUTE} a minute "
        f"the real budget allows ({per_key / REAL_BUDGET_PER_MINUTE:.0%}); every 5 minutes "
        f"would be {per_key * 288:,} of {defaults.supplier_daily_limit:,} a day, so automatic "
        f"syncs space themselves to one per {spacing:.0f} s "
        f"({defaults.stock_sync_daily_budget_share:.0%} of the daily budget)"
    )
    for failure in failures:
        print(f"FAIL {failure}")
    print("stock_sync_bench=" + ("FAIL" if failures else "PASS"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
