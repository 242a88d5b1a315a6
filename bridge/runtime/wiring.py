"""The wiring shared by `bridge run`, `serve`, `worker`, the demo and the end-to-end tests.

This is the one place that knows every room: it names the steps each actor runs and the jobs
the scheduler runs, so the queue floor (``workers``) knows no domain and no domain knows another's
actors. It imports nothing from ``bridge.dev``: the simulators are only ever wired in by the
sandbox, on top of this.
"""

from __future__ import annotations

import dramatiq
import uvicorn
from dramatiq.brokers.stub import StubBroker
from starlette.applications import Starlette

from bridge import metrics
from bridge.logs import protect_library_loggers
from bridge.runtime.startup import open_database
from bridge.secrets import SecretBox, prove_key
from bridge.settings import Settings
from bridge.supplier.budget import Budgets
from bridge.web.app import create_app
from bridge.web.console.app import Console
from bridge.web.ingest import EventRecorder
from bridge.web.limits import HttpLimits
from bridge.web.observe import Observe
from bridge.web.server import ServerThread, server_config
from workers.alerts.conditions import watch_conditions
from workers.alerts.outbox import due_notifications, send_notifications
from workers.fulfilment.annotate import annotate
from workers.fulfilment.catchup import catch_up, due_catchups
from workers.fulfilment.claims import recover_dead_workers
from workers.fulfilment.deliver import deliver
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import purchase
from workers.fulfilment.retention import prune_old_rows
from workers.fulfilment.settle import settle
from workers.fulfilment.sweep import resend_lost_queue, sweep
from workers.queue.actors import Step, declare_actors
from workers.queue.broker import build_broker
from workers.queue.context import Context
from workers.queue.dispatch import (
    ACCOUNT_CHECK,
    ALERT_NOTIFY,
    ANNOTATE,
    CATCHUP,
    DELIVER,
    INTAKE,
    PURCHASE,
    READINGS,
    SETTLE,
    STOCK_SYNC,
    Dispatcher,
)
from workers.queue.heartbeat import Heartbeat, new_worker_id
from workers.queue.scheduler import Job, Scheduler
from workers.stock.sync import sync_stock
from workers.stock.triggers import periodic_stock_sync
from workers.suppliers.accounts import check_accounts, due_account_checks
from workers.suppliers.refresh import read_wanted

STEPS: dict[str, Step] = {
    INTAKE: intake,
    PURCHASE: purchase,
    SETTLE: settle,
    DELIVER: deliver,
    ANNOTATE: annotate,
    STOCK_SYNC: sync_stock,
    CATCHUP: catch_up,
    ACCOUNT_CHECK: check_accounts,
    ALERT_NOTIFY: send_notifications,
    READINGS: read_wanted,
}
PERIODIC: tuple[Job, ...] = (
    sweep,
    periodic_stock_sync,
    due_catchups,
    due_account_checks,
    prune_old_rows,
    # After every job that may raise or resolve an alert, so this sweep's changes go out now.
    watch_conditions,
    due_notifications,
)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        secret_key: str | None = None,
        broker: dramatiq.Broker | None = None,
    ) -> None:
        protect_library_loggers()
        # Before anything is counted: where this process's metrics live is chosen once.
        metrics.configure(settings.metrics_dir)
        self.settings = settings
        # The key is judged before the database is touched, and proved against the database
        # before anything reads a stored secret: a wrong key stops here, with one sentence.
        self.box = SecretBox.for_settings(settings, secret_key=secret_key)
        # Connected (and migrated when auto_migrate is on) here: a database that cannot be
        # opened is one sentence (bridge/runtime/startup.py), not a failure at the first query.
        self.engine = open_database(settings)
        try:
            self.key_proof = prove_key(self.engine, self.box)
        except BaseException:
            self.engine.dispose()
            raise
        self.broker = broker or build_broker(
            settings.redis_url,
            namespace=settings.redis_namespace,
            heartbeat_timeout_seconds=settings.heartbeat_timeout_seconds,
        )
        self.dispatch = Dispatcher(self.broker)
        # One id for this process: its heartbeat, the purchases it claims, the scheduler lease.
        self.worker_id = new_worker_id()
        self.ctx = Context(
            settings,
            self.engine,
            self.box,
            Budgets.from_settings(settings),
            worker_id=self.worker_id,
        )
        declare_actors(self.broker, self.ctx, self.dispatch, STEPS)
        self.recorder = EventRecorder(
            self.engine,
            self.dispatch,
            lease_seconds=settings.lease_seconds,
            stock_debounce_seconds=(
                settings.stock_debounce_seconds if settings.stock_sync_enabled else None
            ),
        )
        # The console reads suppliers only through the workers (it asks; they read).
        console = Console(
            self.engine,
            self.box,
            secret_key or settings.require_secret_key(),
            ctx=self.ctx,
            dispatch=self.dispatch,
        )
        self.observe = Observe(
            self.engine, broker=self.broker, ctx=self.ctx, token=settings.metrics_token
        )
        self.app: Starlette = create_app(
            self.engine, self.box, self.recorder, console=console.mount, observe=self.observe
        )
        self.scheduler = Scheduler(
            self.ctx, self.dispatch, PERIODIC, watch=(recover_dead_workers,), holder=self.worker_id
        )
        self.heartbeat = Heartbeat(self.ctx, self.worker_id)
        self._worker: dramatiq.Worker | None = None
        self._web: ServerThread | None = None

    def start_workers(self, *, with_scheduler: bool = True) -> None:
        self.heartbeat.start()
        self._worker = dramatiq.Worker(
            self.broker, worker_threads=self.settings.worker_threads, worker_timeout=200
        )
        self._worker.start()
        if isinstance(self.broker, StubBroker):
            # The embedded queue lived in the memory of whichever process ran before: all lost.
            self.dispatch(resend_lost_queue(self.ctx))
        if with_scheduler:
            self.scheduler.start()

    def start_web(self, *, host: str | None = None, port: int | None = None) -> ServerThread:
        """Serve the web app in a background thread (demo, tests)."""
        self._web = ServerThread(
            self.app,
            host=host or self.settings.host,
            port=port,
            limits=HttpLimits.from_settings(self.settings),
        ).start()
        return self._web

    def serve_forever(self) -> None:
        """Serve the web app in this thread until interrupted (`bridge run`, `bridge serve`)."""
        config = server_config(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            limits=HttpLimits.from_settings(self.settings),
            log_level="info",
            access_log=True,
        )
        uvicorn.Server(config).run()

    def stop(self) -> None:
        if self._web is not None:
            # It winds down while the workers do; it is gone before the engine and broker are.
            self._web.ask_to_stop()
        self.scheduler.stop()
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
            self.heartbeat.stop()
        if self._web is not None:
            self._web.stop()
            self._web = None
        self.recorder.stop()
        self.observe.close()
        self.ctx.close()
        self.broker.close()
        self.engine.dispose()
        metrics.process_stopped()
