"""How long and how much an HTTP client may take, the request-head deadline uvicorn lacks, and the
cap on open connections.

uvicorn times out only an idle keep-alive connection, after a response. A connection that never
finishes its request line and headers (or sends nothing at all) would stay open for good, each
one holding a socket and a slot of the server: the slow-header attack. ``bridge_protocol`` is
uvicorn's h11 protocol plus one timer that runs from the first byte of a request head (or from
the connection) until the head is complete. It also answers a head h11 cannot parse (too long,
malformed) in the bridge's JSON error shape instead of uvicorn's plain text.

Past ``max_connections`` open connections, a new connection's request is answered 503 with
Retry-After as soon as its head is in, by an app that never reads the body, and closed: it costs
its head (at most ``max_header_bytes``, for at most the head deadline), no body. uvicorn's own
``limit_concurrency`` does the same with a plain-text answer and no Retry-After, which tells
Pancake nothing about when to come back; and it also counts requests still running, so a burst
of slow database writes would turn away new connections that cost nothing.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Any

import h11
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridge.settings import Settings


@dataclass(frozen=True, slots=True)
class HttpLimits:
    header_timeout_seconds: float
    body_timeout_seconds: float
    keep_alive_seconds: int
    max_header_bytes: int
    max_path_bytes: int
    max_body_bytes: int
    max_connections: int = 1000
    max_buffered_bytes: int = 64 * 1024 * 1024
    # Not a limit but what the server believes of a peer: whose X-Forwarded-For names the client
    # (bridge/web/proxies.py).
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        return cls(
            header_timeout_seconds=settings.http_header_timeout_seconds,
            body_timeout_seconds=settings.http_body_timeout_seconds,
            keep_alive_seconds=settings.http_keep_alive_seconds,
            max_header_bytes=settings.http_max_header_bytes,
            max_path_bytes=settings.http_max_path_bytes,
            max_body_bytes=settings.http_max_body_bytes,
            max_connections=settings.http_max_connections,
            max_buffered_bytes=settings.http_max_buffered_bytes,
            trusted_proxies=settings.trusted_proxies,
        )

    @classmethod
    def defaults(cls) -> HttpLimits:
        """The settings' defaults, without reading the environment (simulators, the demo)."""
        return cls.from_settings(Settings.model_construct())


_BAD_HEAD = json.dumps(
    {"ok": False, "error": "the request line or headers are malformed or too long"}
).encode()


class _BridgeProtocol(H11Protocol):
    head_timeout_seconds: float = 10.0
    max_connections: int = 1000
    busy_app: ASGIApp | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # counts this one among the server's connections
        if len(self.connections) > self.max_connections and self.busy_app is not None:
            # uvicorn runs ``self.app`` for each request of this connection: this one is answered
            # by the refusal, which never reads the body and closes the connection.
            self.app = self.busy_app
        self._arm()  # a client that connects and says nothing is cut off too

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._disarm()  # the head is complete; the body has a deadline of its own

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=_BAD_HEAD),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()


def bridge_protocol(limits: HttpLimits, busy_app: ASGIApp) -> type[H11Protocol]:
    """uvicorn builds one protocol object per connection from a class: the deadline, the cap and
    the app that answers past it ride on a subclass, since uvicorn passes the protocol nothing of
    ours."""
    return type(
        "BridgeProtocol",
        (_BridgeProtocol,),
        {
            "head_timeout_seconds": limits.header_timeout_seconds,
            "max_connections": limits.max_connections,
            "busy_app": staticmethod(busy_app),
        },
    )
