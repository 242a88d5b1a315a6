"""A shop whose Pancake sends no custom header, end to end on both backends: `bridge shops
connect` gives it a URL with the shop's token, Pancake's ping on saving it is answered 200, and
orders are bought at once by webhook, not minutes later by the catch-up. `--new-secret` moves
both credentials on without a refused webhook. A wrong token, or none, records nothing. At DEBUG,
no log line, table or file of the run holds a token or secret.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bridge.cli import main
from bridge.db import session_scope
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.dev.simulators.pancake import WebhookDelivery
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET
from bridge.models import Order
from bridge.pancake.webhook_tokens import url_token
from bridge.settings import get_settings
from bridge.states import FulfilmentState
from tests.conftest import Backend, fast_settings
from tests.e2e.test_secrets_at_rest import every_value, logging_to
from tests.e2e.world import NETFLIX, build_world
from workers.fulfilment.models import ShopCatchUp, WebhookEvent

SECRET_KEY = secrets.token_urlsafe(32)
HEADER = "X-Bridge-Secret"


@pytest.fixture
def headerless(
    backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Sandbox, Path]]:
    """The standard world, its Pancake sending no custom header and pinging every URL saved,
    its webhook not set yet, a catch-up only every hour; everything logged at DEBUG into a
    folder; the CLI's environment on the same database and simulator."""
    logs = tmp_path / "logs"
    logs.mkdir()
    settings = fast_settings(backend.database_url, catchup_interval_seconds=3600.0)
    with logging_to(logs):
        sandbox = build_world(Sandbox(settings, secret_key=SECRET_KEY, broker=backend.broker))
        sandbox.pancake.send_webhook_headers = False
        sandbox.pancake.ping_on_webhook_save = True
        sandbox.start(webhook=False)
        for name in ("BRIDGE_REDIS_URL", "BRIDGE_PUBLIC_URL", "BRIDGE_WEBHOOK_SECRET"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("BRIDGE_DATABASE_URL", backend.database_url)
        monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
        monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", sandbox.runtime.settings.pancake_base_url)
        try:
            yield sandbox, logs
        finally:
            sandbox.stop()
            get_settings.cache_clear()


def connect(capsys: pytest.CaptureFixture[str], sandbox: Sandbox, *how: str) -> str:
    get_settings.cache_clear()
    argv = ["shops", "connect", sandbox.shop_id, "--public-url", sandbox.bridge_url, *how]
    code = main(argv)
    # The CLI quiets the HTTP clients' request lines, which carry URLs: this run logs them all.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    out, err = capsys.readouterr()
    assert (code, err) == (0, ""), err
    return out


def list_reads(sandbox: Sandbox) -> int:
    """Reads of the order list: the catch-up's, and only the catch-up's."""
    return sandbox.pancake.count_calls("GET", f"/shops/{sandbox.shop_id}/orders")


def caught_up_once(sandbox: Sandbox) -> bool:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.exec(
            select(ShopCatchUp.caught_up_until).where(ShopCatchUp.shop_id == sandbox.shop_id)  # type: ignore[call-overload]
        ).first()
    return row is not None and row[0] is not None


def recorded(sandbox: Sandbox) -> tuple[int, int]:
    with session_scope(sandbox.runtime.engine) as session:
        conn = session.connection()
        events = conn.execute(select(func.count()).select_from(WebhookEvent)).scalar_one()
        orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    return events, orders


def bought_by_webhook(sandbox: Sandbox, reads: int) -> str:
    """Place an order and see it bought and annotated with no catch-up read meanwhile."""
    before = len(sandbox.suppliers["caoshop-sim"].ledger)
    order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sandbox.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    assert len(sandbox.suppliers["caoshop-sim"].ledger) == before + 1
    assert list_reads(sandbox) == reads, "bought before any catch-up read the order list"
    assert sandbox.pancake.wait_idle()
    sent = {d.result for d in sandbox.pancake.deliveries if d.ref_id == order_id}
    assert sent == {200}, "every webhook of the order was let in, headerless"
    return order_id


def test_a_headerless_pancake_is_served_at_once_through_the_urls_token(
    headerless: tuple[Sandbox, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, logs = headerless
    sim, shop = sandbox.pancake, sandbox.shop_id
    # The first catch-up of a new shop runs at start; the next is an hour away.
    sandbox.wait_for(lambda: caught_up_once(sandbox), what="the start-up catch-up")
    reads = list_reads(sandbox)

    out = connect(capsys, sandbox, "--webhook-secret", sandbox.webhook_secret)

    token = url_token(sandbox.webhook_secret, shop)
    assert sim.webhook_config(shop)["webhook_url"].endswith(f"?token={token}")
    assert sim.wait_idle()
    assert WebhookDelivery("ping", shop, 200) in sim.deliveries, "the ping on saving the URL"
    assert recorded(sandbox) == (0, 0), "and the ping recorded nothing"
    first = bought_by_webhook(sandbox, reads)

    # A new secret and token: the ping, sent before the bridge has stored them, still gets 200;
    # the next order's webhooks, with the new token, are let in at once.
    out += connect(capsys, sandbox, "--new-secret")
    new_secret = sim.webhook_config(shop)["webhook_headers"][HEADER]
    new_token = url_token(new_secret, shop)
    assert sim.webhook_config(shop)["webhook_url"].endswith(f"?token={new_token}")
    assert sim.wait_idle()
    pings = [d for d in sim.deliveries if d.type == "ping"]
    assert [d.result for d in pings] == [200, 200]
    second = bought_by_webhook(sandbox, reads)
    assert second != first

    # The old token, a wrong one, or none: refused, nothing recorded.
    events, orders = recorded(sandbox)
    order = {"type": "orders", "id": "990001", "status": 1, "items": []}
    url = f"{sandbox.bridge_url}/webhooks/pancake/{shop}"
    for params in ({"token": token}, {"token": "x" * 43}, {}):
        answer = httpx.post(url, params=params, content=json.dumps(order).encode(), timeout=10)
        assert answer.status_code == 401
    assert recorded(sandbox) == (events, orders)

    sandbox.stop()  # flush and close everything before the files are read
    handed_out = {
        token,
        new_token,
        sandbox.webhook_secret,
        new_secret,
        SECRET_KEY,
        PANCAKE_API_KEY,
        DEMO_API_KEY,
        DEMO_API_SECRET,
    }
    assert [s for s in handed_out if s in out] == [], "connect prints none of them"
    database = sandbox.runtime.settings.database_url
    in_tables = [
        (where, s) for where, value in every_value(database) for s in handed_out if s in value
    ]
    assert in_tables == []
    logged = (logs / "bridge.log").read_text() + (logs / "bridge.jsonl").read_text()
    assert "http.request" in logged, "the run was logged at DEBUG"
    assert "token=***" in logged, "the simulator's client logged the URLs it posted to, masked"
    assert [s for s in handed_out if s in logged] == []
