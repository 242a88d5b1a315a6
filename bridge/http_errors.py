"""What both API clients share about failed calls: one error base, Retry-After, redaction.

Every error of the Pancake and supplier trees is an ``ApiError`` with the same attributes, so a
caller (a step, the CLI, a web page) reads any of them the same way:

- ``method`` and ``path``: which call failed. Never the query string: Pancake carries its
  ``api_key`` there.
- ``status``: the HTTP status, None when no answer came.
- ``error_code``: the API's own code for the refusal, when it gave one.
- ``message``: the API's own explanation, scrubbed of the secrets the request carried.
- ``retry_after``: seconds the API asked us to wait (``Retry-After``), if any.
- ``body``: the start of the answer, scrubbed, for diagnosis.

"Retry this" is a type, not a flag: an error that is worth trying again is also a
``bridge.retrying.RetryLater``, which ``call_with_retries`` retries and a step reschedules.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from bridge.errors import BridgeError

# Enough of an answer to diagnose a failure without flooding logs.
BODY_LIMIT = 2000


class ApiError(BridgeError):
    """A call to an external API failed; ``str()`` names the call, never a secret."""

    def __init__(
        self,
        text: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        error_code: str | None = None,
        message: str | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        super().__init__(text)
        self.method = method
        self.path = path
        self.status = status
        self.error_code = error_code
        self.message = message
        self.retry_after = retry_after
        self.body = body


def where(request: httpx.Request) -> tuple[str, str]:
    """Method and path of a request: ``url.path`` leaves out the query, where keys may live."""
    return request.method, request.url.path


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every non-empty secret replaced by ``***`` (an API may echo what it got)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    None when absent or unreadable; never negative, never infinite.
    """
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)
