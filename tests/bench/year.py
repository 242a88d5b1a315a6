"""A year of a shop's data: the console, the CLI, the sweep and ingest on a full database.

Run it from the repository root::

    uv run python tests/bench/year.py                 # 1,000,000 lines on SQLite and PostgreSQL
    uv run python tests/bench/year.py --scale 0.1     # 100,000 lines: a quick run
    uv run python tests/bench/year.py --backend sqlite --no-ingest

What it seeds, per backend, with Core ``executemany`` in chunks (no ORM, no workers): 3 shops,
3 suppliers, 100 mappings, ``300,000 x scale`` orders each with one webhook event, and
``1,000,000 x scale`` lines spread over the orders and over a year (the newest day as busy as
any other), 97% ``annotated`` and the other 3% spread evenly over the other states of
``bridge.states.FulfilmentState``; each bought line has its purchase attempt. On PostgreSQL a
fresh database is created on the server of ``--postgres-url`` and dropped afterwards.

What it measures, each next to an anchor measured in the same run (the ratio is what compares
across machines; the absolute figure is what the issue's bound names):

* **console**: ``bridge serve`` as a process, logged in over real HTTP as
  tests/web/console/conftest.py does; each page's p95 over ``--samples`` GETs (the dashboard,
  the lines filtered by state, one line's page, mappings, unmapped), against the login page
  (the same server, templates and session, no query). Bound: p95 <= 300 ms.
* **cli**: each list command as a process (median of 3 after a run that warms a private
  bytecode cache, as ``cli_startup.py`` does), against ``bridge --help``. Bound: 0.5 s.
* **sweep**: one pass of ``workers.fulfilment.sweep.sweep`` in this process, against a
  ``SELECT 1`` round trip on the same engine. Bound: 1 s.
* **ingest** (SQLite, as tests/bench/ingest.py): the webhook endpoint's throughput against a bare
  Starlette endpoint, on a fresh file and on the seeded file, with that bench's own servers and
  load generator; the two ratios should agree.
* **size**: the database's size on disk (SQLite file after a checkpoint; ``pg_database_size``),
  per 100,000 lines.

The last line per backend is ``year_<backend>: ...`` with every figure; any bound missed is
printed as ``MISS`` and the script exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, Table, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from bridge.db import session_scope, utcnow
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState, OrderState
from mappings.models import MappingChoice
from tests.bench import ingest
from workers.fulfilment.models import WebhookEvent

LINES = 1_000_000
ORDERS = 300_000
MAPPINGS = 100
SHOPS = ("1", "2", "3")
SUPPLIERS = ("alpha", "beta", "gamma")
ANNOTATED_SHARE = 0.97
CHUNK = 20_000
USER = "bench"
PASSWORD = "year-of-data bench password"
PAGE_BOUND_MS = 300.0
CLI_BOUND_S = 0.5
SWEEP_BOUND_S = 1.0
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')
BOUGHT = {
    FulfilmentState.ANNOTATED: AttemptOutcome.BOUGHT,
    FulfilmentState.DELIVERED: AttemptOutcome.BOUGHT,
    FulfilmentState.PARTIAL: AttemptOutcome.BOUGHT,
    FulfilmentState.PURCHASED: AttemptOutcome.BOUGHT,
    FulfilmentState.PURCHASE_UNKNOWN: AttemptOutcome.UNKNOWN,
    FulfilmentState.PURCHASING: AttemptOutcome.IN_FLIGHT,
}


def table(model: Any) -> Table:
    found: Table = model.__table__
    return found


# ------------------------------------------------------------------------------------- seeding


@dataclass
class Seeded:
    lines: int
    orders: int
    seconds: float
    line_id: int  # one line to open (a recent one that needs attention)


def states(count: int, rng: random.Random) -> list[FulfilmentState]:
    """``count`` states: ANNOTATED_SHARE annotated, the rest evenly over the other states."""
    others = [state for state in FulfilmentState if state is not FulfilmentState.ANNOTATED]
    rest = round(count * (1 - ANNOTATED_SHARE))
    picked: list[FulfilmentState] = [others[n % len(others)] for n in range(rest)]
    picked += [FulfilmentState.ANNOTATED] * (count - rest)
    rng.shuffle(picked)
    return picked


def mapping_of(order: int, line: int) -> int:
    """The mapping a line uses: one of its order's shop (mapping m belongs to shop m % 3)."""
    return (order * 7 + line) % (MAPPINGS // len(SHOPS)) * len(SHOPS) + order % len(SHOPS)


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def bulk(engine: Engine, target: Table, rows: Iterator[dict[str, Any]]) -> None:
    for batch in chunks(rows):
        with engine.begin() as conn:
            conn.execute(insert(target), batch)


def seed(url: str, secret_key: str, scale: float) -> Seeded:
    """Migrate ``url`` as the bridge does, add its shops, suppliers and console user through the
    bridge's own functions, then bulk-insert a year of rows."""
    from bridge.pancake.shops import add_shop
    from bridge.runtime.wiring import Runtime
    from bridge.settings import Settings
    from bridge.supplier.models import Supplier
    from bridge.web.console.users import set_user

    started = time.perf_counter()
    rng = random.Random(2026)
    now = utcnow()
    year_ago = now - timedelta(days=365)
    settings = Settings(database_url=url, redis_url=None, auto_migrate=True)
    runtime = Runtime(settings, secret_key=secret_key)
    try:
        engine = runtime.engine
        with session_scope(engine) as session:
            for shop in SHOPS:
                add_shop(
                    session,
                    runtime.box,
                    shop,
                    api_key=f"bench-key-{shop}",
                    webhook_secret=f"bench-webhook-secret-{shop}",
                    fulfil_from=year_ago,
                )
            for name in SUPPLIERS:
                session.add(
                    Supplier(
                        name=name,
                        base_url=f"http://127.0.0.1:9/{name}",
                        api_key_enc=runtime.box.encrypt("key"),
                        api_secret_enc=runtime.box.encrypt("secret"),
                    )
                )
            set_user(session, USER, PASSWORD, now)
        bulk(
            engine,
            table(MappingChoice),
            (
                {
                    "shop_id": SHOPS[n % len(SHOPS)],
                    "variation_id": f"var-{n}",
                    "supplier_name": SUPPLIERS[n % len(SUPPLIERS)],
                    "plan_id": 1000 + n,
                    "units": 1,
                    "priority": 0,
                    "enabled": True,
                    "stock_sync": True,
                    "created_at": year_ago,
                }
                for n in range(MAPPINGS)
            ),
        )
        orders = max(1, round(ORDERS * scale))
        lines = max(orders, round(LINES * scale))
        span = (now - year_ago).total_seconds()
        # Order n was placed at a steady pace over the year; the last one a minute ago.
        placed = [year_ago + timedelta(seconds=span * (n + 1) / orders - 60) for n in range(orders)]

        def order_state(n: int) -> str:
            # The newest orders may still be pending intake; a few were skipped or cancelled.
            if n >= orders - 5:
                return OrderState.PENDING
            return (OrderState.SKIPPED, OrderState.CANCELLED)[n % 2] if n % 97 == 0 else "synced"

        bulk(
            engine,
            table(Order),
            (
                {
                    "id": n + 1,
                    "shop_id": SHOPS[n % len(SHOPS)],
                    "order_id": str(10_000_000 + n),
                    "state": order_state(n),
                    "item_count": 3,
                    "generation": 1,
                    "predates_shop": False,
                    "failures": 0,
                    "read_at": placed[n],
                    "placed_at": placed[n],
                    "created_at": placed[n],
                    "updated_at": placed[n] + timedelta(seconds=30),
                }
                for n in range(orders)
            ),
        )
        bulk(
            engine,
            table(WebhookEvent),
            (
                {
                    "shop_id": SHOPS[n % len(SHOPS)],
                    "kind": "orders",
                    "order_id": str(10_000_000 + n),
                    "order_status": 1,
                    "body_hash": f"{n:064x}",
                    "outcome": "queued",
                    "received_at": placed[n],
                }
                for n in range(orders)
            ),
        )
        picked = states(lines, rng)

        def line_rows() -> Iterator[dict[str, Any]]:
            for n in range(lines):
                order = n * orders // lines
                state = picked[n]
                # A mapping of the order's shop; one needs_attention line in ten has a variation
                # nobody mapped yet (the unmapped page's rows).
                mapping = mapping_of(order, n)
                # A non-terminal line is leased (the sweep finds a few of them due); a done
                # one holds no lease, as the workers leave it.
                waiting = state in (set(FulfilmentState) - {FulfilmentState.ANNOTATED}) and (
                    state
                    not in {
                        FulfilmentState.NEEDS_ATTENTION,
                        FulfilmentState.FAILED,
                        FulfilmentState.CANCELLED,
                    }
                )
                bought = state in BOUGHT and state is not FulfilmentState.PURCHASING
                yield {
                    "id": n + 1,
                    "order_pk": order + 1,
                    "shop_id": SHOPS[order % len(SHOPS)],
                    "order_id": str(10_000_000 + order),
                    "line_key": f"item-{n}",
                    "variation_id": (
                        f"new-{n % 20}"
                        if state is FulfilmentState.NEEDS_ATTENTION and n % 10 == 0
                        else f"var-{mapping}"
                    ),
                    "item_name": f"Gói {mapping:02d} tháng",
                    "quantity": 1,
                    "supplier_name": SUPPLIERS[mapping % len(SUPPLIERS)],
                    "plan_id": 1000 + mapping,
                    "units": 1,
                    "supplier_quantity": 1,
                    "state": state,
                    "reason": "out of stock" if state is FulfilmentState.NEEDS_ATTENTION else None,
                    "trans_id": f"T{n}" if bought else None,
                    "supplier_status": "completed" if bought else None,
                    "credentials_enc": "x" * 120 if bought else None,
                    "delivered_count": 1 if bought else 0,
                    "annotated_count": 1 if state is FulfilmentState.ANNOTATED else 0,
                    "polls": 1,
                    "failures": 0,
                    "lease_until": placed[order] + timedelta(minutes=5) if waiting else None,
                    "created_at": placed[order],
                    "updated_at": placed[order] + timedelta(seconds=20 + n % 40),
                }

        bulk(engine, table(Fulfilment), line_rows())
        bulk(
            engine,
            table(PurchaseAttempt),
            (
                {
                    "fulfilment_id": n + 1,
                    "supplier_name": SUPPLIERS[mapping_of(n * orders // lines, n) % 3],
                    "plan_id": 1000 + mapping_of(n * orders // lines, n),
                    "quantity": 1,
                    "outcome": BOUGHT[picked[n]],
                    "trans_id": f"T{n}" if BOUGHT[picked[n]] is AttemptOutcome.BOUGHT else None,
                    "amount": 1.5,
                    "started_at": placed[n * orders // lines],
                    "sent_at": placed[n * orders // lines],
                }
                for n in range(lines)
                if picked[n] in BOUGHT
            ),
        )
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Explicit ids were given: the sequences go on after them.
                for name in ("orders", "fulfilments"):
                    conn.execute(
                        text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), :top)"),
                        {"top": lines if name == "fulfilments" else orders},
                    )
                conn.execute(text("ANALYZE"))
            else:
                conn.execute(text("ANALYZE"))
            attention = conn.execute(
                select(func.max(table(Fulfilment).c.id)).where(
                    table(Fulfilment).c.state == FulfilmentState.NEEDS_ATTENTION
                )
            ).scalar_one()
    finally:
        runtime.stop()
    return Seeded(lines, orders, time.perf_counter() - started, int(attention or 1))


# ------------------------------------------------------------------------------------- console


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
        return port


def bridge_env(url: str, secret_key: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(BRIDGE_DATABASE_URL=url, BRIDGE_SECRET_KEY=secret_key, BRIDGE_LOG_LEVEL="WARNING")
    env.update(more)
    return env


@contextmanager
def console(url: str, secret_key: str) -> Iterator[httpx.Client]:
    """``bridge serve`` as a process, and a client logged in to its console."""
    port = free_port()
    env = bridge_env(
        url,
        secret_key,
        BRIDGE_PORT=str(port),
        BRIDGE_CONSOLE_INSECURE_COOKIES="true",
        BRIDGE_STOCK_SYNC_ENABLED="false",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.cli", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bridge serve exited with {process.returncode}")
            try:
                httpx.get(f"{base}/admin/login", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("bridge serve did not answer in 120 s") from None
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as client:
            match = CSRF_FIELD.search(client.get("/admin/login").text)
            assert match is not None, "the login page has no CSRF field"
            answer = client.post(
                "/admin/login",
                data={"username": USER, "password": PASSWORD, "csrftoken": match.group(1)},
            )
            if answer.status_code != 303:
                raise RuntimeError(f"logging in answered {answer.status_code}")
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def p95(samples: Sequence[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def page_p95(client: httpx.Client, path: str, samples: int) -> float:
    """p95 in ms of ``samples`` GETs of ``path`` (after one warm-up); each must be a 200."""
    timings = []
    for n in range(samples + 1):
        started = time.perf_counter()
        answer = client.get(path)
        elapsed = time.perf_counter() - started
        if answer.status_code != 200:
            raise RuntimeError(f"GET {path} answered {answer.status_code}")
        if n:
            timings.append(elapsed * 1000)
    return p95(timings)


def console_pages(line_id: int) -> dict[str, str]:
    return {
        "dashboard": "/admin/",
        "lines?state": "/admin/fulfilment/list?filter=state__eq%3Dneeds_attention",
        "line": f"/admin/lines/{line_id}",
        "mappings": "/admin/mappings",
        "unmapped": "/admin/unmapped",
    }


# ----------------------------------------------------------------------------------------- cli

CLI_LISTS = {
    "shops list": ["shops", "list"],
    "fulfilments list": ["fulfilments", "list"],
    "orders list": ["orders", "list"],
    "mappings list": ["mappings", "list"],
}


def cli_env(url: str, secret_key: str, workdir: Path) -> dict[str, str]:
    """What the CLI's processes run with: a private bytecode cache, as an installed ``bridge``
    has one (tests/bench/cli_startup.py explains why: without it, where the environment sets
    ``PYTHONDONTWRITEBYTECODE``, each process compiles every bridge module it imports)."""
    env = bridge_env(url, secret_key, PYTHONPYCACHEPREFIX=str(workdir / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def cli_seconds(env: dict[str, str], args: list[str], runs: int = 3) -> float:
    """The median of ``runs`` timed processes, after one untimed run that warms the cache."""
    timings = []
    for attempt in range(runs + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bridge.cli", *args], env=env, capture_output=True, text=True
        )
        if attempt:
            timings.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"bridge {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return statistics.median(timings)


# --------------------------------------------------------------------------------------- sweep


def timed(action: Callable[[], object], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def sweep_pass(url: str, secret_key: str) -> tuple[float, float, int]:
    """(one sweep pass in s, a SELECT 1 round trip in s, rows it sent again)."""
    from bridge.runtime.wiring import Runtime
    from bridge.settings import Settings
    from workers.fulfilment.sweep import sweep

    runtime = Runtime(Settings(database_url=url, redis_url=None), secret_key=secret_key)
    try:

        def select_one() -> None:
            with runtime.engine.connect() as conn:
                conn.execute(text("SELECT 1")).scalar_one()

        anchor = timed(select_one, 20)
        started = time.perf_counter()
        sent = sweep(runtime.ctx)
        first = time.perf_counter() - started
    finally:
        runtime.stop()
    return first, anchor, len(sent)


# -------------------------------------------------------------------------------------- ingest


def ingest_on(db_path: Path | None, workdir: Path, secret_key: str, seconds: float) -> float:
    """Requests/s of tests/bench/ingest.py's bridge (or, with no file, its anchor)."""
    secret = secrets.token_urlsafe(24)
    env = dict(os.environ)
    env[ingest.SECRET_KEY_ENV] = secret_key
    env[ingest.WEBHOOK_SECRET_ENV] = secret
    env.pop("BRIDGE_REDIS_URL", None)
    kind = "anchor" if db_path is None else "bridge"
    before = ingest.count_rows(db_path)[0] if db_path is not None and db_path.exists() else 0
    server = ingest.Server(kind, env, db_path)
    try:
        result: ingest.RunResult = asyncio.run(
            ingest.drive(server, client="raw", secret=secret, warmup=1.0, seconds=seconds)
        )
    finally:
        code = server.stop()
    if result.failures or code != 0:
        raise RuntimeError(f"ingest {kind}: {result.failure_examples} (exit {code})")
    if db_path is not None:
        events = ingest.count_rows(db_path)[0] - before
        if events != result.ok_total:
            raise RuntimeError(f"ingest: {result.ok_total} answers 200 but {events} events")
    rps: float = result.rps
    return rps


def ingest_ratios(
    seeded: Path, workdir: Path, secret_key: str, seconds: float
) -> tuple[float, float]:
    """(ratio on a fresh file, ratio on the seeded file), each bridge run between anchors."""
    anchors = [ingest_on(None, workdir, secret_key, seconds)]
    fresh = ingest_on(workdir / "fresh.db", workdir, secret_key, seconds)
    anchors.append(ingest_on(None, workdir, secret_key, seconds))
    full = ingest_on(seeded, workdir, secret_key, seconds)
    anchors.append(ingest_on(None, workdir, secret_key, seconds))
    anchor = statistics.fmean(anchors)
    return fresh / anchor, full / anchor


# ------------------------------------------------------------------------------------ backends


@dataclass
class Figures:
    backend: str
    lines: int
    seed_s: float
    size_bytes: int
    pages_ms: dict[str, float] = field(default_factory=dict)
    page_anchor_ms: float = 0.0
    cli_s: dict[str, float] = field(default_factory=dict)
    cli_anchor_s: float = 0.0
    sweep_s: float = 0.0
    sweep_anchor_s: float = 0.0
    sweep_sent: int = 0
    ingest_fresh: float | None = None
    ingest_seeded: float | None = None
    misses: list[str] = field(default_factory=list)

    def per_100k_mb(self) -> float:
        return self.size_bytes / 1e6 / (self.lines / 100_000)


@contextmanager
def postgres_database(base_url: str) -> Iterator[str]:
    """A fresh database on ``base_url``'s server, dropped afterwards."""
    name = f"bench_year_{os.getpid()}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def size_of(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                return int(
                    conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
                )
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            pages = conn.execute(text("PRAGMA page_count")).scalar_one()
            size = conn.execute(text("PRAGMA page_size")).scalar_one()
            return int(pages) * int(size)
    finally:
        engine.dispose()


def measure(backend: str, url: str, args: argparse.Namespace, workdir: Path) -> Figures:
    secret_key = secrets.token_urlsafe(32)
    print(f"[{backend}] seeding {round(LINES * args.scale):,} lines ...", flush=True)
    seeded = seed(url, secret_key, args.scale)
    figures = Figures(backend, seeded.lines, seeded.seconds, size_of(url))
    print(
        f"[{backend}] seeded in {seeded.seconds:.0f} s; "
        f"{figures.size_bytes / 1e6:.0f} MB ({figures.per_100k_mb():.1f} MB per 100,000 lines)",
        flush=True,
    )
    with console(url, secret_key) as client:
        # The anchor: the login page, which a logged-in session is sent away from.
        with httpx.Client(base_url=client.base_url, timeout=60) as anonymous:
            figures.page_anchor_ms = page_p95(anonymous, "/admin/login", args.samples)
        for name, path in console_pages(seeded.line_id).items():
            figures.pages_ms[name] = page_p95(client, path, args.samples)
            print(f"[{backend}] page {name}: p95 {figures.pages_ms[name]:.0f} ms", flush=True)
    env = cli_env(url, secret_key, workdir)
    figures.cli_anchor_s = cli_seconds(env, ["--help"])
    for name, command in CLI_LISTS.items():
        figures.cli_s[name] = cli_seconds(env, command)
        print(f"[{backend}] {name}: {figures.cli_s[name]:.2f} s", flush=True)
    figures.sweep_s, figures.sweep_anchor_s, figures.sweep_sent = sweep_pass(url, secret_key)
    print(f"[{backend}] sweep: {figures.sweep_s:.3f} s ({figures.sweep_sent} sent)", flush=True)
    db_path = Path(make_url(url).database or "") if backend == "sqlite" else None
    if db_path is not None and not args.no_ingest:
        figures.ingest_fresh, figures.ingest_seeded = ingest_ratios(
            db_path, workdir, secret_key, args.ingest_seconds
        )
    for name, ms in figures.pages_ms.items():
        if ms > PAGE_BOUND_MS:
            figures.misses.append(f"page {name} p95 {ms:.0f} ms > {PAGE_BOUND_MS:.0f}")
    for name, seconds in figures.cli_s.items():
        if seconds > CLI_BOUND_S:
            figures.misses.append(f"{name} {seconds:.2f} s > {CLI_BOUND_S}")
    if figures.sweep_s > SWEEP_BOUND_S:
        figures.misses.append(f"sweep {figures.sweep_s:.2f} s > {SWEEP_BOUND_S}")
    return figures


def report(figures: Figures) -> None:
    b = figures.backend
    print(f"--- {b}: {figures.lines:,} lines, seeded in {figures.seed_s:.0f} s")
    print(
        f"  size: {figures.size_bytes / 1e6:.0f} MB, "
        f"{figures.per_100k_mb():.1f} MB per 100,000 lines"
    )
    print(f"  console anchor (login page) p95 {figures.page_anchor_ms:.1f} ms")
    for name, ms in figures.pages_ms.items():
        print(f"  page {name:<12} p95 {ms:7.1f} ms  ({ms / figures.page_anchor_ms:5.1f}x anchor)")
    print(f"  cli anchor (--help) {figures.cli_anchor_s:.2f} s")
    for name, seconds in figures.cli_s.items():
        print(f"  {name:<17} {seconds:5.2f} s  ({seconds / figures.cli_anchor_s:4.1f}x anchor)")
    print(
        f"  sweep pass {figures.sweep_s * 1000:.0f} ms, {figures.sweep_sent} sent "
        f"({figures.sweep_s / figures.sweep_anchor_s:.0f}x a SELECT 1 of "
        f"{figures.sweep_anchor_s * 1000:.2f} ms)"
    )
    if figures.ingest_fresh is not None and figures.ingest_seeded is not None:
        print(
            f"  ingest ratio: fresh file {figures.ingest_fresh:.2f}, "
            f"seeded file {figures.ingest_seeded:.2f}"
        )
    for miss in figures.misses:
        print(f"  MISS: {miss}")
    pages = " ".join(f"{k}={v:.0f}ms" for k, v in figures.pages_ms.items())
    cli = " ".join(f"{k.split()[0]}={v:.2f}s" for k, v in figures.cli_s.items())
    ingest_text = (
        f" ingest={figures.ingest_fresh:.2f}/{figures.ingest_seeded:.2f}"
        if figures.ingest_fresh is not None and figures.ingest_seeded is not None
        else ""
    )
    print(
        f"year_{b}: lines={figures.lines} mb_per_100k={figures.per_100k_mb():.1f} {pages} "
        f"{cli} sweep={figures.sweep_s:.3f}s{ingest_text}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: a million lines")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--samples", type=int, default=20, help="GETs per console page")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest ratio")
    parser.add_argument("--ingest-seconds", type=float, default=4.0)
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: temp)")
    args = parser.parse_args(argv)
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="bench-year-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        if args.backend in ("sqlite", "both"):
            results.append(measure("sqlite", f"sqlite:///{workdir / 'year.db'}", args, workdir))
        if args.backend in ("postgresql", "both"):
            with postgres_database(args.postgres_url) as url:
                results.append(measure("postgresql", url, args, workdir))
    for figures in results:
        report(figures)
    return 1 if any(figures.misses for figures in results) else 0


if __name__ == "__main__":
    sys.exit(main())
