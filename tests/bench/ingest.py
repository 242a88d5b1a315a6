"""Ingest benchmark: the webhook endpoint against a bare Starlette JSON endpoint.

Run it from the repository root::

    uv run python tests/bench/ingest.py   # ~1 min: anchor, bridge, anchor, bridge, anchor
    uv run python tests/bench/ingest.py --seconds 4 --rounds 1
    uv run python tests/bench/ingest.py --client httpx   # cross-check the load generator

What it measures, in one run:

* **bridge**: ``POST /webhooks/pancake/{shop_id}`` as ``bridge serve`` builds it
  (``Runtime(settings, secret_key=...)``: auto-migrated fresh SQLite file in WAL mode with
  ``synchronous=FULL``, the embedded broker, group-committing ``EventRecorder``), served by uvicorn.
  Workers and the scheduler do not run, so this is ingestion only. The shop is created with
  ``bridge.admin.add_shop`` and a known webhook secret; every request carries that secret in
  ``X-Bridge-Secret`` and a realistic order body (the flat fixture) with a trigger status and a
  distinct order id, so every request does the full work: event insert, order insert, enqueue.
* **anchor**: a bare Starlette endpoint on the same path that only does ``await request.json()``
  and answers a small JSON 200; the ceiling for "a Python ASGI endpoint that reads JSON".

Each server is a separate ``uvicorn`` process (this script re-invoking itself with ``--serve``),
with identical uvicorn options, so the load generator never shares the server's GIL. On this 2-core
machine that gives one core to the server and one to the client. Access logs are off for both:
they would add the same constant cost to both sides and only make the ratio look better.

The load is 16 concurrent keep-alive connections, each with one request in flight, for a warm-up
(discarded) and then a fixed measurement window; a request counts towards throughput and latency
when it completes inside the window. Every response must be 200 (the bridge's must also say
``queued``); after each bridge run the SQLite file is opened and its ``webhook_events`` and
``orders`` rows must equal the number of 200 responses (warm-up included), proving that durable
recording happened. Any failure is reported and the script exits 1.

The load generator is a minimal HTTP/1.1 client on asyncio streams, not httpx: measured here,
httpx.AsyncClient spends ~2.4 ms of client CPU per request (under 400 req/s with its process at
~95% of a core), so it saturates long before either server and reports a ratio near 1 that says
nothing about the bridge. The raw client needs ~60 us per request, and each run prints the CPU
share of both processes so a client-bound run shows itself (the client sits at 20-35% of a core
against the anchor, the server near 100%).

Runs alternate, anchor then ``--rounds`` (default 2) times bridge, anchor, and the ratio is the
mean bridge throughput over the mean anchor throughput: bracketing every bridge run with anchor
runs cancels slow drift of this shared VM (its anchor figure moves by 10-20% between runs) better
than one run of each. The last line is ``ingest_ratio=<bridge_rps/anchor_rps>``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import itertools
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FIXTURE = (
    Path(__file__).resolve().parents[1] / "fixtures" / "pancake" / "orders__confirmed_flat.json"
)
HOST = "127.0.0.1"
SHOP_ID = "4"  # the flat fixture's shop: a body naming another shop is ignored
TRIGGER_STATUS = 1
CONNECTIONS = 16
FIRST_ORDER_ID = 1_000_000
WEBHOOK_SECRET_ENV = "BENCH_WEBHOOK_SECRET"
SECRET_KEY_ENV = "BRIDGE_SECRET_KEY"


# --------------------------------------------------------------------------------------- servers


def run_uvicorn(app: Starlette, fd: int) -> None:
    """The one uvicorn configuration, for both servers, on the listening socket the parent made.

    uvicorn picks uvloop/httptools when installed and asyncio/h11 otherwise; the same choice
    applies to both sides and is printed at start.
    """
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    try:
        uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it shut down on, as uvicorn.run
        pass


def anchor_app() -> Starlette:
    async def webhook(request: Request) -> Response:
        await request.json()
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/webhooks/pancake/{shop_id}", webhook, methods=["POST"])])


def serve_anchor(fd: int) -> None:
    run_uvicorn(anchor_app(), fd)


def serve_bridge(fd: int, db_path: Path) -> None:
    # Imported here so the anchor process does not pay for (or get warmed by) the bridge's imports.
    from bridge.db import session_scope
    from bridge.pancake.shops import add_shop
    from bridge.runtime.wiring import Runtime
    from bridge.settings import Settings

    settings = Settings(database_url=f"sqlite:///{db_path}", redis_url=None, auto_migrate=True)
    runtime = Runtime(settings, secret_key=os.environ[SECRET_KEY_ENV])
    with session_scope(runtime.engine) as session:
        add_shop(
            session,
            runtime.box,
            SHOP_ID,
            api_key="bench-pancake-api-key",
            webhook_secret=os.environ[WEBHOOK_SECRET_ENV],
            trigger_statuses=[TRIGGER_STATUS],
        )
    try:  # no start_workers(): ingestion only
        run_uvicorn(runtime.app, fd)
    finally:
        runtime.stop()


class Server:
    """A ``--serve`` child process of this script."""

    def __init__(self, kind: str, env: dict[str, str], db_path: Path | None = None) -> None:
        self.kind = kind
        # The listening socket is made here and inherited, so no other process on this machine
        # can take the port between choosing it and binding it.
        with socket.create_server((HOST, 0), backlog=128) as listener:
            self.port: int = listener.getsockname()[1]
            fd = listener.fileno()
            command = [sys.executable, __file__, "--serve", kind, "--fd", str(fd)]
            if db_path is not None:
                command += ["--db", str(db_path)]
            self.process = subprocess.Popen(command, env=env, pass_fds=(fd,))
        deadline = time.monotonic() + 60
        while True:  # connections wait in the backlog until the app has started: any answer = ready
            if self.process.poll() is not None:
                raise RuntimeError(f"{kind} server exited with {self.process.returncode}")
            try:
                httpx.get(f"http://{HOST}:{self.port}/", timeout=1)
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"{kind} server did not start on port {self.port}") from None

    def cpu_seconds(self) -> float | None:
        """User + system CPU of the server process (all its threads), from /proc; None elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown, then our finally
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


