"""Admission against a real `bridge run`: the webhook route decides from the URL and headers before
it reads a body, the caps on connections and buffered bytes answer 503 with Retry-After at once,
and X-Forwarded-For counts only from a proxy the settings name.

One process for the module, with small caps. The named proxy speaks from 127.0.0.2 (any loopback
address reaches the bridge on 127.0.0.1), the "attacker" from 127.0.0.1: loopback is no longer
trusted unless named (uvicorn's default trusted it).
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import ExitStack
from select import select as wait_readable

import httpx
import pytest
from sqlmodel import Session, col, create_engine, select

from bridge.db import make_engine, session_scope, utcnow
from bridge.pancake.shops import add_shop
from bridge.secrets import SecretBox
from bridge.web.console.models import ConsoleAudit
from bridge.web.console.users import set_user
from tests.conftest import fast_settings
from tests.web import live
from tests.web.console.conftest import csrf_token, log_in

MAX_CONNECTIONS = 30
MAX_BUFFERED = 1024 * 1024  # bodies over 64 KiB may hold 7/8 of it
BIG = 600_000  # one big body fits; two do not
ATTACKER = "127.0.0.1"
PROXY = "127.0.0.2"
MAX_FAILURES = 3
BODY_SECONDS = 2
# Answered "at once": well under any deadline the server could be waiting on.
AT_ONCE = 1.0


@pytest.fixture(scope="module")
def bridge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[live.LiveBridge]:
    running = live.start(
        tmp_path_factory.mktemp("admission"),
        BRIDGE_HTTP_MAX_CONNECTIONS=str(MAX_CONNECTIONS),
        BRIDGE_HTTP_MAX_BUFFERED_BYTES=str(MAX_BUFFERED),
        BRIDGE_TRUSTED_PROXIES=PROXY,
        BRIDGE_CONSOLE_MAX_FAILURES_PER_USER=str(MAX_FAILURES),
        BRIDGE_HTTP_BODY_TIMEOUT_SECONDS=str(BODY_SECONDS),
    )
    try:
        yield running
    finally:
        running.stop()


def head(bridge: live.LiveBridge, *lines: str, path: str | None = None) -> bytes:
    target = path or f"/webhooks/pancake/{live.SHOP}"
    text = f"POST {target} HTTP/1.1\r\nHost: bridge\r\nContent-Type: application/json\r\n"
    return (text + "".join(f"{line}\r\n" for line in lines) + "\r\n").encode()


def secret(bridge: live.LiveBridge) -> str:
    return f"X-Bridge-Secret: {bridge.webhook_secret}"


def connect(bridge: live.LiveBridge, data: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", bridge.port), timeout=10)
    if data:
        sock.sendall(data)
    return sock


def answer(sock: socket.socket, within: float = AT_ONCE) -> tuple[int, dict[str, str], bytes]:
    """The response read from ``sock`` (which the server closes after it), within ``within`` s:
    status, headers (lower-case names), body."""
    sock.settimeout(within)
    raw = bytearray()
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline and (chunk := sock.recv(65536)):
            raw.extend(chunk)
            if b"\r\n\r\n" in raw:
                top, _, body = bytes(raw).partition(b"\r\n\r\n")
                fields = dict(
                    line.decode().lower().split(": ", 1) for line in top.split(b"\r\n")[1:]
                )
                if len(body) >= int(fields.get("content-length", "0")):
                    return int(top.split()[1]), fields, body
    except (TimeoutError, ConnectionResetError):
        pass
    finally:
        sock.close()
    raise AssertionError(f"no whole answer within {within} s: {bytes(raw)[:200]!r}")


def order(order_id: str, padding: int = 0) -> bytes:
    document = {"type": "orders", "id": order_id, "status": 1, "items": [{}]}
    return json.dumps(document).encode() + b" " * padding


def post_order(bridge: live.LiveBridge, body: bytes) -> httpx.Response:
    return httpx.post(
        bridge.webhook_url, content=body, headers={"X-Bridge-Secret": bridge.webhook_secret}
    )


def test_an_unproven_request_is_refused_from_its_head_without_waiting_for_its_body(
    bridge: live.LiveBridge,
) -> None:
    declared = [
        "Content-Length: 1000000",  # no secret
        "Content-Length: 1000000\r\nX-Bridge-Secret: wrong-secret",  # checked against the database
        "Content-Length: 65",  # one byte longer than any ping
    ]
    for lines in declared:
        started = time.monotonic()
        status, fields, body = answer(connect(bridge, head(bridge, lines)))
        assert (status, json.loads(body)["ok"]) == (401, False), lines
        assert fields["connection"] == "close"
        assert time.monotonic() - started < AT_ONCE

    # A body of undeclared length: one chunk past the ping's size is enough to refuse it.
    chunked = head(bridge, "Transfer-Encoding: chunked") + b"400\r\n" + b" " * 1024 + b"\r\n"
    assert answer(connect(bridge, chunked))[0] == 401


def test_the_ping_without_credentials_and_a_secret_stored_a_moment_ago_are_accepted(
    bridge: live.LiveBridge,
) -> None:
    ping = httpx.post(bridge.webhook_url, json={"test": True})
    assert (ping.status_code, ping.json()["outcome"]) == (200, "ping")
    assert post_order(bridge, order("7001")).status_code == 200  # the shop is in the cache now

    new_secret = "a-secret-stored-a-moment-ago-123"
    settings = fast_settings(bridge.database_url)
    box = SecretBox.for_settings(settings, secret_key=bridge.secret_key)
    engine = make_engine(bridge.database_url)
    try:
        with session_scope(engine) as session:
            add_shop(session, box, live.SHOP, webhook_secret=new_secret)
    finally:
        engine.dispose()
    headers = {"X-Bridge-Secret": new_secret}
    answered = httpx.post(bridge.webhook_url, content=order("7002"), headers=headers)
    assert (answered.status_code, answered.json()["outcome"]) == (200, "queued")
    bridge.webhook_secret = new_secret


def test_past_the_buffered_bytes_a_body_is_answered_503_at_once_and_small_ones_still_pass(
    bridge: live.LiveBridge,
) -> None:
    big = head(bridge, secret(bridge), f"Content-Length: {BIG}") + b"{"
    # Two big bodies, both proven, both read slowly: whichever route reads first holds its
    # bytes, the other is refused at once.
    pair = [connect(bridge, big), connect(bridge, big)]
    readable, _, _ = wait_readable(pair, [], [], AT_ONCE)
    assert len(readable) == 1, "exactly one of the two is answered at once"
    [holder] = [sock for sock in pair if sock not in readable]
    try:
        status, fields, body = answer(readable[0])
        assert status == 503
        assert int(fields["retry-after"]) > 0
        assert fields["connection"] == "close"
        assert json.loads(body) == {"ok": False, "error": "the bridge is busy; please retry later"}

        # An ordinary webhook still gets in beside the big body.
        assert post_order(bridge, order("7101")).status_code == 200
    finally:
        holder.close()

    # The holder's bytes are given back when its client goes away: a big body fits again.
    assert_big_body_fits(bridge, order("7102", BIG - 100))


def test_a_body_that_stops_arriving_is_answered_408_and_gives_its_bytes_back(
    bridge: live.LiveBridge,
) -> None:
    stalled = connect(bridge, head(bridge, secret(bridge), f"Content-Length: {BIG}") + b"{")
    status, _, body = answer(stalled, within=BODY_SECONDS + 3)
    assert (status, json.loads(body)["error"]) == (
        408,
        f"the request body did not arrive within {BODY_SECONDS} s",
    )
    assert_big_body_fits(bridge, order("7103", BIG - 100))


def assert_big_body_fits(bridge: live.LiveBridge, body: bytes) -> None:
    """A big body is accepted again (the request that held the budget may take a moment to end
    after its client saw its answer or went away)."""
    deadline = time.monotonic() + 10
    while (status := post_order(bridge, body).status_code) == 503:
        assert time.monotonic() < deadline, "the reservation was never released"
    assert status == 200


def test_past_the_connection_cap_a_request_is_answered_503_at_once(
    bridge: live.LiveBridge,
) -> None:
    with ExitStack() as stack:
        for _ in range(MAX_CONNECTIONS):
            stack.callback(connect(bridge).close)  # open, saying nothing yet
        started = time.monotonic()
        status, fields, body = answer(connect(bridge, head(bridge, "Content-Length: 900000")))
        assert time.monotonic() - started < AT_ONCE
        assert (status, int(fields["retry-after"])) == (503, 5)
        assert json.loads(body)["error"] == "the bridge is busy; please retry later"
    deadline = time.monotonic() + 10
    while (status := post_order(bridge, order("7201")).status_code) == 503:
        assert time.monotonic() < deadline, "closed connections still count"
    assert status == 200


def test_a_console_form_that_does_not_fit_is_refused_as_it_is_read_without_a_traceback(
    bridge: live.LiveBridge,
) -> None:
    """The budget holds for every route: the console's form reader gets the body through the
    guard too (chunk by chunk, no length declared), and the guard's refusal ends the request
    quietly."""
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(15)) + b"0\r\n\r\n"
    request = (
        b"POST /admin/login HTTP/1.1\r\nHost: bridge\r\nTransfer-Encoding: chunked\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
    )
    status, fields, answered = answer(connect(bridge, request + body), within=5)
    assert (status, fields["retry-after"]) == (503, "5")
    assert json.loads(answered)["error"] == "the bridge is busy; please retry later"
    assert httpx.get(bridge.url + "/healthz").status_code == 200
    assert "Traceback" not in bridge.log.read_text()


def test_the_root_leads_to_the_console(bridge: live.LiveBridge) -> None:
    answered = httpx.get(bridge.url + "/")
    assert answered.status_code in (302, 303, 307)
    assert answered.headers["location"] == "/admin/"


def client(bridge: live.LiveBridge, source: str, forwarded: str | None = None) -> httpx.Client:
    """A console client connecting from ``source``, sending ``forwarded`` as X-Forwarded-For."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return httpx.Client(
        base_url=bridge.url,
        headers=headers,
        transport=httpx.HTTPTransport(local_address=source),
        timeout=30,
    )


