"""Log lines stay short and single-line whatever a client sends, and never carry query secrets,
keys or credentials."""

from __future__ import annotations

import io
import json
import logging
import secrets
from pathlib import Path

import pytest
from uvicorn.logging import AccessFormatter

from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET
from bridge.logs import (
    MAX_FIELD_CHARS,
    MAX_LINE_CHARS,
    LogFormat,
    RedactingFilter,
    bound,
    event,
    handler_for,
    protect_library_loggers,
)
from bridge.states import FulfilmentState
from tests.conftest import fast_settings
from tests.e2e.world import CANVA, CAOSHOP, CHATGPT, NETFLIX, all_credentials, build_world


def test_a_huge_or_multi_line_field_is_clipped_to_one_short_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bridge"):
        event("webhook.test", order_id="4" * 100_000, note="a\nforged line")

    [line] = caplog.messages
    assert "\n" not in line
    assert len(line) < 2 * MAX_FIELD_CHARS + 100
    assert "(+99800 chars)" in line
    assert "note=a\\x0aforged line" in line


def test_uvicorns_access_line_for_a_huge_path_is_clipped_and_redacted() -> None:
    path = "/webhooks/pancake/" + "4" * 100_000 + "?api_key=sk_live_abc"
    args = ("1.2.3.4:5", "POST", path, "1.1", 414)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )

    assert RedactingFilter().filter(record)

    line = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(record)
    assert line.startswith('1.2.3.4:5 - "POST /webhooks/pancake/4444')
    assert line.endswith(' HTTP/1.1" 414 Request-URI Too Long')
    assert len(line) < MAX_LINE_CHARS + 100


def test_query_secrets_are_redacted_in_library_lines() -> None:
    record = logging.LogRecord(
        "httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", ("GET", "/x?api_key=k1"), None
    )
    RedactingFilter().filter(record)
    assert record.getMessage() == "HTTP Request: GET /x?api_key=***"


def test_a_whole_run_logs_no_key_secret_or_credential(tmp_path: Path) -> None:
    """Everything the bridge and its libraries log while orders go from webhook to note, at
    DEBUG, as JSON and as text: none of the keys, secrets or delivered credentials appears."""
    json_out, text_out = io.StringIO(), io.StringIO()
    handlers = [handler_for(json_out, LogFormat.JSON), handler_for(text_out, LogFormat.TEXT)]
    root = logging.getLogger()
    quiet = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore", "bridge")}
    for handler in handlers:
        root.addHandler(handler)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    protect_library_loggers()
    secret_key = secrets.token_urlsafe(32)
    sandbox = build_world(
        Sandbox(fast_settings(f"sqlite:///{tmp_path / 'bridge.db'}"), secret_key=secret_key)
    ).start()
    try:
        order = sandbox.place_order(
            [
                {"variation_id": NETFLIX, "quantity": 1},
                {"variation_id": CHATGPT, "quantity": 1},
                {"variation_id": CANVA, "quantity": 1},
            ],
            bill_email="khach@example.com",
        )
        caoshop = sandbox.suppliers[CAOSHOP]
        sandbox.wait_for(lambda: len(caoshop.ledger) == 2, what="both caoshop purchases")
        caoshop.complete_pending()  # the manual plan's credentials, delivered later
        lines = sandbox.wait_settled(order, lines=3, final=True)
        assert {line.state for line in lines} == {FulfilmentState.ANNOTATED}
        credentials = all_credentials(sandbox)
        webhook_secret = sandbox.webhook_secret
    finally:
        sandbox.stop()
        for handler in handlers:
            root.removeHandler(handler)
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)

    assert len(credentials) >= 3
    secrets_used = [DEMO_API_KEY, DEMO_API_SECRET, PANCAKE_API_KEY, webhook_secret, secret_key]
    logged = json_out.getvalue() + text_out.getvalue()
    assert len(logged.splitlines()) > 50, "the run logged"
    leaked = [value for value in [*secrets_used, *credentials] if value in logged]
    assert leaked == []

    events = [json.loads(line) for line in json_out.getvalue().splitlines()]
    assert any(e.get("fulfilment_id") for e in events), "worker steps bind the line"
    assert any(e.get("request_id") for e in events), "web requests bind their id"


def test_json_lines_carry_the_event_its_fields_and_the_bound_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    out = io.StringIO()
    logger = logging.getLogger("bridge")
    handler = handler_for(out, LogFormat.JSON)
    logger.addHandler(handler)
    try:
        with bound(request_id="r1"), bound(fulfilment_id=7):
            event("purchase.bought", trans_id="T-1", quantity=2)
        event("after", api_key="sk_live_x", url="https://h/x?api_key=sk_live_y")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["event"] == "purchase.bought"
    assert (first["request_id"], first["fulfilment_id"]) == ("r1", 7)
    assert (first["trans_id"], first["quantity"]) == ("T-1", 2)
    assert "request_id" not in second  # the binding ended with its block
    assert second["api_key"] == "***"  # a field named as a secret is never written
    assert second["url"] == "https://h/x?api_key=***"
    assert "sk_live" not in out.getvalue()


def test_a_traceback_is_redacted_in_both_formats() -> None:
    for log_format in (LogFormat.JSON, LogFormat.TEXT):
        out = io.StringIO()
        logger = logging.getLogger("bridge.test")
        handler = handler_for(out, log_format)
        logger.addHandler(handler)
        try:
            try:
                raise RuntimeError("GET https://pos/x?api_key=sk_live_secret failed")
            except RuntimeError:
                logger.exception("request failed")
        finally:
            logger.removeHandler(handler)
        assert "sk_live_secret" not in out.getvalue(), log_format
        assert "api_key=***" in out.getvalue(), log_format