# ------------------------------------------------------------------------------------------ load


class Bodies:
    """Realistic order bodies (the flat fixture) with a trigger status and a fresh id each."""

    def __init__(self) -> None:
        document = json.loads(FIXTURE.read_text())
        document["status"] = TRIGGER_STATUS
        marker = "987654321987654321"
        document["id"] = int(marker)
        text = json.dumps(document, ensure_ascii=False)
        prefix, suffix = text.split(marker)
        self._prefix = prefix.encode()
        self._suffix = suffix.encode()
        self._ids = itertools.count(FIRST_ORDER_ID)

    def next(self) -> bytes:
        return self._prefix + str(next(self._ids)).encode() + self._suffix


@dataclass
class Tally:
    window_start: float
    window_end: float
    expect: bytes | None  # a fragment every 200 body must contain
    ok_total: int = 0  # every 200 whose body matched, warm-up included (what the database holds)
    failures: int = 0
    failure_examples: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, measurement window only

    def done(self, started: float, ended: float, status: int, body: bytes) -> None:
        if status != 200 or (self.expect is not None and self.expect not in body):
            self.fail(f"HTTP {status}: {body[:200]!r}")
            return
        self.ok_total += 1
        if self.window_start <= ended <= self.window_end:
            self.latencies.append(ended - started)

    def fail(self, reason: str) -> None:
        self.failures += 1
        if len(self.failure_examples) < 5:
            self.failure_examples.append(reason)