def reveal_audited_as(bridge: live.LiveBridge, console: httpx.Client) -> str:
    """Log in, reveal the line's codes; the address the audit row recorded."""
    assert log_in(console, live.USER, live.PASSWORD).status_code == 303
    page = f"/admin/lines/{bridge.line_id}"
    revealed = console.post(f"{page}/reveal", data={"csrftoken": csrf_token(console, page)})
    assert revealed.status_code == 200
    assert live.CODES[0] in revealed.text
    engine = create_engine(bridge.database_url)
    try:
        with Session(engine) as session:
            newest = session.exec(
                select(ConsoleAudit).order_by(col(ConsoleAudit.id).desc())
            ).first()
    finally:
        engine.dispose()
    assert newest is not None
    assert newest.address is not None
    return newest.address


def add_user(bridge: live.LiveBridge, name: str, password: str) -> None:
    engine = create_engine(bridge.database_url)
    try:
        with session_scope(engine) as session:
            set_user(session, name, password, utcnow())
    finally:
        engine.dispose()


def wrong_until_refused(console: httpx.Client, name: str, forwarded: list[str]) -> int:
    """Wrong passwords for ``name``, each with the next X-Forwarded-For; the attempt (1-based)
    that was refused 429, or 0 if none was."""
    for attempt, address in enumerate(forwarded, start=1):
        console.headers["X-Forwarded-For"] = address
        status = log_in(console, name, "a wrong password!").status_code
        if status == 429:
            return attempt
        assert status == 400
    return 0


