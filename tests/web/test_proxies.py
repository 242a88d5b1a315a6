"""Reading X-Forwarded-For from a named proxy: from the right, past further named proxies, to the
first address none of them holds; entries a client wrote further left never count."""

from __future__ import annotations

import asyncio
from ipaddress import ip_network

import pytest
from starlette.types import Message, Scope

from bridge.web.proxies import PROXY_KEY, ForwardedFor

TRUSTED = (ip_network("127.0.0.1/32"), ip_network("10.0.0.0/8"), ip_network("::1/128"))


def seen(peer: str, *headers: tuple[bytes, bytes]) -> tuple[str, str | None, str]:
    """What the app behind ForwardedFor sees: client address, proxy, scheme."""
    captured: list[Scope] = []

    async def app(scope: Scope, receive: object, send: object) -> None:
        captured.append(scope)

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    async def ignore(message: Message) -> None:
        pass

    scope: Scope = {"type": "http", "client": (peer, 5000), "headers": list(headers)}
    scope["scheme"] = "http"
    asyncio.run(ForwardedFor(app, TRUSTED)(scope, nothing, ignore))
    [got] = captured
    return got["client"][0], got.get(PROXY_KEY), got["scheme"]


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        pytest.param("127.0.0.1", b"203.0.113.7", ("203.0.113.7", "127.0.0.1"), id="one proxy"),
        pytest.param(
            "127.0.0.1",
            b"6.6.6.6, 203.0.113.7, 10.1.2.3",
            ("203.0.113.7", "127.0.0.1"),
            id="a chain of named proxies; the client's own entry ignored",
        ),
        pytest.param(
            "127.0.0.1",
            b"203.0.113.7, not-an-address, 10.1.2.3",
            ("10.1.2.3", "127.0.0.1"),
            id="nothing left of a non-address counts",
        ),
        pytest.param("::1", b"2001:DB8::1", ("2001:db8::1", "::1"), id="IPv6, written canonically"),
        pytest.param("198.51.100.4", b"203.0.113.7", ("198.51.100.4", None), id="not a proxy"),
        pytest.param("127.0.0.1", b"", ("127.0.0.1", None), id="empty header"),
    ],
)
def test_the_client_address_is_read_from_named_proxies_only(
    peer: str, forwarded: bytes, expected: tuple[str, str | None]
) -> None:
    client, proxy, _ = seen(peer, (b"x-forwarded-for", forwarded))
    assert (client, proxy) == expected


def test_the_scheme_comes_from_a_named_proxy_only() -> None:
    assert seen("127.0.0.1", (b"x-forwarded-proto", b"https"))[2] == "https"
    assert seen("198.51.100.4", (b"x-forwarded-proto", b"https"))[2] == "http"
    assert seen("127.0.0.1", (b"x-forwarded-proto", b"gopher"))[2] == "http"