async def raw_worker(
    port: int, path: str, headers: dict[str, str], bodies: Bodies, tally: Tally, stop_at: float
) -> None:
    """HTTP/1.1 keep-alive over a bare asyncio stream: one request in flight per connection.

    The default client: ~60 us of client CPU per request, about 40x less than httpx, so the client
    process stays well below one core even against the anchor and the throughput measured is the
    server's (see the module docstring).
    """
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers.items()
    )
    head_bytes = head.encode()
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.perf_counter() < stop_at:
            if writer is None or reader is None:
                try:
                    reader, writer = await asyncio.open_connection(HOST, port)
                except OSError as exc:
                    tally.fail(f"connect: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.1)
                    continue
            body = bodies.next()
            started = time.perf_counter()
            try:
                writer.write(head_bytes + b"Content-Length: %d\r\n\r\n" % len(body) + body)
                response_head = await reader.readuntil(b"\r\n\r\n")
                status = int(response_head[9:12])
                lower = response_head.lower()
                at = lower.find(b"\r\ncontent-length:")
                if at < 0:
                    raise ValueError("response without content-length")
                length = int(lower[at + 17 : lower.index(b"\r\n", at + 2)])
                response_body = await reader.readexactly(length)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                tally.fail(f"{type(exc).__name__}: {exc}")
                writer.close()
                reader = writer = None
                continue
            tally.done(started, time.perf_counter(), status, response_body)
            if b"\r\nconnection: close" in lower:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def httpx_worker(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    bodies: Bodies,
    tally: Tally,
    stop_at: float,
) -> None:
    """The same loop through httpx (``--client httpx``), kept to cross-check the raw client."""
    while time.perf_counter() < stop_at:
        body = bodies.next()
        started = time.perf_counter()
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.fail(f"{type(exc).__name__}: {exc}")
            continue
        tally.done(started, time.perf_counter(), response.status_code, response.content)


@dataclass
class RunResult:
    kind: str
    rps: float
    p50_ms: float
    p99_ms: float
    ok_total: int
    failures: int
    failure_examples: list[str]
    client_cpu: float  # share of one core
    server_cpu: float | None  # share of one core

    @property
    def server_us_per_request(self) -> float | None:
        """Server CPU per request: unlike req/s, barely moved by other load on the machine."""
        if self.server_cpu is None or self.rps <= 0:
            return None
        return self.server_cpu / self.rps * 1e6


async def drive(
    server: Server, *, client: str, secret: str, warmup: float, seconds: float
) -> RunResult:
    path = f"/webhooks/pancake/{SHOP_ID}"
    headers = {"Content-Type": "application/json", "X-Bridge-Secret": secret}
    bodies = Bodies()
    start = time.perf_counter()
    tally = Tally(
        window_start=start + warmup,
        window_end=start + warmup + seconds,
        expect=b'"outcome":"queued"' if server.kind == "bridge" else None,
    )
    stop_at = tally.window_end

    async def measure_cpu() -> tuple[float, float | None]:
        await asyncio.sleep(max(0.0, tally.window_start - time.perf_counter()))
        client0, server0 = time.process_time(), server.cpu_seconds()
        await asyncio.sleep(max(0.0, tally.window_end - time.perf_counter()))
        client1, server1 = time.process_time(), server.cpu_seconds()
        server_cpu = None if server0 is None or server1 is None else (server1 - server0) / seconds
        return (client1 - client0) / seconds, server_cpu

    cpu = asyncio.create_task(measure_cpu())
    if client == "raw":
        await asyncio.gather(
            *(
                raw_worker(server.port, path, headers, bodies, tally, stop_at)
                for _ in range(CONNECTIONS)
            )
        )
    else:
        limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
        async with httpx.AsyncClient(
            base_url=f"http://{HOST}:{server.port}", limits=limits, timeout=30
        ) as http:
            await asyncio.gather(
                *(
                    httpx_worker(http, path, headers, bodies, tally, stop_at)
                    for _ in range(CONNECTIONS)
                )
            )
    client_cpu, server_cpu = await cpu
    latencies = sorted(tally.latencies)
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    else:
        p50 = p99 = float("nan")
    return RunResult(
        kind=server.kind,
        rps=len(latencies) / seconds,
        p50_ms=p50 * 1000,
        p99_ms=p99 * 1000,
        ok_total=tally.ok_total,
        failures=tally.failures,
        failure_examples=tally.failure_examples,
        client_cpu=client_cpu,
        server_cpu=server_cpu,
    )


def count_rows(db_path: Path) -> tuple[int, int, int]:
    """(webhook_events, of which outcome=queued, orders) in the bridge's SQLite file."""
    with sqlite3.connect(db_path) as conn:
        events = conn.execute("SELECT count(*) FROM webhook_events").fetchone()[0]
        queued = conn.execute(
            "SELECT count(*) FROM webhook_events WHERE outcome = 'queued'"
        ).fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
    conn.close()
    return int(events), int(queued), int(orders)


# ---------------------------------------------------------------------------------- orchestrator


def run_one(
    kind: str, args: argparse.Namespace, workdir: Path, index: int
) -> tuple[RunResult, bool]:
    """One server, one load run; returns the result and whether every check passed."""
    secret = secrets.token_urlsafe(24)
    env = dict(os.environ)
    env[SECRET_KEY_ENV] = secrets.token_urlsafe(32)
    env[WEBHOOK_SECRET_ENV] = secret
    env.pop("BRIDGE_REDIS_URL", None)
    db_path = workdir / f"bridge-{index}.db" if kind == "bridge" else None
    server = Server(kind, env, db_path)
    try:
        result = asyncio.run(
            drive(
                server, client=args.client, secret=secret, warmup=args.warmup, seconds=args.seconds
            )
        )
    finally:
        code = server.stop()
    cost = result.server_us_per_request
    server_cpu = (
        "n/a"
        if result.server_cpu is None or cost is None
        else f"{result.server_cpu:.0%} ({cost:.0f} us/req)"
    )
    print(
        f"  {kind:<6} {result.rps:6.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
        f"p99 {result.p99_ms:6.2f} ms  cpu: server {server_cpu}, client {result.client_cpu:.0%}"
    )
    if result.server_cpu is not None and result.server_cpu < 0.85:
        print("  note: the server got less than 85% of a core; the machine is busy, req/s is noisy")
    passed = True
    if result.failures:
        passed = False
        print(f"  FAILED: {result.failures} requests did not get a good 200, e.g.:")
        for example in result.failure_examples:
            print(f"    {example}")
    if code != 0:
        passed = False
        print(f"  FAILED: the {kind} server exited with {code}")
    if db_path is not None:
        events, queued, orders = count_rows(db_path)
        durable = events == queued == orders == result.ok_total
        passed = passed and durable
        print(
            f"  {'ok' if durable else 'FAILED'}: {result.ok_total} responses 200 "
            f"(warm-up included), {events} webhook_events rows ({queued} queued), "
            f"{orders} orders rows"
        )
    return result, passed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=8.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=1.5, help="discarded warm-up per run")
    parser.add_argument(
        "--rounds", type=int, default=2, help="anchor, then N x (bridge, anchor); default 2"
    )
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: a temp dir)")
    parser.add_argument("--serve", choices=["anchor", "bridge"], help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.serve == "anchor":
        serve_anchor(args.fd)
        return 0
    if args.serve == "bridge":
        serve_bridge(args.fd, args.db)
        return 0

    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    print(
        f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); "
        f"uvicorn {uvicorn.__version__} ({loop}, {http}), one process each; "
        f"{CONNECTIONS} keep-alive connections, {args.client} client; "
        f"warm-up {args.warmup:g} s, window {args.seconds:g} s"
    )
    with tempfile.TemporaryDirectory(prefix="bench-ingest-", dir=args.dir) as tmp:
        workdir = Path(tmp)
        order = ["anchor"] + ["bridge", "anchor"] * args.rounds
        results: list[RunResult] = []
        all_passed = True
        for index, kind in enumerate(order):
            try:
                result, passed = run_one(kind, args, workdir, index)
            except RuntimeError as exc:  # a server that did not start; its stderr is above
                print(f"FAILED: {exc}")
                return 1
            results.append(result)
            all_passed = all_passed and passed

    anchor = [r for r in results if r.kind == "anchor"]
    bridge = [r for r in results if r.kind == "bridge"]
    anchor_rps = statistics.fmean(r.rps for r in anchor)
    bridge_rps = statistics.fmean(r.rps for r in bridge)
    print(
        f"anchor: {anchor_rps:.0f} req/s (mean of {len(anchor)}), "
        f"p50 {statistics.fmean(r.p50_ms for r in anchor):.2f} ms, "
        f"p99 {statistics.fmean(r.p99_ms for r in anchor):.2f} ms"
    )
    print(
        f"bridge: {bridge_rps:.0f} req/s (mean of {len(bridge)}), "
        f"p50 {statistics.fmean(r.p50_ms for r in bridge):.2f} ms, "
        f"p99 {statistics.fmean(r.p99_ms for r in bridge):.2f} ms"
    )
    costs = [(r.kind, r.server_us_per_request) for r in results]
    if all(cost is not None for _, cost in costs):
        anchor_us = statistics.fmean(c for k, c in costs if k == "anchor" and c is not None)
        bridge_us = statistics.fmean(c for k, c in costs if k == "bridge" and c is not None)
        print(
            f"server CPU per request: anchor {anchor_us:.0f} us, bridge {bridge_us:.0f} us "
            f"(cpu_ratio={anchor_us / bridge_us:.2f}: the ratio with a full core each)"
        )
    if not all_passed or anchor_rps <= 0:
        all_passed = False
        print("FAILED: see above; the figures are not trustworthy")
    print(f"ingest_ratio={bridge_rps / anchor_rps if anchor_rps > 0 else 0.0:.2f}")
    return 0 if all_passed else 1


if __name__ == "__main__":
    sys.exit(main())
