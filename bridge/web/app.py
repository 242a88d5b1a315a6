"""The web side: the Pancake webhook endpoint and a health check.

The endpoint verifies, records and enqueues; it never calls Pancake or a supplier, so it answers
in milliseconds. Bad input is refused with a one-line reason and stores nothing.
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
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.db import READ_ONLY
from bridge.models import PancakeShop
from bridge.pancake.webhooks import WebhookRejected, parse_webhook
from bridge.secrets import SecretBox
from bridge.web.ingest import EventRecorder, Incoming

MAX_BODY_BYTES = 1024 * 1024
SECRET_HEADER = "x-bridge-secret"
SHOP_CACHE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ShopAuth:
    secret_digest: str
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
                select(PancakeShop.webhook_secret_digest, PancakeShop.trigger_statuses).where(
                    PancakeShop.shop_id == shop_id
                )
            ).first()
        if row is None:
            return None
        return ShopAuth(row[0], frozenset(row[1]))


class BodyTooLarge(Exception):
    pass


async def read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)


def create_app(engine: Engine, box: SecretBox, recorder: EventRecorder) -> Starlette:
    shops = ShopDirectory(engine)

    async def pancake_webhook(request: Request) -> Response:
        shop_id = request.path_params["shop_id"]
        shop = await shops.get(shop_id)
        if shop is None:
            return _error(404, f"unknown shop {shop_id}")
        if not box.matches(request.headers.get(SECRET_HEADER, ""), shop.secret_digest):
            return _error(401, f"missing or wrong {SECRET_HEADER} header")
        try:
            raw = await read_limited(request, MAX_BODY_BYTES)
        except BodyTooLarge:
            return _error(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        except ClientDisconnect:
            return _error(400, "client disconnected before the body arrived")
        try:
            webhook = parse_webhook(raw)
        except WebhookRejected as exc:
            return _error(400, str(exc))
        try:
            outcome = await recorder.record(
                Incoming(shop_id, webhook, raw.decode("utf-8", "replace"), shop.triggers)
            )
        except Exception:  # noqa: BLE001 - the sender should retry; we recorded nothing
            return _error(503, "could not record the webhook; please retry")
        return JSONResponse({"ok": True, "outcome": outcome.value})

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        recorder.start()
        yield

    return Starlette(
        routes=[
            Route("/webhooks/pancake/{shop_id}", pancake_webhook, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
