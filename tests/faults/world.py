"""The fault-injection world: simulators and the bridge's web side in the test process, workers as
real OS processes, on PostgreSQL and Redis.

Here: the catalogue the world sells (Pancake variations and the supplier plans that serve them),
``FaultWorld`` itself, and ``Repeater``, the background thread behind its fault injectors. Redis
(the machine's shared one, or a private one a test may stop) is in ``redis_control``, worker
processes in ``processes``, and the checks a test asserts (the suppliers' ledgers and the Pancake
notes) in ``ledger``.
"""

from __future__ import annotations

import contextlib
import json
import random
import secrets
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import httpx
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    Dialect,
    SupplierSimulator,
)
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.settings import Settings
from bridge.states import TERMINAL, AttemptOutcome, FulfilmentState
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderItem
from tests.conftest import bridge_cli, clean_environment
from tests.faults import ledger
from tests.faults.ledger import ACCEPTABLE_ENDS, SUMMARY, LedgerCheck, missing_lines
from tests.faults.processes import (
    ROOT,
    WorkerProc,
    Zygote,
    exec_worker,
    tail,
)
from tests.faults.redis_control import SHARED_REDIS_URL, PrivateRedis
from tests.faults.waiting import wait_until
from workers.queue.broker import build_broker

CONFIRMED = 1

CAOSHOP = "caoshop-sim"  # full dialect
SHOPKEY = "shopkey-sim"  # short dialect (shopkey.appstoreviet.com)

DONE = frozenset({FulfilmentState.ANNOTATED})


@dataclass(frozen=True)
class Product:
    """A Pancake variation and the supplier plan that serves it."""

    variation_id: str
    name: str
    supplier: str
    plan_id: int
    instant: bool = True
    units: int = 1
    price: int = 50_000
    fields: Mapping[str, str] | None = None


NETFLIX = Product("0f6c1e52-0000-4000-8000-00000000f319", "Netflix Premium 1 tháng", CAOSHOP, 319)
SPOTIFY = Product(
    "0f6c1e52-0000-4000-8000-00000000f331", "Spotify Family 6 tháng", CAOSHOP, 331, units=2
)
CHATGPT = Product(
    "0f6c1e52-0000-4000-8000-00000000f320",
    "ChatGPT Plus 1 tháng",
    CAOSHOP,
    320,
    instant=False,
    price=450_000,
    fields={"email": "{order.bill_email}"},
)
CANVA = Product("0f6c1e52-0000-4000-8000-000000000077", "Canva Pro 1 năm", SHOPKEY, 77)
YOUTUBE = Product(
    "0f6c1e52-0000-4000-8000-000000000078", "YouTube Premium 1 năm", SHOPKEY, 78, instant=False
)
CATALOGUE = (NETFLIX, SPOTIFY, CHATGPT, CANVA, YOUTUBE)
INSTANT = tuple(p for p in CATALOGUE if p.instant)


# -- the world ----------------------------------------------------------------------------------


