"""Sustained fulfilment rate under the supplier's API budget (issue 3's benchmark).

Run: ``uv run python tests/bench/throughput.py [--orders 750] [--time-scale 10]``

The supplier simulator enforces 60 requests a minute per key, time-compressed: with
``--time-scale 10`` a "minute" lasts 6 s. The bridge is told the same budget and runs as
`bridge run` does (SQLite, embedded broker, workers in-process) against the simulators over real
HTTP. A backlog of single-line instant orders is waiting, every webhook recorded, when the
workers start (``--live-ingest`` places it while they run instead: ingesting 400 orders then takes
this host several seconds, a window and more at this time scale, during which purchases queue
behind the intakes; that measures how fast the host ingests, not the budget, and weighs ten
times less against a real minute). Each such order needs at least 2 supplier calls
(orders/create, and one orders/status read for the credentials), so the budget allows at most
60 / 2 = 30 orders a minute. Three figures:

    sustained_efficiency   each of the key's slots is reused every "cycle" (a call and the one
                           admitted ``limit - margin`` calls later, in the simulator's log; the
                           window is its floor): the window / the mean cycle, over the cycles that
                           start once the backlog is in. It charges every slot left unused, and
                           no start-up: the issue's "sustained" figure.
    strict efficiency      orders fulfilled between the first purchase and the last note / the
                           most a fresh key allows in that time (one window's burst at the start,
                           then the limit per window) / 2 calls. The start's and the end's host
                           delays weigh on it as on a run this long: 750 orders (the default) are
                           25 windows, about 2.5 minutes at x10.
    budget_efficiency      the same without the burst: above 1 when the burst is used well, so
                           only comparable between runs of the same length (kept for history).

It also prints the supplier and Pancake calls per fulfilled order (and any supplier call beyond
a create and a status read a line: 1,501 calls need one window more than 1,500), the 429s the
supplier answered (the bridge's limiter should keep that at 0), and the calls the supplier's
share of threads turned back (``SupplierBusy``: 25,589 in a run at x3 while status reads waited
for the budget inside it, 0 since they wait before entering). The catch-up for missed webhooks
runs once per budget-minute (its overlap one budget-minute too); once the run is over and the
overlap has passed, the Pancake calls of a few quiet intervals are counted:

    quiet_interval_pancake_calls_per_shop = calls / intervals (1 is the floor: one list read)

``--explain`` splits the budget left unused into its causes (the window's guard, the time a
request holds its slot from admission to answer, freed slots nobody took at once, the first
window's burst not used while the backlog is ingested). The time scale weighs on the last three:
they are fixed delays of the host (tens to hundreds of ms on a loaded one), ten times heavier
against a "minute" of 6 s than against a real one; ``--time-scale 2`` shows them closer to what a
real key sees. ``--margin 1`` runs the limiter as it was before 2026-12-07 (one request a window
kept in hand).

``--with-sync PLANS`` gives the simulator a catalogue of PLANS plans and has the stock sync's
catalogue read (the bridge's own, on the same client and budget) read it over and over while the
orders are served: purchases keep their rate (catalogue pages are background requests that take
only what purchases leave), and the catalogue pages read per budget-minute are printed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import Engine, func
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.models import Fulfilment
from bridge.settings import Settings
from bridge.states import FulfilmentState
from bridge.supplier import budget as budget_module
from bridge.supplier.bulkhead import Bulkhead, SupplierBusy
from bridge.supplier.catalogue import read_catalogue
from bridge.supplier.models import Supplier

PLAN = 319
VARIATION = "bench-netflix"
CALLS_PER_ORDER_FLOOR = 2
CATALOGUE_PATHS = ("products/list", "categories/list")
ORDER_PATHS = ("orders/create", "orders/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=750)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--rate-limit", type=int, default=60)
    parser.add_argument(
        "--margin",
        type=int,
        default=Settings.model_fields["supplier_rate_margin"].default,
        help="requests kept in hand per window (the setting's default unless given)",
    )
    parser.add_argument(
        "--no-quiet", action="store_true", help="skip the quiet-interval count after the run"
    )
    parser.add_argument(
        "--with-sync",
        type=int,
        default=0,
        metavar="PLANS",
        help="read a catalogue of PLANS plans over and over on the same key meanwhile",
    )
    parser.add_argument(
        "--explain", action="store_true", help="print where the budget unused goes (timings)"
    )
    parser.add_argument(
        "--live-ingest",
        action="store_true",
        help="place the backlog while the workers run (its ingest then overlaps the purchases)",
    )
    args = parser.parse_args()
    minute = 60.0 / args.time_scale

    workdir = Path(tempfile.mkdtemp(prefix="bridge-throughput-"))
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bridge.db'}",
        redis_url=None,
        supplier_rate_limit=args.rate_limit,
        supplier_rate_margin=args.margin,
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
    for plan in range(PLAN + 1, PLAN + args.with_sync):
        supplier.add_plan(plan, name=f"Plan {plan}", stock=10)
    supplier.calls = calls = _TimedCalls()
    sandbox = Sandbox(settings)
    try:
        sandbox.add_supplier("bench", supplier)
        sandbox.map(VARIATION, supplier="bench", plan_id=PLAN, name="Netflix")
        sandbox.start(workers=args.live_ingest)
        reads = _CatalogueReads(sandbox) if args.with_sync else None
        recording = _recorded() if args.explain else None
        refusals = _counted_refusals()
        busy = refusals.__enter__()
        budget_log = recording.__enter__() if recording is not None else None
        order_ids = [
            sandbox.place_order([{"variation_id": VARIATION, "quantity": 1}])
            for _ in range(args.orders)
        ]
        pancake_calls_before = len(sandbox.pancake.calls)
        started = time.monotonic()
        workers_started = time.time()
        if not args.live_ingest:
            # The backlog waits, every webhook recorded, when the workers start.
            sandbox.pancake.wait_idle(timeout=120.0)
            workers_started = time.time()
            sandbox.runtime.start_workers()
        sandbox.wait_for(
            lambda: _fulfilled(sandbox.runtime.engine) >= len(order_ids),
            timeout=max(120.0, args.orders * 3 * minute / args.rate_limit * 4),
            what="every order to be fulfilled",
        )
        elapsed = time.monotonic() - started
        first_purchase = min(p.created_at for p in supplier.ledger)
        done_at = sorted(
            (f.updated_at - first_purchase).total_seconds() for f in sandbox.fulfilments()
        )
        last_note = max(f.updated_at for f in sandbox.fulfilments()).timestamp()
        # The backlog is in once the last order's line exists: calls from then on show what the
        # budget gives with work waiting, free of how fast this host ingests the webhooks.
        ingested = max(f.created_at for f in sandbox.fulfilments()).timestamp()
        pancake_calls = len(sandbox.pancake.calls) - pancake_calls_before
        refusals.__exit__(None, None, None)
        if recording is not None:
            recording.__exit__(None, None, None)
        if reads is not None:
            reads.stop()
        quiet = None if args.no_quiet else _quiet_interval_calls(sandbox, minute)
    finally:
        sandbox.stop()

    fulfilled = len(order_ids)
    # The orders' calls: catalogue pages (``--with-sync``) are counted apart.
    supplier_calls = sum(1 for _, path in calls if not path.endswith(CATALOGUE_PATHS))
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
    # Beyond the floor's two a line (a create, a status read): each call more than a multiple of
    # the limit costs the strict figure a whole window's wait at the end.
    others = Counter(path for _, path in calls if not path.endswith(ORDER_PATHS))
    print(f"other supplier calls:        {dict(others) or 'none'}")
    print(f"pancake calls per order:     {pancake_calls / fulfilled:.2f}")
    if reads is not None:
        pages = sum(1 for _, path in calls if path.endswith(CATALOGUE_PATHS))
        print(f"catalogue of {args.with_sync} plans:  {reads.done} read whole, {pages} pages")
        print(f"catalogue pages per minute:  {pages / (window / minute):.1f}")
    print(f"429s seen:                   {supplier.count_429}")
    # Lines the supplier's share of threads sent back for later: each a slot of the key that
    # may stay unused while it waits ``retry_after`` (see bridge.supplier.bulkhead).
    print(
        f"SupplierBusy refusals:       {busy.purchases} purchases, {busy.calls} calls "
        f"(sent back {busy.retry_after:.0f} s in all)"
    )
    print(f"double purchases:            {len(supplier.ledger) - fulfilled}")
    print(f"strict efficiency (start-up burst charged): {strict / ceiling:.2f}")
    # Once the backlog flows each of the key's slots is reused every "cycle" (a call and the one
    # admitted ``limit - margin`` calls later, in the simulator's log): the guarded window, the
    # time the call held its slot before its answer, and the time the freed slot stayed unused.
    # The steady rate, free of the start-up (the backlog's ingest, the unused budget's burst).
    received = sorted(calls.times)
    slots = max(1, args.rate_limit - args.margin)
    cycles = [b - a for a, b in zip(received, received[slots:], strict=False)]
    if cycles:
        steady = slots / statistics.mean(cycles) * minute / args.rate_limit
        print(f"steady efficiency (slot reuse): {steady:.2f}")
    # The same, counting only the cycles that start once the backlog is in (``ingested``).
    since = [b - a for a, b in zip(received, received[slots:], strict=False) if a >= ingested]
    first = first_purchase.timestamp()
    print(f"workers start to 1st purchase: {first - workers_started:.1f} s (the backlog's ingest)")
    print(f"last line made:              {ingested - first:+.1f} s from the first purchase")
    if since:
        sustained = slots / statistics.mean(since) * minute / args.rate_limit
        windows = len(since) / slots
        print(f"sustained_efficiency={sustained:.3f} ({windows:.1f} windows of cycles)")
    print(f"budget_efficiency={per_minute / ceiling:.2f}")
    if quiet is not None:
        print(f"quiet_interval_pancake_calls_per_shop={quiet:.2f}")
    if budget_log is not None:
        _explain(budget_log, calls, settings, window, last_note=last_note)
    return 0 if supplier.count_429 == 0 and len(supplier.ledger) == fulfilled else 1


class _CatalogueReads:
    """The stock sync's catalogue read (the bridge's own, on its own client and budget), over
    and over in a thread while the orders are served."""

    def __init__(self, sandbox: Sandbox) -> None:
        with session_scope(sandbox.runtime.engine) as session:
            row = session.get(Supplier, "bench")
            assert row is not None
            session.expunge(row)
        self._client = sandbox.runtime.ctx.supplier(row)
        self._stopping = threading.Event()
        self.done = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                catalogue = read_catalogue(self._client, name="bench")
            except budget_module.BudgetExhausted:
                continue  # purchases kept the window full for the whole wait: read again
            self.done += catalogue.complete

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=60)


class _TimedCalls(list[tuple[str, str]]):
    """The simulator's call log, with when each call reached it (wall clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, call: tuple[str, str]) -> None:
        self.times.append(time.time())
        super().append(call)


