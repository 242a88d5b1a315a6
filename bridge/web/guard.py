"""Admission of a request before any route sees it: path and header size, body size and deadline.

h11 refuses a request head over ``max_header_bytes`` only while it is incomplete: one that
arrives whole in a single read passes, whatever its size. The guard checks both sizes again.

The guard reads the whole body itself, within ``body_timeout_seconds`` and ``max_body_bytes``,
and hands the app a body that is already there, so no handler can be held by a client that
trickles its body or sends too much of it. Refusals close the connection (the rest of an unread
body would otherwise keep arriving) and quote nothing of the request.
"""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.web.limits import HttpLimits


def error_response(status: int, reason: str, *, close: bool = False) -> JSONResponse:
    """The bridge's one error body: ``{"ok": false, "error": "<one-line reason>"}``."""
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"ok": False, "error": reason}, status_code=status, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Disconnected(Exception):
    pass


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: HttpLimits) -> None:
        self._app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        try:
            self._check_head(scope)
            body = await self._read_body(scope, receive)
        except _Refused as refused:
            await error_response(refused.status, refused.reason, close=True)(scope, receive, send)
            return
        except _Disconnected:
            return  # nobody is left to answer
        await self._app(scope, _replay(body, receive), send)

    def _check_head(self, scope: Scope) -> None:
        limit = self._limits.max_path_bytes
        if len(scope.get("raw_path") or b"") + len(scope.get("query_string", b"")) > limit:
            raise _Refused(414, f"the request path is longer than {limit} bytes")
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        limit = self._limits.max_header_bytes
        if sum(len(name) + len(value) for name, value in headers) > limit:
            raise _Refused(431, f"the request headers are larger than {limit} bytes")
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > self._max_body:
                raise self._too_large()

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        seconds = self._limits.body_timeout_seconds
        try:
            async with asyncio.timeout(seconds):
                return await self._read_all(receive)
        except TimeoutError:
            raise _Refused(408, f"the request body did not arrive within {seconds:g} s") from None

    async def _read_all(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @property
    def _max_body(self) -> int:
        return self._limits.max_body_bytes

    def _too_large(self) -> _Refused:
        return _Refused(413, f"the body is larger than {self._max_body} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body read by the guard, then the connection's own messages (a disconnect)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