class FaultWorld:
    """Pancake + two supplier simulators + the bridge on PostgreSQL and Redis, workers as processes.

    Use as a context manager (or ``start()`` / ``close()``); ``close()`` kills every worker.
    Without ``redis`` the world runs on the machine's shared Redis, which it never stops; a world
    that stops Redis (``redis_down()``) is given a ``PrivateRedis`` and points everything at it.
    """

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        *,
        zygote: Zygote | None = None,
        launch: Literal["fork", "exec"] = "fork",
        lease_seconds: float = 3.0,
        sweep_interval_seconds: float = 0.5,
        supplier_timeout_seconds: float = 1.0,
        worker_threads: int = 4,
        shop_options: Mapping[str, Mapping[str, Any]] | None = None,
        worker_env: Mapping[str, str] | None = None,
        redis: PrivateRedis | None = None,
        balance: float = 1e12,
        stock: int = 1_000_000,
    ) -> None:
        if launch == "fork" and zygote is None:
            raise ValueError("launch='fork' needs the session's zygote")
        self.database_url = database_url
        self.workdir = workdir
        self.zygote = zygote
        self.launch = launch
        self.redis = redis
        self.redis_url = redis.url if redis is not None else SHARED_REDIS_URL
        self.namespace = f"bridge-fault-{uuid.uuid4().hex[:10]}"
        self.secret_key = secrets.token_urlsafe(32)
        self.settings = Settings(
            database_url=database_url,
            redis_url=self.redis_url,
            redis_namespace=self.namespace,
            lease_seconds=lease_seconds,
            sweep_interval_seconds=sweep_interval_seconds,
            poll_initial_seconds=0.2,
            poll_max_seconds=1.0,
            supplier_timeout_seconds=supplier_timeout_seconds,
            worker_threads=worker_threads,
            auto_migrate=True,
            log_level="WARNING",
        )
        self._shop_options = {k: dict(v) for k, v in (shop_options or {}).items()}
        self._worker_env = dict(worker_env or {})
        self._balance = balance
        self._stock = stock
        self._sandbox: Sandbox | None = None
        self.workers: list[WorkerProc] = []
        self.unexpected_exits: list[str] = []
        self.supervised = True
        self._generation = 0
        self._lock = threading.RLock()
        self._items: dict[str, int] = {}  # every order placed in Pancake: its line count
        self._expected: dict[str, int] = {}  # orders confirmed: the lines the bridge must settle
        self._helpers: list[Repeater] = []
        self._partial: set[str] = set()  # manual orders handed over in part already
        self._outside: set[tuple[str, str]] = set()  # orders the test placed, not the bridge
        self._closed = False
        self._http = httpx.Client(timeout=10)

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> FaultWorld:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> FaultWorld:
        broker = build_broker(self.redis_url, namespace=self.namespace)
        sandbox = Sandbox(self.settings, secret_key=self.secret_key, broker=broker)
        self._sandbox = sandbox
        dialects: tuple[tuple[str, Dialect], ...] = ((CAOSHOP, "full"), (SHOPKEY, "short"))
        for name, dialect in dialects:
            options: dict[str, Any] = {"balance": self._balance, **self._shop_options.get(name, {})}
            sandbox.add_supplier(name, SupplierSimulator(dialect=dialect, name=name, **options))
        for product in CATALOGUE:
            self.supplier(product.supplier).add_plan(
                product.plan_id,
                name=product.name,
                price=product.price,
                is_instant=product.instant,
                stock=self._stock,
                fields=[{"key": k, "label": k, "required": True} for k in product.fields or {}],
            )
            sandbox.map(
                product.variation_id,
                supplier=product.supplier,
                plan_id=product.plan_id,
                name=product.name,
                units=product.units,
                fields=dict(product.fields) if product.fields else None,
                # Sold at a margin: the bridge buys no plan dearer than the retail price.
                retail_price=2 * product.price * product.units,
            )
        sandbox.start(workers=False)
        return self

    @property
    def sandbox(self) -> Sandbox:
        """The simulators and the bridge's web side (see bridge/dev/sandbox.py)."""
        assert self._sandbox is not None, "start() first"
        return self._sandbox

    def supplier(self, name: str) -> SupplierSimulator:
        return self.sandbox.suppliers[name]

    @property
    def suppliers(self) -> dict[str, SupplierSimulator]:
        return self.sandbox.suppliers

    def env(self) -> dict[str, str]:
        """The environment of a worker (and of any `bridge` command run against this world)."""
        s = self.settings
        return {
            **clean_environment(),
            "BRIDGE_DATABASE_URL": self.database_url,
            "BRIDGE_REDIS_URL": self.redis_url,
            "BRIDGE_REDIS_NAMESPACE": self.namespace,
            "BRIDGE_SECRET_KEY": self.secret_key,
            "BRIDGE_PANCAKE_BASE_URL": self.sandbox.runtime.settings.pancake_base_url,
            "BRIDGE_POLL_INITIAL_SECONDS": str(s.poll_initial_seconds),
            "BRIDGE_POLL_MAX_SECONDS": str(s.poll_max_seconds),
            "BRIDGE_SWEEP_INTERVAL_SECONDS": str(s.sweep_interval_seconds),
            "BRIDGE_LEASE_SECONDS": str(s.lease_seconds),
            "BRIDGE_SUPPLIER_TIMEOUT_SECONDS": str(s.supplier_timeout_seconds),
            "BRIDGE_WORKER_THREADS": str(s.worker_threads),
            # Settle an unknown purchase soon, but only once its call has surely timed out; look
            # early first, as production does (there at 2 s of a 60 s window).
            "BRIDGE_SETTLE_DELAY_SECONDS": str(2 * s.supplier_timeout_seconds),
            "BRIDGE_SETTLE_FIRST_LOOK_SECONDS": str(s.supplier_timeout_seconds / 10),
            "BRIDGE_BREAKER_PAUSE_SECONDS": "1",
            "BRIDGE_BREAKER_MAX_PAUSE_SECONDS": "4",
            # The simulators enforce no rate limit unless a test asks for one (and then sets the
            # bridge's budget to match): the default budget of 60 a minute would only slow us.
            "BRIDGE_SUPPLIER_RATE_LIMIT": "100000",
            "BRIDGE_AUTO_MIGRATE": "false",
            "BRIDGE_LOG_LEVEL": "WARNING",
            **self._worker_env,
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            for helper in list(self._helpers):
                with contextlib.suppress(Exception):
                    helper.stop(check=False)
            self.stop_workers()
            if self._sandbox is not None:
                self._record_summary()
        finally:
            self._http.close()
            if self._sandbox is not None:
                with contextlib.suppress(Exception):
                    self._sandbox.runtime.broker.flush_all()
                self._sandbox.stop()

    def _record_summary(self) -> None:
        SUMMARY.worlds += 1
        SUMMARY.orders += len(self._items)
        SUMMARY.seen_429 += self.count_429()
        SUMMARY.findings.extend(self.unexpected_exits)
        try:
            check = self.ledger_check()
            SUMMARY.purchases += check.purchases
            SUMMARY.double_purchases += check.double_purchases
            SUMMARY.lost_lines += len(self.lost_lines())
        except Exception as exc:  # noqa: BLE001 - a summary must not hide the test's own error
            SUMMARY.findings.append(f"could not check the ledgers: {type(exc).__name__}: {exc}")

    # -- workers --------------------------------------------------------------------------------

    def _spawn(self, index: int) -> WorkerProc:
        self._generation += 1
        log_path = self.workdir / f"worker-{index}.{self._generation}.log"
        env = self.env()
        popen: subprocess.Popen[bytes] | None = None
        if self.launch == "fork":
            assert self.zygote is not None
            pid = self.zygote.spawn(env, log_path)
        else:
            popen = exec_worker(env, log_path)
            pid = popen.pid
        return WorkerProc(index, self._generation, pid, log_path, time.monotonic(), popen)

    def start_workers(self, n: int, *, wait_ready: bool = True, timeout: float = 60) -> None:
        with self._lock:
            start = len(self.workers)
            self.workers.extend(self._spawn(start + i) for i in range(n))
        if wait_ready:
            self.wait_workers_ready(timeout)

    def wait_workers_ready(self, timeout: float = 60) -> None:
        def ready() -> bool:
            with self._lock:
                for worker in self.workers:
                    if not worker.alive():
                        raise AssertionError(
                            f"worker {worker.index} exited while starting:\n{tail(worker.log_path)}"
                        )
                return all(worker.ready() for worker in self.workers)

        wait_until(ready, timeout, "the workers to start")

    def kill_worker(self, index: int, sig: signal.Signals = signal.SIGKILL) -> None:
        with self._lock:
            worker = self.workers[index]
            worker.killed_by_us = True
            worker.send(sig)
            if not worker.wait_gone(2 if sig == signal.SIGKILL else 20):
                worker.send(signal.SIGKILL)
                worker.wait_gone(5)

    def restart_worker(self, index: int) -> None:
        with self._lock:
            if self.workers[index].alive():
                self.kill_worker(index)
            self.workers[index] = self._spawn(index)

    def kill_random_worker(
        self, rng: random.Random | None = None, *, ready_only: bool = True
    ) -> int | None:
        """SIGKILL one worker at random (by default one that finished starting); its index."""
        with self._lock:
            candidates = [
                w.index for w in self.workers if w.alive() and (w.ready() or not ready_only)
            ]
            if not candidates:
                return None
            index = (rng or random).choice(candidates)
            self.kill_worker(index)
            return index

    def stop_workers(self) -> None:
        with self._lock:
            for worker in self.workers:
                worker.killed_by_us = True
                worker.send(signal.SIGKILL)
            for worker in self.workers:
                worker.wait_gone(5)

    def supervise(self) -> list[int]:
        """Restart workers that exited on their own, as systemd would; each exit is a finding."""
        restarted = []
        with self._lock:
            for worker in self.workers:
                if worker.killed_by_us or worker.alive():
                    continue
                self.unexpected_exits.append(
                    f"worker {worker.index} (pid {worker.pid}) exited on its own "
                    f"(exit code {worker.exit_code()}) after "
                    f"{time.monotonic() - worker.started_at:.1f}s; log tail:\n"
                    f"{tail(worker.log_path, 25)}"
                )
                self.workers[worker.index] = self._spawn(worker.index)
                restarted.append(worker.index)
        return restarted

    def every(self, interval: float, action: Callable[[], object], name: str) -> Repeater:
        """Run ``action`` in a background thread every ``interval`` seconds until stopped."""
        helper = Repeater(interval, action, name)
        self._helpers.append(helper)
        return helper.start()

    def killer(
        self, interval: tuple[float, float] = (0.3, 0.8), *, seed: int | None = None
    ) -> Repeater:
        """SIGKILL a random ready worker at random intervals and restart it at once."""
        rng = random.Random(seed)
        kills: list[int] = []

        def kill_one() -> None:
            index = self.kill_random_worker(rng)
            if index is not None:
                kills.append(index)
                self.restart_worker(index)

        helper = Repeater(interval, kill_one, "killer", rng=rng, events=kills)
        self._helpers.append(helper)
        return helper.start()

    def complete_manual_orders(self) -> None:
        """Supplier staff at work: a manual order of several units is first handed over in part
        (one unit), the rest on a later call; single units are handed over at once."""
        for sim in self.suppliers.values():
            for order in sim.ledger:
                if len(order.items) >= order.quantity or order.status == "cancelled":
                    continue
                if order.quantity > 1 and not order.items and order.trans_id not in self._partial:
                    sim.deliver_partial(order.trans_id, 1)
                    self._partial.add(order.trans_id)
                else:
                    sim.complete_pending(order.trans_id)

    def redis_down(self) -> contextlib.AbstractContextManager[None]:
        """This world's Redis stopped inside the block (every queue is lost), started again after.

        Only a private Redis may be stopped: other test sessions share the machine's one.
        """
        if self.redis is None:
            raise RuntimeError("stopping Redis needs make_world(private_redis=True)")
        return self.redis.down()

    # -- Pancake side ---------------------------------------------------------------------------

    def place_order(
        self,
        items: Sequence[tuple[Product, int]],
        *,
        confirm: bool = True,
        note: str = "",
        bill_email: str | None = "khach@example.com",
    ) -> str:
        """Create the order in Pancake (status new) and, unless told not to, confirm it."""
        pancake = self.sandbox.pancake
        order_id = pancake.create_order(
            self.sandbox.shop_id,
            items=[{"variation_id": p.variation_id, "quantity": q} for p, q in items],
            status=0,
            note=note,
            bill_email=bill_email,
        )
        with self._lock:
            self._items[order_id] = len(items)
        if confirm:
            self.confirm(order_id)
        return order_id

    def confirm(self, order_id: str) -> None:
        with self._lock:
            self._expected[order_id] = self._items[order_id]
        self.sandbox.pancake.set_status(self.sandbox.shop_id, order_id, CONFIRMED)

    def snapshot(self, order_id: str) -> dict[str, Any]:
        """The order as Pancake shows it now, shaped as its webhook body."""
        return {**self.sandbox.pancake.order(self.sandbox.shop_id, order_id), "type": "orders"}

    def post_webhook(self, body: Mapping[str, Any]) -> int:
        """POST a webhook body straight to the bridge, with the shop's secret header."""
        response = self._http.post(
            self.sandbox.webhook_url,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers={
                "Content-Type": "application/json",
                "X-Bridge-Secret": self.sandbox.webhook_secret,
            },
        )
        return response.status_code

    def note(self, order_id: str) -> str:
        return self.sandbox.note(order_id)

    @property
    def order_ids(self) -> list[str]:
        with self._lock:
            return list(self._expected)

    # -- the bridge's database (read only) ------------------------------------------------------

    def lines(self, order_id: str | None = None) -> list[Fulfilment]:
        return self.sandbox.fulfilments(order_id)

    def attempts(self, fulfilment_id: int | None = None) -> list[PurchaseAttempt]:
        statement = select(PurchaseAttempt).order_by(col(PurchaseAttempt.id))
        if fulfilment_id is not None:
            statement = statement.where(PurchaseAttempt.fulfilment_id == fulfilment_id)
        with session_scope(self.sandbox.runtime.engine) as session:
            return list(session.exec(statement))

    def settlements(self) -> Counter[str | None]:
        """How the attempts with an unknown outcome were settled (None: they were not)."""
        unknown = (AttemptOutcome.UNKNOWN, AttemptOutcome.IN_FLIGHT)
        return Counter(
            a.settlement for a in self.attempts() if a.settlement or a.outcome in unknown
        )

    def wait_all_settled(
        self,
        order_ids: Sequence[str] | None = None,
        *,
        timeout: float = 60,
        states: frozenset[FulfilmentState] = TERMINAL,
    ) -> list[Fulfilment]:
        """Until every confirmed order has all its lines, each in one of ``states``."""
        wanted = list(order_ids) if order_ids is not None else self.order_ids
        deadline = time.monotonic() + timeout
        while True:
            if self.supervised:
                self.supervise()
            rows = self._lines_of(wanted)
            if self._complete(wanted, rows) and all(r.state in states for r in rows):
                return rows
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"after {timeout:.0f}s not every line of {len(wanted)} orders is in "
                    f"{sorted(states)}:\n{self.describe()}"
                )
            time.sleep(0.2)

    def _lines_of(self, order_ids: Sequence[str]) -> list[Fulfilment]:
        wanted = set(order_ids)
        return [row for row in self.lines() if row.order_id in wanted]

    def _complete(self, order_ids: Sequence[str], rows: Sequence[Fulfilment]) -> bool:
        with self._lock:
            wanted = {o: self._expected.get(o, self._items[o]) for o in order_ids}
        return not missing_lines(wanted, rows)

    def describe(self) -> str:
        """States, unfinished lines and worker log tails: what a failure message needs."""
        rows = self.lines()
        states = Counter(row.state for row in rows)
        parts = [f"line states: {dict(states)}"]
        unfinished = [row for row in rows if row.state not in ACCEPTABLE_ENDS]
        for row in unfinished[:15]:
            parts.append(
                f"  line {row.id} order {row.order_id} {row.supplier_name}/{row.plan_id}: "
                f"{row.state} reason={row.reason!r} last_error={row.last_error!r}"
            )
        with self._lock:
            expected = dict(self._expected)
        short = list(missing_lines(expected, rows))
        if short:
            parts.append(f"orders missing lines: {short[:15]}")
        parts.append(self.worker_report())
        return "\n".join(parts)

    def worker_report(self, lines: int = 15) -> str:
        parts = []
        with self._lock:
            workers = list(self.workers)
        for worker in workers:
            state = "alive" if worker.alive() else f"dead (exit {worker.exit_code()})"
            parts.append(
                f"--- worker {worker.index} gen {worker.generation} pid {worker.pid} {state}: "
                f"{worker.log_path.name}\n{tail(worker.log_path, lines)}"
            )
        return "\n".join(parts)

    # -- the checks -----------------------------------------------------------------------------

    def ledger_check(self) -> LedgerCheck:
        return LedgerCheck.of(self.lines(), self.attempts(), self.suppliers, self._outside)

    def buy_outside(self, product: Product, quantity: int = 1) -> str:
        """The key's own user buys ``product`` through the API, but not through the bridge (the
        owner's other tool): the ledger checks leave the order out. Its trans_id."""
        with session_scope(self.sandbox.runtime.engine) as session:
            row = session.get(Supplier, product.supplier)
            assert row is not None
            base_url = row.base_url
        with SupplierClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
            item = OrderItem(plan_id=product.plan_id, quantity=quantity)
            [order] = client.create_order([item]).orders
        self._outside.add((product.supplier, order.trans_id))
        return order.trans_id

    def double_purchases(self) -> int:
        """Supplier orders beyond one per line, plus orders no line claims (orphans)."""
        return self.ledger_check().double_purchases

    def purchases_of(self, supplier: str) -> int:
        return len(self.supplier(supplier).ledger)

    def lost_lines(self) -> list[str]:
        """Lines missing, or not in a final state, or annotated with nothing bought for them."""
        rows = self.lines()
        per_line = self.ledger_check().per_line
        with self._lock:
            expected = dict(self._expected)
        return ledger.lost_lines(rows, expected, per_line)

    def note_problems(self) -> list[str]:
        """Each annotated line's credentials (from the supplier's ledger) appear exactly once in
        its order's note, inside one block; no other order's credential appears there."""
        rows = self.lines()
        per_line = self.ledger_check().per_line
        return ledger.note_problems(rows, per_line, self.suppliers, self.note)

    def count_429(self) -> int:
        return sum(sim.count_429 for sim in self.suppliers.values())

    def bridge_command(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ``python -m bridge.cli ARGS`` with this world's environment."""
        return subprocess.run(
            bridge_cli(*args),
            cwd=ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


class Repeater:
    """A background thread running ``action`` at (random) intervals; errors surface at stop()."""

    def __init__(
        self,
        interval: float | tuple[float, float],
        action: Callable[[], object],
        name: str,
        *,
        rng: random.Random | None = None,
        events: list[int] | None = None,
    ) -> None:
        self._interval = interval
        self._action = action
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.events: list[int] = events if events is not None else []
        self.runs = 0

    def start(self) -> Repeater:
        self._thread.start()
        return self

    def _next_wait(self) -> float:
        if isinstance(self._interval, tuple):
            return self._rng.uniform(*self._interval)
        return self._interval

    def _run(self) -> None:
        while not self._stop.wait(self._next_wait()):
            try:
                self._action()
                self.runs += 1
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                self._errors.append(exc)
                return

    def stop(self, *, check: bool = True) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        if check and self._errors:
            raise self._errors[0]

    def __enter__(self) -> Repeater:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(check=exc_type is None)