class _Refusals:
    def __init__(self) -> None:
        self.purchases = 0  # refused by ``reserve_slot``'s check, before any budget is taken
        self.calls = 0  # refused on entering the share (a read, or a purchase's request)
        self.retry_after = 0.0
        self.lock = threading.Lock()

    def note(self, exc: SupplierBusy, *, purchase: bool) -> None:
        with self.lock:
            if purchase:
                self.purchases += 1
            else:
                self.calls += 1
            self.retry_after += exc.retry_after


@contextmanager
def _counted_refusals() -> Iterator[_Refusals]:
    """Count the ``SupplierBusy`` refusals of every supplier's bulkhead in this process."""
    refusals = _Refusals()
    check, call = Bulkhead.check, Bulkhead.call

    def counted_check(self: Bulkhead) -> None:
        try:
            check(self)
        except SupplierBusy as exc:
            refusals.note(exc, purchase=True)
            raise

    @contextmanager
    def counted_call(self: Bulkhead) -> Iterator[None]:
        with ExitStack() as stack:
            try:
                stack.enter_context(call(self))
            except SupplierBusy as exc:
                refusals.note(exc, purchase=False)
                raise
            yield

    Bulkhead.check, Bulkhead.call = counted_check, counted_call  # type: ignore[method-assign]
    try:
        yield refusals
    finally:
        Bulkhead.check, Bulkhead.call = check, call  # type: ignore[method-assign]


