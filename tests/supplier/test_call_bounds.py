"""Every supplier call ends within one deadline and reads a bounded answer (bridge.bounded_http),
against the supplier simulator's dripping and bombing answers over real HTTP."""

from __future__ import annotations

import gzip
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator

import httpx
import pytest

from bridge.bounded_http import AnswerTooLarge, BoundedTransport
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier import OrderItem, SupplierClient, SupplierOutcomeUnknown
from bridge.web.server import ServerThread

DEADLINE = 1.5
# Scheduling on a busy machine: how far past its deadline a call may end.
SLACK = 1.0
BALANCE_BODY = b'{"success": true, "data": {"balance": {"current": 1234}}}'


@pytest.fixture
def shop() -> Iterator[tuple[SupplierSimulator, str]]:
    sim = SupplierSimulator(name="sim")
    sim.add_plan(319, name="Netflix Premium 1 tháng", price=75_000, stock=10)
    with ServerThread(sim.app) as server:
        yield sim, server.url + "/api/v1"


OPEN: list[SupplierClient] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while OPEN:
        OPEN.pop().close()


def client_for(url: str, deadline: float = DEADLINE, **kwargs: object) -> SupplierClient:
    """A client whose reads wait up to 30 s on the socket, as in production, and whose whole
    call may take ``deadline`` (closed after the test)."""
    client = SupplierClient(
        url,
        DEMO_API_KEY,
        DEMO_API_SECRET,
        timeout=httpx.Timeout(30.0, connect=5.0),
        deadline=deadline,
        sleep=lambda _: None,
        **kwargs,  # type: ignore[arg-type]
    )
    OPEN.append(client)
    return client


def test_a_dripping_read_ends_at_the_deadline_and_is_not_retried(
    shop: tuple[SupplierSimulator, str],
) -> None:
    sim, url = shop
    # A byte every 0.2 s: every socket read returns well within its 30 s timeout.
    sim.drip("account/balance", seconds_per_byte=0.2)
    client = client_for(url, read_attempts=3)

    started = time.monotonic()
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.balance()
    took = time.monotonic() - started

    assert DEADLINE <= took < DEADLINE + SLACK
    assert f"no whole answer within {DEADLINE:g}s" in str(caught.value)
    # The supplier just used a whole deadline: the step reschedules, the client does not retry.
    assert client.calls == 1
    assert sim.calls.count(("GET", "/api/v1/account/balance")) == 1


def test_a_dripping_create_is_an_unknown_outcome_and_the_order_exists(
    shop: tuple[SupplierSimulator, str],
) -> None:
    sim, url = shop
    sim.drip("orders/create", seconds_per_byte=0.2)
    client = client_for(url)

    started = time.monotonic()
    with pytest.raises(SupplierOutcomeUnknown):
        client.create_order([OrderItem(plan_id=319, quantity=1)])

    assert time.monotonic() - started < DEADLINE + SLACK
    # The request went through: an unknown outcome is settled from the order list, never
    # bought again.
    assert [p.plan_id for p in sim.ledger] == [319]
    assert client.calls == 1


def test_a_bomb_is_refused_past_the_limit_without_inflating_it(
    shop: tuple[SupplierSimulator, str],
) -> None:
    sim, url = shop
    sim.bomb("account/balance")
    limit = 256 * 1024
    # The simulator takes a second or so to compress its first bomb: not what is measured here.
    client = client_for(url, deadline=30, max_answer_bytes=limit, read_attempts=3)

    tracemalloc.start()
    try:
        with pytest.raises(SupplierOutcomeUnknown) as caught:
            client.balance()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert f"answer larger than {limit:,} bytes" in str(caught.value)
    assert isinstance(caught.value.__cause__, AnswerTooLarge)
    # 150 MiB once inflated; read here, a few chunks past the limit at most.
    assert peak < 8 * 2**20
    assert client.calls == 1


def test_a_bombed_create_is_an_unknown_outcome(shop: tuple[SupplierSimulator, str]) -> None:
    sim, url = shop
    sim.bomb("orders/create")
    client = client_for(url, deadline=30)

    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.create_order([OrderItem(plan_id=319, quantity=1)])

    assert isinstance(caught.value.__cause__, AnswerTooLarge)
    assert [p.plan_id for p in sim.ledger] == [319]


def test_answers_within_the_bounds_read_as_before(shop: tuple[SupplierSimulator, str]) -> None:
    sim, url = shop
    client = client_for(url)
    assert client.balance() == sim.balance
    assert client.create_order([OrderItem(plan_id=319, quantity=1)]).orders[0].trans_id


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),  # HTTP's deflate: zlib-wrapped
        ("deflate", lambda body: zlib.compress(body)[2:-4]),  # as some servers send it: raw
        ("identity", lambda body: body),
    ],
)
def test_each_encoding_asked_for_is_decoded(
    encoding: str, encode: object, shop: tuple[SupplierSimulator, str]
) -> None:
    assert callable(encode)
    wire = encode(BALANCE_BODY)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "gzip, deflate"
        return httpx.Response(200, headers={"Content-Encoding": encoding}, content=wire)

    _, url = shop
    client = client_for(url, transport=httpx.MockTransport(handler))
    assert client.balance() == 1234


def test_an_encoding_not_asked_for_is_no_usable_answer(
    shop: tuple[SupplierSimulator, str],
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "br"}, content=b"\x8b\x00")

    _, url = shop
    client = client_for(url, transport=httpx.MockTransport(handler), read_attempts=1)
    with pytest.raises(SupplierOutcomeUnknown):
        client.balance()


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read() -> None:
    class Unread(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            raise AssertionError("the body was read")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10**9)}, stream=Unread())

    transport = BoundedTransport(
        deadline_seconds=5, max_bytes=1024, inner=httpx.MockTransport(handler)
    )
    with httpx.Client(transport=transport) as http, pytest.raises(AnswerTooLarge):
        http.get("http://shop.test/api/v1/account/balance")


@pytest.fixture
def dripping_head() -> Iterator[str]:
    """A server that sends its status line and headers a byte every 0.2 s: the wait for the
    head, not only the body, must end at the deadline. (The simulator sends its head at once.)"""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                # 8 s of head, then the connection closes: far past the deadline.
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"[:40]:
                    if stop.wait(0.2):
                        break
                    try:
                        conn.sendall(bytes([byte]))
                    except OSError:
                        break

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1"
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_dripping_head_ends_at_the_deadline(dripping_head: str) -> None:
    client = client_for(dripping_head, read_attempts=1)

    started = time.monotonic()
    with pytest.raises(SupplierOutcomeUnknown) as caught:
        client.balance()

    assert time.monotonic() - started < DEADLINE + SLACK
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
