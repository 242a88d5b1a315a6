"""Which address a request comes from: the peer's, unless the peer is a proxy named in
``BRIDGE_TRUSTED_PROXIES``.

A header is only as true as whoever wrote it. From a named proxy, ``X-Forwarded-For`` is read
from the right (the entry the proxy itself wrote) leftwards, past further named proxies, to the
first address no named proxy holds: that is the client. Entries further left were written by the
client and are ignored. ``X-Forwarded-Proto`` from a named proxy gives the scheme (the console's
redirects stay on https). From any other peer both headers change nothing.

The request keeps the proxy it came through (``forwarded_by``), so an audit can say what it
relied on: ``203.0.113.7 via 127.0.0.1``. uvicorn's own proxy handling is switched off
(bridge/web/server.py): it trusts loopback by default and drops the proxy's address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

Network = IPv4Network | IPv6Network
# Where the proxy a request came through is kept in its scope.
PROXY_KEY = "bridge.forwarded_by"
_SCHEMES = frozenset({"http", "https"})


def forwarded_by(connection: HTTPConnection) -> str | None:
    """The trusted proxy that named this request's client, if one did."""
    proxy: str | None = connection.scope.get(PROXY_KEY)
    return proxy


class ForwardedFor:
    def __init__(self, app: ASGIApp, trusted: tuple[Network, ...]) -> None:
        self._app = app
        self._trusted = trusted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if self._trusted and scope["type"] == "http" and peer and self._trusts(peer[0]):
            self._take_forwarded(scope, peer[0])
        await self._app(scope, receive, send)

    def _trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self._trusted)

    def _take_forwarded(self, scope: Scope, proxy: str) -> None:
        chain: list[str] = []
        proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                chain.extend(item.strip() for item in value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.strip().lower()
        client = None
        for entry in reversed(chain):
            address = _address(entry)
            if address is None:
                break  # not an address: nothing left of it can be relied on
            client = str(address)
            if not self._trusts(client):
                break
        if client is not None:
            scope["client"] = (client, 0)
            scope[PROXY_KEY] = proxy
        if proto is not None and proto.decode("latin-1") in _SCHEMES:
            scope["scheme"] = proto.decode("latin-1")


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        return None
