"""Every metric of the bridge, each name defined once here, and their exposition (``/metrics``).

Two kinds, by where the truth is:

- **Observed where it happens**: counters and histograms (webhooks, supplier requests, purchase,
  delivery and webhook-to-note latency, stock pushes) and the last balance each supplier reported.
  Each process counts its own. With ``BRIDGE_METRICS_DIR`` every process writes them to files in
  that folder (prometheus-client's multiprocess mode) and the web process's ``/metrics`` adds up
  every process of the host that shares the folder, live or stopped since; without it, /metrics
  shows the serving process alone, which is all of it for `bridge run`. A folder cannot be shared
  across hosts: the /metrics of a host covers the processes of that host.
- **Read when scraped** (``SharedState``): lines by state, queue depth, requests left in each
  supplier key's daily budget. These describe what every process shares (the database, Redis),
  so the scraped web process reads them at that moment: right whichever host is scraped, and
  never summed across processes.

Label values are bounded words: states, endpoints, error codes, outcomes, supplier names (set
by the operator). Never an order, line or attempt id, a key or a URL.

A process chooses its mode once, before its first observation (``configure``, which
``bridge.runtime.wiring.Runtime`` calls first thing): prometheus-client decides per value whether
it lives in memory or in a file when the value is made.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.context_managers import Timer
from prometheus_client.core import GaugeMetricFamily, Metric

from bridge.states import FulfilmentState

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Webhook type label for a request refused before its body was parsed.
UNPARSED = "unparsed"
# Queue depth label values (``SharedState.queue``).
READY = "ready"  # waiting for a worker
DELAYED = "delayed"  # held until due (a poll in 10 minutes, a retry after backoff)

# orders/create answers in well under a second normally; the supplier timeout (30 s) is the top.
PURCHASE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Instant plans deliver in seconds, manual ones in minutes to hours.
SLOW_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0)


@dataclass(frozen=True)
class _Instruments:
    registry: CollectorRegistry
    webhooks: Counter
    supplier_requests: Counter
    purchase: Histogram
    delivery: Histogram
    webhook_to_note: Histogram
    stock_pushes: Counter
    balance: Gauge


def _build() -> _Instruments:
    # `_created` series exist only in memory mode; without them both modes show the same names.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    registry = CollectorRegistry(auto_describe=True)
    return _Instruments(
        registry=registry,
        webhooks=Counter(
            "bridge_webhooks_total",
            "Pancake webhooks answered, by type and outcome (refusals are rejected:<why>).",
            ["type", "outcome"],
            registry=registry,
        ),
        supplier_requests=Counter(
            "bridge_supplier_requests_total",
            "Requests sent to supplier shops, by supplier, endpoint, outcome (ok, refused, "
            "rate_limited, unreachable, unknown) and error code (OTHER for a code the docs do "
            "not list).",
            ["supplier", "endpoint", "outcome", "code"],
            registry=registry,
        ),
        purchase=Histogram(
            "bridge_purchase_duration_seconds",
            "Round trip of orders/create, answered or not.",
            buckets=PURCHASE_BUCKETS,
            registry=registry,
        ),
        delivery=Histogram(
            "bridge_delivery_duration_seconds",
            "From the purchase's answer to every credential of the line delivered.",
            buckets=SLOW_BUCKETS,
            registry=registry,
        ),
        webhook_to_note=Histogram(
            "bridge_webhook_to_note_seconds",
            "From the order's first report (webhook or catch-up) to the line's credentials in "
            "the Pancake note.",
            buckets=SLOW_BUCKETS,
            registry=registry,
        ),
        stock_pushes=Counter(
            "bridge_stock_pushes_total",
            "Pancake variations/update_quantity calls, by outcome (ok, refused, unavailable).",
            ["outcome"],
            registry=registry,
        ),
        balance=Gauge(
            "bridge_supplier_balance",
            "The supplier account's balance as it last reported it (its account/balance, or "
            "the new_balance of an orders/create answer), in the supplier's currency.",
            ["supplier"],
            # The newest report wins, whichever process of the host heard it, and is kept
            # after that process stops: it is still the last balance known.
            multiprocess_mode="mostrecent",
            registry=registry,
        ),
    )


@dataclass
class _Setup:
    directory: Path | None = None
    instruments: _Instruments | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


_setup = _Setup()


def configure(directory: Path | None) -> None:
    """Write this process's metrics to files in ``directory`` (shared by the processes of one
    host), or keep them in memory (None). Only before the first observation; the same folder
    again is a no-op."""
    if directory is None:
        return
    directory = directory.absolute()
    with _setup.lock:
        if _setup.directory == directory:
            return
        if _setup.directory is not None or _setup.instruments is not None:
            raise RuntimeError(
                "metrics are already in use in this process; BRIDGE_METRICS_DIR is read once, "
                "before the first observation"
            )
        directory.mkdir(parents=True, exist_ok=True)
        os.environ[MULTIPROC_ENV] = str(directory)
        # File-backed values (prometheus-client picks them by the environment variable at
        # import, which may have come before the settings were read), named by host and pid.
        values.ValueClass = values.MultiProcessValue(process_identifier=process_identifier)  # type: ignore[no-untyped-call]
        _setup.directory = directory


def _instruments() -> _Instruments:
    built = _setup.instruments
    if built is None:
        with _setup.lock:
            if _setup.instruments is None:
                _setup.instruments = _build()
            built = _setup.instruments
    return built


def process_identifier() -> str:
    """What names this process's files in the metrics folder. The host name too, not the pid
    alone: every container's first process is pid 1, and containers of one host share a folder
    (deploy/compose.yaml)."""
    return f"{socket.gethostname()}_{os.getpid()}"


def process_stopped() -> None:
    """Bookkeeping when this process stops cleanly: gauges of live processes only (``live*``
    modes) forget it; counters and histograms keep what it counted, as they must."""
    if _setup.directory is not None:
        multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
            process_identifier(), str(_setup.directory)
        )


# Observations, one call per site.


def webhook(kind: str, outcome: str) -> None:
    """A webhook was answered; ``kind`` a known type, ``other`` or ``UNPARSED``."""
    _instruments().webhooks.labels(kind, outcome).inc()


def supplier_request(supplier: str, endpoint: str, outcome: str, code: str = "") -> None:
    """``supplier``: the operator's name for it ("" for a client made without one)."""
    _instruments().supplier_requests.labels(supplier, endpoint, outcome, code).inc()