class _BudgetLog:
    def __init__(self) -> None:
        self.admitted: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.lock = threading.Lock()


@contextmanager
def _recorded() -> Iterator[_BudgetLog]:
    """Record when the in-process budget admits each request and hears its answer."""
    log = _BudgetLog()
    local = budget_module.LocalBudget
    acquire, answered, release = local.acquire, local.answered, local.release

    def timed_acquire(
        self: budget_module.LocalBudget, max_wait: float, *, background: bool = False
    ) -> budget_module.Ticket:
        ticket = acquire(self, max_wait, background=background)
        with log.lock:
            log.admitted[ticket] = time.monotonic()
        return ticket

    def timed_answered(self: budget_module.LocalBudget, ticket: budget_module.Ticket) -> None:
        answered(self, ticket)
        with log.lock:
            log.answered.setdefault(ticket, time.monotonic())

    def timed_release(self: budget_module.LocalBudget, ticket: budget_module.Ticket) -> None:
        release(self, ticket)
        with log.lock:
            log.admitted.pop(ticket, None)  # never sent: its slot was free again at once

    methods = local.acquire, local.answered, local.release
    local.acquire, local.answered, local.release = (  # type: ignore[method-assign]
        timed_acquire,
        timed_answered,
        timed_release,
    )
    try:
        yield log
    finally:
        local.acquire, local.answered, local.release = methods  # type: ignore[method-assign]


