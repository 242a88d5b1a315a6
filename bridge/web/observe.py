"""``/readyz`` and ``/metrics`` of a web process: is it fit to take webhooks, and what it counts.

Both answer within a few seconds whatever their sources do. Each blocking read (the database,
Redis) runs in a thread of its own, one at a time: requests that arrive while it runs wait for
the same read, so a database that stopped answering holds one thread, never one per probe, and
never the thread pool the webhook endpoint uses.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge import metrics
from bridge.db import READ_ONLY
from bridge.logs import event
from bridge.migrate import HEAD, current_revisions
from bridge.models import Fulfilment
from bridge.supplier.models import Supplier
from bridge.web.guard import error_response
from workers.queue.context import Context
from workers.queue.dispatch import QUEUE

# A readiness check slower than this counts as failed: an orchestrator's probe must not hang.
CHECK_TIMEOUT_SECONDS = 2.0
# A scrape whose shared state takes longer is answered 503 (Prometheus' default timeout: 10 s).
SCRAPE_TIMEOUT_SECONDS = 8.0

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """``work`` in a thread of its own, one run at a time; callers during a run share its result."""

    def __init__(self, work: Callable[[], T], name: str) -> None:
        self._work = work
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._running: Future[T] | None = None

    async def __call__(self, timeout: float) -> T:
        """The result of the run under way or of a new one; TimeoutError after ``timeout``
        (the run goes on, and the next caller waits for it)."""
        # Called on the event loop only: no lock needed around _running.
        if self._running is None or self._running.done():
            self._running = self._executor.submit(self._work)
        running = asyncio.wrap_future(self._running)
        return await asyncio.wait_for(asyncio.shield(running), timeout)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


PROBE_CLIENT_NAME = "bridge-readyz"


def probe_client(broker: dramatiq.Broker) -> redis.Redis | None:
    """A client of the broker's Redis that gives up quickly (the broker's own waits as long as
    a worker should), or None for the embedded broker."""
    if not isinstance(broker, RedisBroker):
        return None
    pool = broker.client.connection_pool
    kwargs = {
        **pool.connection_kwargs,
        "socket_timeout": CHECK_TIMEOUT_SECONDS,
        "socket_connect_timeout": CHECK_TIMEOUT_SECONDS,
        # Once more at once: a pooled connection a Redis restart broke is replaced, not reported.
        "retry": Retry(NoBackoff(), 1),
        # Named, so that Redis's CLIENT LIST tells an operator what this connection is.
        "client_name": PROBE_CLIENT_NAME,
    }
    # Its own pool, owned by the client: closing the client disconnects it.
    return redis.Redis.from_pool(
        redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
    )


class Observe:
    """The readiness probe and the metrics page of one web process.

    ``broker``: the queue whose reachability and depth are reported (None: no depth, and nothing
    to reach, as with the embedded broker); ``ctx``: the workers' context, whose key budgets
    tell the requests left today (None: not reported); ``token``: required as a bearer token by
    /metrics when set.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        broker: dramatiq.Broker | None = None,
        ctx: Context | None = None,
        token: SecretStr | None = None,
    ) -> None:
        self._engine = engine
        self._broker = broker
        self._ctx = ctx
        secret = token.get_secret_value() if token is not None else ""
        self._token = secret.encode() if secret else None
        self._reader = engine.execution_options(**{READ_ONLY: True})
        self._redis = probe_client(broker) if broker is not None else None
        self._exposition = metrics.Exposition(self.shared_state)
        self._revisions = SingleFlight(lambda: current_revisions(self._engine), "readyz-db")
        self._ping = SingleFlight(self._ping_broker, "readyz-broker")
        self._render = SingleFlight(self._exposition.render, "metrics")

    async def ready(self, _: Request) -> Response:
        """200 when the database answers at the newest schema and the broker answers, else 503
        naming each check that failed."""
        database_check, broker_check = _checked(self._revisions), _checked(self._ping)
        database, broker = await asyncio.gather(database_check, broker_check)
        checks = {"database": "ok", "migrations": "ok", "broker": "ok"}
        if isinstance(database, str):
            checks["database"], checks["migrations"] = database, "not checked"
        elif database != {HEAD}:
            found = ", ".join(sorted(database)) if database else "none"
            checks["migrations"] = f"at {found}, the newest is {HEAD}: run `bridge db upgrade`"
        if isinstance(broker, str):
            checks["broker"] = broker
        failed = [name for name, result in checks.items() if result != "ok"]
        body = {"ok": not failed, "checks": checks, "failed": failed}
        return JSONResponse(body, status_code=503 if failed else 200)

    async def scrape(self, request: Request) -> Response:
        if self._token is not None and not self._authorized(request):
            return error_response(401, "missing or wrong bearer token")
        try:
            text = await self._render(SCRAPE_TIMEOUT_SECONDS)
        except TimeoutError:
            return error_response(503, "metrics not read in time; please retry")
        return Response(text, media_type=metrics.CONTENT_TYPE)

    def _authorized(self, request: Request) -> bool:
        assert self._token is not None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # Compared in constant time, whatever the scheme: the time says nothing of the token.
        matches = hmac.compare_digest(given.strip().encode(), self._token)
        return matches and scheme.lower() == "bearer"

    def shared_state(self) -> metrics.SharedState:
        """The shared-state gauges, read now; a source that fails is left out (blocking)."""
        return metrics.SharedState(
            fulfilments=_attempt("database", self._fulfilments),
            queue=_attempt("broker", self._queue_depth) if self._broker is not None else None,
            budgets=_attempt("budget", self._budgets) if self._ctx is not None else None,
        )

    def close(self) -> None:
        for flight in (self._revisions, self._ping, self._render):
            flight.close()
        if self._redis is not None:
            self._redis.close()

    def _ping_broker(self) -> None:
        if self._redis is not None:
            self._redis.ping()

    def _fulfilments(self) -> dict[str, int]:
        with self._reader.connect() as conn:
            rows = conn.execute(
                select(Fulfilment.state, func.count()).group_by(col(Fulfilment.state))
            ).all()
        return {str(state): int(count) for state, count in rows}

    def _queue_depth(self) -> dict[str, int]:
        broker = self._broker
        if isinstance(broker, RedisBroker):
            assert self._redis is not None
            # dramatiq keeps a queue's waiting ids in a list and a delayed message in the delay
            # queue's hash until a worker moves it to the queue when due.
            prefix = f"{broker.namespace}:"
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.llen(prefix + QUEUE)
                pipe.hlen(prefix + dq_name(QUEUE) + ".msgs")
                ready, delayed = pipe.execute()
            return {metrics.READY: int(ready), metrics.DELAYED: int(delayed)}
        if isinstance(broker, StubBroker):
            # A worker takes a delayed message off the queue at once and holds it until due;
            # the queue counts it as unfinished until then.
            waiting, held = broker.queues.get(QUEUE), broker.queues.get(dq_name(QUEUE))
            return {
                metrics.READY: waiting.qsize() if waiting is not None else 0,
                metrics.DELAYED: held.unfinished_tasks if held is not None else 0,
            }
        raise TypeError(f"no queue depth for {type(broker).__name__}")  # workers/queue/broker.py

    def _budgets(self) -> list[metrics.BudgetToday]:
        ctx = self._ctx
        assert ctx is not None
        with Session(self._reader) as session:
            suppliers = list(session.exec(select(Supplier).where(col(Supplier.enabled))))
        found = []
        for supplier in suppliers:
            # The limiter's own count (Redis or this process), never a call to the supplier.
            budget = ctx.supplier_budget(supplier)
            used = budget.used_today()
            if used is None:  # Redis, which holds every key's count, did not answer
                raise ConnectionError("the budget's count was not read")
            found.append(metrics.BudgetToday(supplier.name, used, budget.rule.daily_limit))
        return found


async def _checked(flight: SingleFlight[T]) -> T | str:
    """The check's result, or why it failed (one line, never quoting a URL or a password)."""
    try:
        return await flight(CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the name says which
        return f"not reachable ({type(exc).__name__})"


def _attempt(source: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - the scrape goes on without this source
        event("metrics.source.unread", logging.WARNING, source=source, error=type(exc).__name__)
        return None
