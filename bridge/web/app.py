"""The web side: the Pancake webhook endpoint, health, readiness and metrics, and the console's
mount point.

The endpoint verifies, records and enqueues; it never calls Pancake or a supplier, so it answers
in milliseconds. Bad input is refused with a one-line reason and stores nothing; reasons never
quote the request. The body's size, deadline and share of the process's budget are the guard's
(bridge/web/guard.py), which every server puts in front of this app.

A webhook proves its sender by the secret header or by the token in its URL, whichever Pancake
sends (bridge/pancake/webhook_tokens.py), and it does so before a byte of its body is read: a
sender who cannot prove itself costs a shop lookup, not a body. Pancake's ``{"test": true}`` ping,
sent when the URL is saved, is answered 200 with or without either and never recorded: Pancake may
send it without the header, and before ``connect --new-secret`` has stored the new token; answered
from memory, it gives whoever sends it nothing but the 200 (no row, no message, no shop's data).
So an unproven request may still be the ping: of it, at most ``PING_MAX_BYTES`` are read (a
declared length over that is refused unread); anything longer is refused 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import select
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from bridge import metrics
from bridge.db import READ_ONLY
from bridge.pancake.models import PancakeShop
from bridge.pancake.webhook_tokens import authenticated
from bridge.pancake.webhooks import (
    ORDER_TYPE,
    PING_KIND,
    PING_MAX_BYTES,
    STOCK_TYPE,
    WebhookRejected,
    id_problem,
    is_ping,
    parse_webhook,
)
from bridge.routes import WEBHOOK_PATH, WEBHOOK_SECRET_HEADER, WEBHOOK_TOKEN_PARAM
from bridge.secrets import SecretBox
from bridge.web.guard import ReadFirst, error_response
from bridge.web.ingest import EventRecorder, Incoming, Outcome, UnstorableWebhook
from bridge.web.observe import Observe

SECRET_HEADER = WEBHOOK_SECRET_HEADER.lower()
SHOP_CACHE_SECONDS = 5.0
# Webhook types counted by name; any other (customers, products, a type Pancake adds) is
# `other`, so a sender cannot grow the metric with types of its invention.
COUNTED_TYPES = frozenset({ORDER_TYPE, STOCK_TYPE})


@dataclass(frozen=True, slots=True)
class ShopAuth:
    secret_digest: str
    token_digest: str | None
    triggers: frozenset[int]


class ShopDirectory:
    """Shop lookups for the hot path, cached briefly.

    When an entry goes stale the old value keeps serving while one lookup refreshes it; without
    that, every in-flight request missed the cache at the same moment and queued on the database.
    """

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.monotonic) -> None:
        self._engine = engine
        self._clock = clock
        self._cache: dict[str, tuple[float, ShopAuth | None]] = {}
        self._loading: dict[str, asyncio.Future[ShopAuth | None]] = {}

    async def get(self, shop_id: str) -> ShopAuth | None:
        cached = self._cache.get(shop_id)
        if cached is not None:
            if cached[0] <= self._clock() and shop_id not in self._loading:
                self._start_loading(shop_id)
            return cached[1]
        loading = self._loading.get(shop_id) or self._start_loading(shop_id)
        return await asyncio.shield(loading)

    async def reload(self, shop_id: str) -> ShopAuth | None:
        """The shop as stored now, not as cached: for a credential the cached entry refuses,
        which may be one stored a moment ago (``connect --new-secret``). It costs what an unknown
        shop id costs any sender already: one primary-key read."""
        auth = await run_in_threadpool(self._load, shop_id)
        self._cache[shop_id] = (self._clock() + SHOP_CACHE_SECONDS, auth)
        return auth

    def _start_loading(self, shop_id: str) -> asyncio.Future[ShopAuth | None]:
        task = asyncio.ensure_future(self._refresh(shop_id))
        self._loading[shop_id] = task
        return task

    async def _refresh(self, shop_id: str) -> ShopAuth | None:
        try:
            auth = await run_in_threadpool(self._load, shop_id)
            if len(self._cache) > 10_000:  # unknown ids must not grow the cache without bound
                self._cache.clear()
            self._cache[shop_id] = (self._clock() + SHOP_CACHE_SECONDS, auth)
            return auth
        finally:
            self._loading.pop(shop_id, None)

    def _load(self, shop_id: str) -> ShopAuth | None:
        with self._engine.connect().execution_options(**{READ_ONLY: True}) as conn:
            row = conn.execute(
                select(
                    PancakeShop.webhook_secret_digest,
                    PancakeShop.webhook_token_digest,
                    PancakeShop.trigger_statuses,
                ).where(PancakeShop.shop_id == shop_id)
            ).first()
        if row is None:
            return None
        return ShopAuth(row[0], row[1], frozenset(row[2]))


def _error(status: int, reason: str, outcome: str, kind: str = metrics.UNPARSED) -> Response:
    """The error answer to a webhook, counted by its outcome."""
    metrics.webhook(kind, outcome)
    return error_response(status, reason)


def _ping() -> Response:
    metrics.webhook(PING_KIND, Outcome.PING)
    return JSONResponse({"ok": True, "outcome": Outcome.PING.value})


async def _unproven(request: Request) -> Response:
    """A request without the shop's credentials: Pancake's ping, or refused. Of its body, at most
    ``PING_MAX_BYTES`` (and one chunk) are read."""
    declared = request.headers.get("content-length")
    if declared is None or (declared.isdigit() and int(declared) <= PING_MAX_BYTES):
        body = b""
        try:
            async for chunk in request.stream():
                body += chunk
                if len(body) > PING_MAX_BYTES:
                    break
        except ClientDisconnect:
            return Response(status_code=400)  # nobody hears it (or the guard has answered)
        if is_ping(body):
            return _ping()
    return _error(
        401, f"missing or wrong {SECRET_HEADER} header or {WEBHOOK_TOKEN_PARAM}", "rejected:secret"
    )


def create_app(
    engine: Engine,
    box: SecretBox,
    recorder: EventRecorder,
    *,
    console: Callable[[Starlette], None] | None = None,
    observe: Observe | None = None,
) -> Starlette:
    """The web app; ``console`` mounts the web console (``/admin``) on it; ``observe`` answers
    ``/readyz`` and ``/metrics`` (default: the database only, no shared-state gauges)."""
    shops = ShopDirectory(engine)

    def _proves(shop: ShopAuth, header: str | None, token: str | None) -> bool:
        return authenticated(
            box,
            header=header,
            token=token,
            secret_digest=shop.secret_digest,
            token_digest=shop.token_digest,
        )

    async def pancake_webhook(request: Request) -> Response:
        shop_id: str = request.path_params["shop_id"]
        # Checked before the lookup: a NUL breaks a PostgreSQL query, and an unknown id of any
        # length would take a place in the shop cache.
        problem = id_problem(shop_id, "the shop id in the URL")
        if problem is not None:
            return _error(400, problem, "rejected:shop_id")
        shop = await shops.get(shop_id)
        if shop is None:
            return _error(404, "unknown shop", "rejected:unknown_shop")
        header = request.headers.get(SECRET_HEADER)
        token = request.query_params.get(WEBHOOK_TOKEN_PARAM)
        if header is None and token is None:
            return await _unproven(request)
        if not _proves(shop, header, token):
            # Checked again as stored, not as cached: a credential changed a moment ago works.
            try:
                shop = await shops.reload(shop_id)
            except Exception:  # noqa: BLE001 - the database is away: neither yes nor no
                return _error(503, "could not check the credentials; please retry", "failed:auth")
            if shop is None or not _proves(shop, header, token):
                return await _unproven(request)
        try:
            body = await request.body()
        except ClientDisconnect:
            return Response(status_code=400)  # nobody hears it (or the guard has answered)
        if is_ping(body):
            return _ping()
        try:
            webhook = parse_webhook(body)
        except WebhookRejected as exc:
            return _error(400, str(exc), "rejected:body")
        kind = webhook.kind if webhook.kind in COUNTED_TYPES else "other"
        try:
            outcome = await recorder.record(Incoming(shop_id, webhook, shop.triggers))
        except UnstorableWebhook as exc:
            return _error(400, str(exc), "rejected:unstorable", kind)
        except Exception:  # noqa: BLE001 - the sender should retry; we recorded nothing
            return _error(
                503, "could not record the webhook; please retry", "failed:unrecorded", kind
            )
        metrics.webhook(kind, outcome.value)
        return JSONResponse({"ok": True, "outcome": outcome.value})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        recorder.start()
        yield

    async def home(request: Request) -> Response:
        # Someone who opens the bridge's address wants the console.
        return RedirectResponse(request.url_for("admin:index").path, status_code=303)

    webhook = Route(WEBHOOK_PATH, pancake_webhook, methods=["POST"])
    observe = observe or Observe(engine)
    app = Starlette(
        routes=[
            *([Route("/", home, methods=["GET"])] if console is not None else []),
            webhook,
            Route("/healthz", health, methods=["GET"]),
            Route("/readyz", observe.ready, methods=["GET"]),
            Route("/metrics", observe.scrape, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    if console is not None:
        console(app)
    # Every route but the webhook's gets its body whole, read through the guard (its cap,
    # deadline and budget): the webhook's reads it only once the sender has proven itself.
    app.add_middleware(ReadFirst, streamed=[webhook])
    return app