def purchase_timer() -> Timer:
    """``with metrics.purchase_timer(): <orders/create>``; an exception is timed too."""
    return _instruments().purchase.time()


def delivered(took: timedelta) -> None:
    _instruments().delivery.observe(max(0.0, took.total_seconds()))


def noted(took: timedelta) -> None:
    _instruments().webhook_to_note.observe(max(0.0, took.total_seconds()))


def stock_push(outcome: str) -> None:
    _instruments().stock_pushes.labels(outcome).inc()


def supplier_balance(supplier: str, balance: float | None) -> None:
    """The supplier reported ``balance`` (None: this answer did not say)."""
    if balance is not None:
        _instruments().balance.labels(supplier).set(balance)


# Read when scraped.


@dataclass(frozen=True)
class BudgetToday:
    supplier: str
    used: int
    daily_limit: int


@dataclass(frozen=True)
class SharedState:
    """What the scraped process read of the shared state; None: that source could not be read
    (its gauges are left out, and ``bridge_state_read_ok`` says 0)."""

    fulfilments: Mapping[str, int] | None = None  # lines by state
    queue: Mapping[str, int] | None = None  # messages by READY / DELAYED
    budgets: Iterable[BudgetToday] | None = None  # enabled suppliers whose count was read


class _SharedCollector:
    def __init__(self, read: Callable[[], SharedState]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        state = self._read()
        read_ok = GaugeMetricFamily(
            "bridge_state_read_ok",
            "1 when this scrape could read the source of the shared-state gauges, else 0.",
            labels=["source"],
        )
        read_ok.add_metric(["database"], float(state.fulfilments is not None))
        read_ok.add_metric(["broker"], float(state.queue is not None))
        read_ok.add_metric(["budget"], float(state.budgets is not None))
        yield read_ok
        if state.fulfilments is not None:
            lines = GaugeMetricFamily(
                "bridge_fulfilments", "Order lines by state, now.", labels=["state"]
            )
            for line_state in FulfilmentState:
                lines.add_metric([line_state.value], state.fulfilments.get(line_state, 0))
            yield lines
        if state.queue is not None:
            queue = GaugeMetricFamily(
                "bridge_queue_messages",
                "Messages in the work queue: ready (waiting for a worker) or delayed (not due).",
                labels=["state"],
            )
            for name in (READY, DELAYED):
                queue.add_metric([name], state.queue.get(name, 0))
            yield queue
        if state.budgets is not None:
            left = GaugeMetricFamily(
                "bridge_supplier_budget_left_requests",
                "Requests the supplier key's daily limit still allows today (every process).",
                labels=["supplier"],
            )
            limit = GaugeMetricFamily(
                "bridge_supplier_budget_daily_limit_requests",
                "The daily request limit the key's budget enforces (the supplier's, or the "
                "configured one until account/info told it).",
                labels=["supplier"],
            )
            for budget in state.budgets:
                left.add_metric([budget.supplier], max(0, budget.daily_limit - budget.used))
                limit.add_metric([budget.supplier], budget.daily_limit)
            yield left
            yield limit


class Exposition:
    """What ``/metrics`` serves: the observed metrics of this host (the multiprocess folder) or
    of this process, and the shared state read by ``shared`` at that moment."""

    def __init__(
        self, shared: Callable[[], SharedState] | None = None, *, directory: Path | None = None
    ) -> None:
        """``directory``: the multiprocess folder to read; None: this process's own setup."""
        self._shared = shared
        self._directory = directory

    def render(self) -> bytes:
        """The text exposition; blocking (the shared state is read from the database)."""
        registry = CollectorRegistry(auto_describe=False)
        directory = self._directory or _setup.directory
        if directory is not None:
            # Every process's files, this one's included: its own instruments are not added
            # again, or they would count twice.
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                registry, path=str(directory)
            )
        else:
            registry.register(_instruments().registry)
        if self._shared is not None:
            registry.register(_SharedCollector(self._shared))
        return generate_latest(registry)
