"""Admission of a request before and while a route reads it: path and header size, body size,
body deadline, and the process's budget of buffered body bytes.

h11 refuses a request head over ``max_header_bytes`` only while it is incomplete: one that
arrives whole in a single read passes, whatever its size. The guard checks both sizes again, and
refuses a declared body over ``max_body_bytes`` before any route runs.

The guard reads no body itself: a route decides from the URL and headers first (the webhook
route checks the shop and its credentials), and only then reads. The guard hands the app a
``receive`` that enforces, as the app reads, the body's size (413), its deadline (408, counted
from the request's start) and the budget (503 with Retry-After): the bytes of all bodies being
read at once, across the process. A body is reserved when its route starts reading it (its
declared length, or chunk by chunk when it declares none) and released when the request ends,
however it ends, so neither a disconnect nor a timeout can leak budget. When the guard refuses,
it answers for the app and tells the app the client is gone; whatever the app then sends is
dropped. A response sent before its request's body was read closes the connection, so the rest
of that body is never waited for. Refusals quote nothing of the request.

A route that is not written to stop on a body cut short (the console's library logs every
exception of a request with its traceback) is put behind ``ReadFirst``: it gets its body whole,
read through the guard all the same, or is never called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.web.limits import HttpLimits

# How long a refused sender should wait before trying again: the caps hold for as long as the
# slow requests that fill them (the body deadline at most).
RETRY_AFTER_SECONDS = 5
BUSY = "the bridge is busy; please retry later"
# A body this small may use the whole budget; a larger one only its first 7/8: a flood of large
# bodies (even authenticated ones) leaves room for ordinary webhooks, which are a few KB.
SMALL_BODY_BYTES = 64 * 1024
_GONE: Message = {"type": "http.disconnect"}


def error_response(
    status: int, reason: str, *, close: bool = False, retry_after: int | None = None
) -> JSONResponse:
    """The bridge's one error body: ``{"ok": false, "error": "<one-line reason>"}``."""
    headers = {"Connection": "close"} if close else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse({"ok": False, "error": reason}, status_code=status, headers=headers)


async def refuse_busy(scope: Scope, receive: Receive, send: Send) -> None:
    """The answer past the connection cap (bridge/web/limits.py): nothing is read."""
    await error_response(503, BUSY, close=True, retry_after=RETRY_AFTER_SECONDS)(
        scope, receive, send
    )


class BodyBudget:
    """The request-body bytes held at once. Used from the event loop's thread only."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.held = 0

    def reserve(self, size: int, body_size: int) -> bool:
        """Reserve ``size`` more bytes for a body that will then hold ``body_size``."""
        room = self.max_bytes if body_size <= SMALL_BODY_BYTES else self.max_bytes * 7 // 8
        if self.held + size > room:
            return False
        self.held += size
        return True

    def release(self, size: int) -> None:
        self.held -= size


class _Refused(Exception):
    def __init__(self, status: int, reason: str, retry_after: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.retry_after = retry_after


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: HttpLimits) -> None:
        self._app = app
        self.limits = limits
        self.budget = BodyBudget(limits.max_buffered_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        try:
            declared, chunked = self._check_head(scope)
        except _Refused as refused:
            await _answer(refused, scope, receive, send)
            return
        exchange = _Exchange(self, scope, receive, send, declared=declared, chunked=chunked)
        try:
            await self._app(scope, exchange.receive, exchange.send)
        except ClientDisconnect:
            if not exchange.over:
                raise  # the app read past a disconnect nobody told it about: a bug
        finally:
            self.budget.release(exchange.reserved)

    def _check_head(self, scope: Scope) -> tuple[int | None, bool]:
        """The declared body length (None: none declared) and whether the body is chunked."""
        limit = self.limits.max_path_bytes
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > limit:
            raise _Refused(414, f"the request path is longer than {limit} bytes")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        limit = self.limits.max_header_bytes
        if sum(len(name) + len(value) for name, value in headers) > limit:
            raise _Refused(431, f"the request headers are larger than {limit} bytes")
        declared: int | None = None
        chunked = False
        for name, value in headers:
            if name == b"content-length" and value.isdigit():
                declared = int(value)
                if declared > self.limits.max_body_bytes:
                    raise self.too_large()
            elif name == b"transfer-encoding":
                chunked = True  # h11 accepts chunked only, and then no Content-Length
        return declared, chunked

    def too_large(self) -> _Refused:
        return _Refused(413, f"the body is larger than {self.limits.max_body_bytes} bytes")


class _Exchange:
    """One request's body as the app reads it, and the app's answer."""

    def __init__(
        self,
        guard: RequestGuard,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        declared: int | None,
        chunked: bool,
    ) -> None:
        self._guard = guard
        self._scope = scope
        self._receive = receive
        self._send = send
        self._declared = declared
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + guard.limits.body_timeout_seconds
        self.body_done = not (chunked or (declared or 0) > 0)
        self.received = 0
        self.reserved = 0
        self.answered = False  # the guard answered for the app
        self.gone = False  # the client disconnected
        self.started = False  # the response has started

    @property
    def over(self) -> bool:
        return self.answered or self.gone

    async def receive(self) -> Message:
        if self.over:
            return _GONE
        if self.body_done:
            return await self._receive()  # past the body: only a disconnect can come
        try:
            message = await self._read()
        except _Refused as refused:
            if not self.started:
                self.answered = True
                await _answer(refused, self._scope, self._receive, self._send)
            self.gone = True
            return _GONE
        if message["type"] == "http.disconnect":
            self.gone = True
        return message

    async def _read(self) -> Message:
        budget, limits = self._guard.budget, self._guard.limits
        if self.reserved == 0 and self._declared:
            if not budget.reserve(self._declared, self._declared):
                raise _Refused(503, BUSY, RETRY_AFTER_SECONDS)
            self.reserved = self._declared
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            seconds = limits.body_timeout_seconds
            raise _Refused(408, f"the request body did not arrive within {seconds:g} s") from None
        if message["type"] != "http.request":
            return message
        size = len(message.get("body", b""))
        self.received += size
        if self.received > limits.max_body_bytes:
            raise self._guard.too_large()
        if self._declared is None:  # chunked: reserved as it arrives
            if not budget.reserve(size, self.received):
                raise _Refused(503, BUSY, RETRY_AFTER_SECONDS)
            self.reserved += size
        if not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.answered:
            return  # the guard has answered for the app
        if message["type"] == "http.response.start":
            self.started = True
            headers = list(message.get("headers", []))
            if not self.body_done and (b"connection", b"close") not in headers:
                # Answered before the body was read (a refusal): the rest of it is not waited
                # for, which only closing the connection achieves.
                message["headers"] = [*headers, (b"connection", b"close")]
        await self._send(message)


class ReadFirst:
    """Reads a request's body whole (through the guard's receive) before the app sees it, for
    every route but the ``streamed`` ones, which read it themselves. A body that did not arrive
    (refused by the guard, or its client gone) never reaches the app."""

    def __init__(self, app: ASGIApp, streamed: Sequence[BaseRoute]) -> None:
        self._app = app
        self._streamed = tuple(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_streamed(scope):
            await self._app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # nobody to answer, or the guard has answered
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self._app(scope, _replay(b"".join(chunks), receive), send)

    def _is_streamed(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self._streamed)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read first, then the connection's own messages (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _answer(refused: _Refused, scope: Scope, receive: Receive, send: Send) -> None:
    """A refusal closes the connection: the rest of an unread body would keep arriving."""
    response = error_response(
        refused.status, refused.reason, close=True, retry_after=refused.retry_after
    )
    await response(scope, receive, send)
