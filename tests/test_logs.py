"""Log lines stay short and single-line whatever a client sends, and never carry query secrets,
keys or credentials."""

from __future__ import annotations

import io
import json
import logging

import pytest
from uvicorn.logging import AccessFormatter

from bridge.logs import (
    MAX_FIELD_CHARS,
    MAX_LINE_CHARS,
    LogFormat,
    RedactingFilter,
    bound,
    event,
    handler_for,
)


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
