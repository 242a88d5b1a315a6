"""The webhook endpoint's credentials over real HTTP: the X-Bridge-Secret header or the URL's
token, either enough, neither recording anything; Pancake's ``{"test": true}`` ping answered 200
with or without them and never recorded; the token never written to a log line or traceback.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import func, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.logs import LogFormat, handler_for, protect_library_loggers
from bridge.models import Order
from bridge.pancake.shops import add_shop
from bridge.pancake.webhook_tokens import store_token, url_token
from bridge.routes import WEBHOOK_PATH, WEBHOOK_SECRET_HEADER, WEBHOOK_TOKEN_PARAM
from bridge.web.app import ShopDirectory
from bridge.web.limits import HttpLimits
from bridge.web.server import free_port, server_config
from tests.conftest import fast_settings, migrated_sqlite_url
from workers.fulfilment.models import WebhookEvent

_ORDER_IDS = itertools.count(5001)


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Sandbox]:
    """The web side only, shop 4 added with its secret and not connected yet (no token)."""
    sandbox = Sandbox(fast_settings(migrated_sqlite_url(tmp_path)))
    sandbox.start(workers=False, webhook=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def issue_token(sandbox: Sandbox) -> str:
    """What `bridge shops connect` stores before it sends the URL."""
    token = url_token(sandbox.webhook_secret, sandbox.shop_id)
    with session_scope(sandbox.runtime.engine) as session:
        store_token(session, sandbox.runtime.box, sandbox.shop_id, token)
    return token


def order_body() -> bytes:
    """A confirmed order Pancake could send, a new id each time (no duplicate to hide behind)."""
    document = {"type": "orders", "id": str(next(_ORDER_IDS)), "status": 1, "items": []}
    return json.dumps(document).encode()


def post(
    sandbox: Sandbox,
    body: bytes,
    *,
    header: str | None = None,
    token: str | None = None,
    shop: str | None = None,
    base: str | None = None,
) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[WEBHOOK_SECRET_HEADER] = header
    params = {WEBHOOK_TOKEN_PARAM: token} if token is not None else None
    url = (base or sandbox.bridge_url) + WEBHOOK_PATH.format(shop_id=shop or sandbox.shop_id)
    return httpx.post(url, content=body, headers=headers, params=params, timeout=10)


def counts(sandbox: Sandbox) -> tuple[int, int]:
    """(webhook events recorded, orders known)."""
    with session_scope(sandbox.runtime.engine) as session:
        conn = session.connection()
        events = conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    return events, orders


@pytest.mark.parametrize(
    ("header", "token", "status"),
    [
        ("right", None, 200),
        (None, "right", 200),
        ("right", "right", 200),
        ("wrong", "right", 200),
        ("right", "wrong", 200),
        ("wrong", "wrong", 401),
        (None, "wrong", 401),
        ("wrong", None, 401),
        (None, "", 401),
        (None, None, 401),
    ],
)
def test_the_header_or_the_token_lets_a_webhook_in_and_neither_records_nothing(
    bridge: Sandbox, header: str | None, token: str | None, status: int
) -> None:
    right_token = issue_token(bridge)
    values = {
        "right": bridge.webhook_secret,
        "wrong": "wrong-secret-value",
    }
    tokens = {"right": right_token, "wrong": url_token("wrong-secret-value", bridge.shop_id)}

    answer = post(
        bridge,
        order_body(),
        header=values.get(header or "", header),
        token=tokens.get(token or "", token),
    )

    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"ok": True, "outcome": "queued"}
        assert counts(bridge) == (1, 1)
    else:
        assert answer.json() == {
            "ok": False,
            "error": "missing or wrong x-bridge-secret header or token",
        }
        assert counts(bridge) == (0, 0), "nothing recorded, no order"


def test_a_shop_never_connected_with_a_token_is_let_in_by_its_header_alone(
    bridge: Sandbox,
) -> None:
    token = url_token(bridge.webhook_secret, bridge.shop_id)  # the one connect would issue
    assert post(bridge, order_body(), token=token).status_code == 401
    assert counts(bridge) == (0, 0)
    assert post(bridge, order_body(), header=bridge.webhook_secret).status_code == 200


def test_a_new_secret_retires_the_old_token_and_a_new_token_works_at_once(
    bridge: Sandbox,
) -> None:
    old_token = issue_token(bridge)
    # Served (and the shop cached) with the old credentials.
    assert post(bridge, order_body(), token=old_token).status_code == 200

    # `connect --new-secret`: the secret replaced and its token stored, in one transaction.
    new_secret = "a-brand-new-secret-value-of-32-chars"
    new_token = url_token(new_secret, bridge.shop_id)
    with session_scope(bridge.runtime.engine) as session:
        add_shop(session, bridge.runtime.box, bridge.shop_id, webhook_secret=new_secret)
        store_token(session, bridge.runtime.box, bridge.shop_id, new_token)

    # At once, though the shop is still cached as it was: a refused credential is checked again
    # against the stored one.
    assert post(bridge, order_body(), token=new_token).status_code == 200
    assert post(bridge, order_body(), token=old_token).status_code == 401
    assert post(bridge, order_body(), header=bridge.webhook_secret).status_code == 401
    assert post(bridge, order_body(), header=new_secret).status_code == 200
    assert counts(bridge) == (3, 3)


def test_a_refused_credential_that_cannot_be_checked_again_is_a_retry_not_a_no(
    bridge: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post(bridge, order_body(), header=bridge.webhook_secret).status_code == 200  # cached

    def away(*_: object) -> None:
        raise OSError("the database is away")

    monkeypatch.setattr(ShopDirectory, "_load", away)
    token = url_token("perhaps-a-secret-stored-a-moment-ago", bridge.shop_id)
    answer = post(bridge, order_body(), token=token)
    assert (answer.status_code, answer.json()["error"]) == (
        503,
        "could not check the credentials; please retry",
    )
    assert post(bridge, order_body(), header=bridge.webhook_secret).status_code == 200
    assert counts(bridge) == (2, 2)


PING = b'{"test":true}'


@pytest.mark.parametrize(
    ("header", "token"),
    [(None, None), ("wrong-secret-value", "wrong-token"), ("right", None), (None, "right")],
    ids=["no credential", "wrong credentials", "header", "token"],
)
def test_the_ping_is_answered_200_with_or_without_credentials_and_never_recorded(
    bridge: Sandbox, header: str | None, token: str | None
) -> None:
    right_token = issue_token(bridge)
    header = bridge.webhook_secret if header == "right" else header
    token = right_token if token == "right" else token

    answers = [post(bridge, PING, header=header, token=token) for _ in range(20)]

    assert {a.status_code for a in answers} == {200}
    assert {json.dumps(a.json()) for a in answers} == {'{"ok": true, "outcome": "ping"}'}
    assert counts(bridge) == (0, 0), "a flood of pings writes nothing"


@pytest.mark.parametrize(
    "body",
    [
        b'{"test": true, "type": "orders", "id": "9", "status": 1, "items": []}',
        b'{"test": 1}',
        b'{"test": true, "note": "' + b"x" * 100 + b'"}',
        b"{}",
    ],
    ids=["ping with an order", "test 1", "padded", "empty object"],
)
def test_anything_but_the_ping_needs_a_credential(bridge: Sandbox, body: bytes) -> None:
    answer = post(bridge, body)
    assert answer.status_code == 401
    assert counts(bridge) == (0, 0)


def test_a_ping_to_an_unknown_shop_is_still_not_found(bridge: Sandbox) -> None:
    """The URL is wrong: saying so when it is saved beats a 200 and refusals ever after."""
    assert post(bridge, PING, shop="no-such-shop").status_code == 404


class AccessLoggedServer:
    """The bridge's app served as `bridge serve` serves it: uvicorn's access log on, its own
    handlers (writing to standard output), the library loggers protected as at start-up."""

    def __init__(self, sandbox: Sandbox) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = server_config(
            sandbox.runtime.app,
            host="127.0.0.1",
            port=port,
            limits=HttpLimits.defaults(),
            log_level="debug",
            access_log=True,
        )
        protect_library_loggers()
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> AccessLoggedServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


def test_the_token_is_masked_in_access_lines_request_lines_and_tracebacks(
    bridge: Sandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    token = issue_token(bridge)
    wrong = url_token("wrong-secret-value", bridge.shop_id)
    caplog.set_level(logging.DEBUG)
    with AccessLoggedServer(bridge) as server:
        assert post(bridge, order_body(), token=token, base=server.url).status_code == 200
        assert post(bridge, order_body(), token=wrong, base=server.url).status_code == 401
        assert post(bridge, PING, token=token, base=server.url).status_code == 200
    out, err = capsys.readouterr()
    access = [line for line in out.splitlines() if "/webhooks/pancake/" in line]
    assert len(access) == 3, out
    assert all(f"/webhooks/pancake/4?{WEBHOOK_TOKEN_PARAM}=***" in line for line in access)
    requests = [r for r in caplog.records if getattr(r, "event", None) == "http.request"]
    assert len(requests) >= 3
    # A traceback quoting the URL, in both of the bridge's formats.
    stream = io.StringIO()
    logger = logging.getLogger("bridge.test")
    handlers = [handler_for(stream, LogFormat.TEXT), handler_for(stream, LogFormat.JSON)]
    for handler in handlers:
        logger.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"POST {bridge.bridge_url}/webhooks/pancake/4?token={token} failed")
        except RuntimeError:
            logger.exception("webhook.failed")
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert stream.getvalue().count("token=***") >= 2
    written = out + err + caplog.text + stream.getvalue()
    assert token not in written
    assert wrong not in written
