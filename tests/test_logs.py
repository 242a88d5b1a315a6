"""Log lines stay short and single-line whatever a client sends, and never carry query secrets."""

from __future__ import annotations

import logging

import pytest
from uvicorn.logging import AccessFormatter

from bridge.logs import MAX_FIELD_CHARS, MAX_LINE_CHARS, RedactingFilter, event


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
