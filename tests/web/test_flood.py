"""600 connections each sending a 1 MiB - 1 byte body, slowly, to a real `bridge run` with its
default settings: the process's memory stays bounded and a valid webhook sent meanwhile is
answered within a second and recorded.

A third of the connections name an unknown shop, a third the right shop without its secret, a
third the right secret. Before the bridge checked a webhook's credentials ahead of its body,
every one of them was read whole: the process grew from about 280 MB to 750 MB.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from queue import Empty

import httpx
import pytest
from sqlmodel import Session, create_engine, select

from tests.web import live
from workers.fulfilment.models import WebhookEvent

CONNECTIONS = 600
BODY = 1024 * 1024 - 1
CHUNK = 64 * 1024
PAUSE = 0.25  # between chunks: the whole body takes about 4 s
MAX_RSS_MB = 400
ANSWERED_WITHIN = 1.0


@pytest.fixture
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveBridge]:
    running = live.start(tmp_path_factory.mktemp("flood"))
    try:
        yield running
    finally:
        running.stop()


async def flooder(port: int, shop: str, secret: str | None) -> bytes:
    """One connection: the head, then the body 64 KiB at a time; what the server answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [
        f"POST /webhooks/pancake/{shop} HTTP/1.1",
        "Host: bridge",
        "Content-Type: application/json",
        f"Content-Length: {BODY}",
    ]
    if secret is not None:
        lines.append(f"X-Bridge-Secret: {secret}")
    body = b"{" + b" " * (BODY - 2) + b"}"
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        for start in range(0, BODY, CHUNK):
            if answer.done():
                break  # answered (or closed): the rest is not sent
            writer.write(body[start : start + CHUNK])
            await writer.drain()
            await asyncio.sleep(PAUSE)
        return await asyncio.wait_for(answer, timeout=60)
    except (ConnectionResetError, BrokenPipeError):
        return b"reset"
    finally:
        answer.cancel()
        writer.close()


def valid_webhooks(
    bridge: live.LiveBridge, started: Event, times: list[float], statuses: list[int]
) -> None:
    """Valid webhooks once the flood is under way, each timed."""
    assert started.wait(timeout=60), "the flood did not start"
    with httpx.Client(timeout=10) as client:
        for n in range(3):
            time.sleep(0.5)
            body = json.dumps({"type": "orders", "id": f"880{n}", "status": 1, "items": [{}]})
            began = time.monotonic()
            answered = client.post(
                bridge.webhook_url,
                content=body,
                headers={"X-Bridge-Secret": bridge.webhook_secret},
            )
            times.append(time.monotonic() - began)
            statuses.append(answered.status_code)


def flood_process(port: int, secret: str, started: Event, answers: Queue[list[bytes]]) -> None:
    """The flood, from a process of its own: the timed webhooks share no interpreter with it."""

    async def flood() -> list[bytes]:
        kinds = [("unknown-shop", None), (live.SHOP, None), (live.SHOP, secret)]
        connections = [flooder(port, *kinds[n % len(kinds)]) for n in range(CONNECTIONS)]
        flooding = asyncio.gather(*connections)
        await asyncio.sleep(0.5)  # every connection is open and sending
        started.set()
        return await flooding

    answers.put(asyncio.run(flood()))


def _answers(queue: Queue[list[bytes]]) -> list[bytes] | None:
    try:
        return queue.get(timeout=0.1)
    except Empty:
        return None


def test_a_flood_of_large_slow_bodies_keeps_memory_bounded_and_webhooks_answered(
    bridge: live.LiveBridge,
) -> None:
    for n in range(5):  # warm: the first webhooks load what every later one uses
        body = json.dumps({"type": "orders", "id": f"870{n}", "status": 1, "items": [{}]})
        headers = {"X-Bridge-Secret": bridge.webhook_secret}
        assert httpx.post(bridge.webhook_url, content=body, headers=headers).status_code == 200
    before = bridge.rss_mb()

    times: list[float] = []
    statuses: list[int] = []
    context = multiprocessing.get_context("spawn")
    started = context.Event()
    answered: Queue[list[bytes]] = context.Queue()
    args = (bridge.port, bridge.webhook_secret, started, answered)
    flooding = context.Process(target=flood_process, args=args)
    flooding.start()
    webhooks = threading.Thread(target=valid_webhooks, args=(bridge, started, times, statuses))
    webhooks.start()
    peak: list[float] = []
    answers = None
    deadline = time.monotonic() + 120
    while answers is None:  # the memory every 0.1 s until the flood has its answers
        assert time.monotonic() < deadline, "the flood did not end"
        peak.append(bridge.rss_mb())
        answers = _answers(answered)
    flooding.join(timeout=30)
    webhooks.join()
    after = bridge.rss_mb()

    seen = sorted({a.split(b" ", 2)[1].decode() for a in answers if a.startswith(b"HTTP/")})
    print(  # noqa: T201 - the figures docs/security.md quotes (run with -s)
        f"bridge run RSS: {before:.0f} MB before, {max(peak):.0f} MB at most during the flood, "
        f"{after:.0f} MB after; flood answered {seen}, "
        f"{sum(not a.startswith(b'HTTP/') for a in answers)} closed unanswered; "
        f"valid webhooks meanwhile {statuses} in {[round(t, 3) for t in times]} s"
    )
    assert max(peak) < MAX_RSS_MB
    assert statuses == [200] * 3
    assert max(times) < ANSWERED_WITHIN
    engine = create_engine(bridge.database_url)
    try:
        with Session(engine) as session:
            recorded = set(session.exec(select(WebhookEvent.order_id)))
    finally:
        engine.dispose()
    assert {"8800", "8801", "8802"} <= recorded
