"""Every HTTP request gets an id: bound to the events logged while it is served (``bridge.logs``)
and returned in ``X-Request-ID``, so a shop owner's "my webhook got a 500" finds its log lines.

A proxy's id (nginx's ``$request_id``) is kept when it looks like one; anything else a client
sends there is replaced, so a forged value cannot inject text into the logs.
"""

from __future__ import annotations

import logging
import re
import secrets
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bridge.logs import bound, event

HEADER = b"x-request-id"
_PLAUSIBLE = re.compile(rb"[A-Za-z0-9._-]{8,64}")


class RequestIds:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        given = dict(scope.get("headers", [])).get(HEADER, b"")
        request_id = given.decode() if _PLAUSIBLE.fullmatch(given) else secrets.token_hex(8)

        status = 0

        async def with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (HEADER, request_id.encode())]
            await send(message)

        started = time.monotonic()
        with bound(request_id=request_id):
            try:
                await self._app(scope, receive, with_id)
            finally:
                # The access line, at DEBUG: the path without its query (Pancake-style keys
                # and the webhook URL's token travel there), the status, the time taken.
                event(
                    "http.request",
                    logging.DEBUG,
                    method=scope.get("method"),
                    path=scope.get("path"),
                    status=status,
                    ms=round((time.monotonic() - started) * 1000, 1),
                )