def _explain(
    log: _BudgetLog, calls: _TimedCalls, settings: Settings, window: float, last_note: float
) -> None:
    """Split the budget left unused into its causes. A slot is reused one guarded window after
    its request's answer: each admission comes ``W' + held + idle`` after the one ``limit``
    admissions earlier, where ``held`` is admission to answer and ``idle`` the time no request
    was ready or awake to take the freed slot."""
    rule = budget_module.BudgetRule(
        limit=settings.supplier_rate_limit,
        window_seconds=settings.supplier_rate_window_seconds,
        margin=settings.supplier_rate_margin,
    )
    admits = sorted(log.admitted.values())
    n = rule.effective(False)
    cycles = [b - a for a, b in zip(admits, admits[n:], strict=False)]
    held = [log.answered[t] - at for t, at in log.admitted.items() if t in log.answered]
    w, wg = rule.window_seconds, rule.guarded_window
    cycle = statistics.mean(cycles) if cycles else wg
    held_mean = statistics.mean(held) if held else 0.0
    idle = max(0.0, cycle - wg - held_mean)
    tail = max(0.0, last_note - max(calls.times, default=last_note))
    span = max(calls.times) - min(calls.times)
    print(f"first call to last call:     {span:.1f} s ({len(calls.times)} calls)")
    print(f"first to last admission:     {admits[-1] - admits[0]:.1f} s, mean cycle {cycle:.3f} s")
    ramp = admits[n - 1] - admits[0] if len(admits) >= n else 0.0
    print(f"first {n} admissions took:    {ramp:.1f} s (a window's burst: 0 s)")
    print("where the budget goes (share of the key's ceiling):")
    print(f"  margin ({rule.margin} per window):       {rule.margin / rule.limit:.3f}")
    print(f"  window guard ({wg - w:.3f} s):          {1 - w / wg:.3f}")
    print(f"  admission to answer ({held_mean * 1000:.0f} ms):  {held_mean / cycle:.3f}")
    print(f"  slot free, none taken ({idle * 1000:.0f} ms): {idle / cycle:.3f}")
    print(f"  after the last call ({tail:.2f} s):     {tail / window:.3f}")
    # Where cycles ran long (the simulator's log, a window of cycles at a time): the switch from
    # purchases to status reads, lines come back from a busy supplier's share of threads.
    timed = sorted(zip(calls.times, (path for _, path in calls), strict=True))
    print(f"mean cycle by window of {n} calls (s; status reads among them, of {n}):")
    for k in range(n, len(timed), n):
        chunk = [timed[i][0] - timed[i - n][0] for i in range(k, min(k + n, len(timed)))]
        reads = sum(1 for _, path in timed[k : k + n] if path.endswith("orders/status"))
        print(f"  calls {k:4d}+: {statistics.mean(chunk):.3f} (max {max(chunk):.3f}), {reads}")


QUIET_INTERVALS = 4


def _quiet_interval_calls(sandbox: Sandbox, interval: float) -> float:
    """Pancake calls per catch-up interval once nothing happens and the overlap has passed."""
    time.sleep(3 * interval)  # the overlap (one interval) and the tick rounding behind us
    before = len(sandbox.pancake.calls)
    time.sleep(QUIET_INTERVALS * interval)
    return (len(sandbox.pancake.calls) - before) / QUIET_INTERVALS


def _fulfilled(engine: Engine) -> int:
    """One COUNT, not every line loaded: this runs 20 times a second in the bridge's own process
    (one GIL), and loading 400 rows each time took CPU from the run being measured."""
    with session_scope(engine) as session:
        done = select(func.count()).where(Fulfilment.state == FulfilmentState.ANNOTATED)
        return int(session.exec(done).one())


if __name__ == "__main__":
    raise SystemExit(main())