def test_a_forwarded_address_from_a_peer_that_is_no_proxy_changes_neither_throttle_nor_audit(
    bridge: live.LiveBridge,
) -> None:
    add_user(bridge, "bob", "bob's long password")
    spoofed = [f"198.51.100.{n}" for n in range(1, 2 * MAX_FAILURES + 2)]
    with client(bridge, ATTACKER) as attacker:
        assert wrong_until_refused(attacker, "bob", spoofed) == MAX_FAILURES + 1
        attacker.headers["X-Forwarded-For"] = "198.51.100.99"
        assert log_in(attacker, "bob", "bob's long password").status_code == 429

    with client(bridge, ATTACKER, forwarded="203.0.113.66") as spoofing:
        assert reveal_audited_as(bridge, spoofing) == ATTACKER


def test_from_a_named_proxy_the_forwarded_address_counts_and_the_audit_names_the_proxy(
    bridge: live.LiveBridge,
) -> None:
    add_user(bridge, "carol", "carol's long password")
    with client(bridge, PROXY) as proxy:
        assert wrong_until_refused(proxy, "carol", ["192.0.2.1"] * (MAX_FAILURES + 1)) > 0
        proxy.headers["X-Forwarded-For"] = "192.0.2.2"  # carol, from another office
        assert log_in(proxy, "carol", "carol's long password").status_code == 303

    with client(bridge, PROXY, forwarded="203.0.113.7") as staff:
        assert reveal_audited_as(bridge, staff) == f"203.0.113.7 via {PROXY}"
