"""Slow, idle and oversized clients are cut off, while valid webhooks keep being answered.

The bridge's app is served with small limits (the same ``server_config`` `bridge serve` uses)
and spoken to over raw sockets, the way a slowloris client would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.dev.sandbox import Sandbox
from bridge.web.limits import HttpLimits
from bridge.web.server import ServerThread
from tests.conftest import fast_settings, migrated_sqlite_url

LIMITS = HttpLimits(
    header_timeout_seconds=1.0,
    body_timeout_seconds=1.0,
    keep_alive_seconds=1,
    max_header_bytes=4096,
    max_path_bytes=256,
    max_body_bytes=64 * 1024,
)
# A connection must be gone this long after its limit ran out (the test fails otherwise).
SLACK_SECONDS = 3.0
EACH = 20  # connections of each kind


class Bridge:
    def __init__(self, sandbox: Sandbox, server: ServerThread) -> None:
        self.sandbox = sandbox
        self.host, self.port = server.host, server.port
        self.url = f"{server.url}/webhooks/pancake/{sandbox.shop_id}"

    def head(self, *, body_length: int | None = None, extra: str = "") -> bytes:
        lines = [
            f"POST /webhooks/pancake/{self.sandbox.shop_id} HTTP/1.1",
            "Host: bridge",
            f"X-Bridge-Secret: {self.sandbox.webhook_secret}",
            "Content-Type: application/json",
        ]
        if body_length is not None:
            lines.append(f"Content-Length: {body_length}")
        return ("\r\n".join(lines) + "\r\n" + extra).encode()


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Bridge]:
    sandbox = Sandbox(fast_settings(migrated_sqlite_url(tmp_path)))
    server = ServerThread(sandbox.runtime.app, limits=LIMITS).start()
    try:
        yield Bridge(sandbox, server)
    finally:
        server.stop()
        sandbox.stop()


async def until_closed(bridge: Bridge, first: bytes, *, drip: bytes = b"", within: float) -> bytes:
    """Send ``first``, then ``drip`` every 0.2 s until an answer comes; return what the server
    sent before it closed the connection. Fails if it is still open ``within`` seconds later."""
    reader, writer = await asyncio.open_connection(bridge.host, bridge.port)
    received = bytearray()

    async def dripping() -> None:
        while drip and not received:
            await asyncio.sleep(0.2)
            writer.write(drip)
            await writer.drain()

    async def reading() -> None:
        while chunk := await reader.read(65536):
            received.extend(chunk)

    writer.write(first)
    dripper = asyncio.ensure_future(dripping())
    try:
        await asyncio.wait_for(reading(), timeout=within)
    except (ConnectionResetError, BrokenPipeError):
        pass  # closed while we were still sending: closed all the same
    finally:
        dripper.cancel()
        writer.close()
    return bytes(received)


async def valid_webhooks(bridge: Bridge, count: int) -> list[int]:
    headers = {"X-Bridge-Secret": bridge.sandbox.webhook_secret}
    statuses = []
    async with httpx.AsyncClient(timeout=10) as client:
        for n in range(count):
            body = json.dumps({"type": "orders", "id": f"5{n:03d}", "status": 1, "items": [{}]})
            statuses.append(
                (await client.post(bridge.url, content=body, headers=headers)).status_code
            )
            await asyncio.sleep(0.05)
    return statuses


async def siege(bridge: Bridge) -> dict[str, list[bytes]]:
    header_limit = LIMITS.header_timeout_seconds + SLACK_SECONDS
    body_limit = LIMITS.body_timeout_seconds + SLACK_SECONDS
    idle_limit = LIMITS.keep_alive_seconds + SLACK_SECONDS
    kinds = {
        "idle": [until_closed(bridge, b"", within=header_limit) for _ in range(EACH)],
        "slow header": [
            until_closed(bridge, bridge.head(extra="X-Slow: "), drip=b"a", within=header_limit)
            for _ in range(EACH)
        ],
        "slow body": [
            until_closed(
                bridge, bridge.head(body_length=500, extra="\r\n{"), drip=b" ", within=body_limit
            )
            for _ in range(EACH)
        ],
        "kept alive": [
            until_closed(
                bridge, b"GET /healthz HTTP/1.1\r\nHost: bridge\r\n\r\n", within=idle_limit
            )
            for _ in range(EACH)
        ],
    }
    webhooks = asyncio.ensure_future(valid_webhooks(bridge, 30))
    answers = await asyncio.gather(*(c for cs in kinds.values() for c in cs))
    assert await webhooks == [200] * 30, "valid webhooks are answered during the siege"
    grouped: dict[str, list[bytes]] = {}
    for name, coroutines in kinds.items():
        grouped[name], answers = answers[: len(coroutines)], answers[len(coroutines) :]
    return grouped


def test_slow_and_idle_connections_are_closed_while_valid_webhooks_are_answered(
    bridge: Bridge,
) -> None:
    answers = asyncio.run(siege(bridge))

    assert answers["idle"] == [b""] * EACH, "closed without a word"
    assert answers["slow header"] == [b""] * EACH
    for answer in answers["slow body"]:
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert b"the request body did not arrive within 1 s" in answer
    for answer in answers["kept alive"]:
        assert answer.startswith(b"HTTP/1.1 200 ")


def answer_to(bridge: Bridge, request: bytes) -> tuple[int, dict[str, object]]:
    raw = asyncio.run(until_closed(bridge, request, within=SLACK_SECONDS))
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        pytest.param(
            b"POST /webhooks/pancake/" + b"4" * 300 + b" HTTP/1.1\r\nHost: b\r\n\r\n",
            414,
            "the request path is longer than 256 bytes",
            id="long path",
        ),
        pytest.param(
            b"POST /webhooks/pancake/4 HTTP/1.1\r\nHost: b\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n",
            431,
            "the request headers are larger than 4096 bytes",
            id="headers over the limit, in one piece",
        ),
        pytest.param(
            b"POST /webhooks/pancake/4 HTTP/1.1\r\nHost: b\r\nContent-Length: 70000\r\n\r\n",
            413,
            "the body is larger than 65536 bytes",
            id="declared body over the limit",
        ),
    ],
)
def test_oversized_requests_are_refused_and_closed_without_echo(
    bridge: Bridge, request_bytes: bytes, status: int, reason: str
) -> None:
    assert answer_to(bridge, request_bytes) == (status, {"ok": False, "error": reason})


def test_a_head_that_grows_past_the_limit_while_it_arrives_is_refused(bridge: Bridge) -> None:
    raw = asyncio.run(
        until_closed(bridge, bridge.head(extra="X-Big: "), drip=b"a" * 1000, within=SLACK_SECONDS)
    )

    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert json.loads(body) == {
        "ok": False,
        "error": "the request line or headers are malformed or too long",
    }
