"""Errors raised by the Pancake POS client.

Our exception hierarchy::

    PancakeError               an ApiError (bridge.http_errors): method, path, status, message, …
    ├── PancakeUnavailable     transient: timeout, connection error, 429, 5xx; retried inside the
    │                          client, raised once its attempts run out (also a ``RetryLater``)
    └── PancakeRequestError    4xx other than 429, HTTP 200 with ``"success": false``, or an answer
                               we cannot read; retrying will not help, a person must look

Pancake takes ``api_key`` in the query string, so a URL must never reach a message: errors are
described by method and path only, and any text that came back from Pancake is scrubbed of the key
in case the server echoes it.
"""

from __future__ import annotations

import json

import httpx

from bridge.http_errors import BODY_LIMIT, ApiError, parse_retry_after, redact, where
from bridge.retrying import RetryLater


class PancakeError(ApiError):
    """Base class: every failure of a Pancake POS call."""


class PancakeUnavailable(PancakeError, RetryLater):
    """Pancake could not answer now; trying again later may succeed.

    Being a ``RetryLater`` lets ``call_with_retries`` (and any caller built on it) retry this
    error and honour ``retry_after``.
    """

    @classmethod
    def from_response(cls, response: httpx.Response) -> PancakeUnavailable:
        method, path = where(response.request)
        return cls(
            f"{method} {path} answered {response.status_code}",
            method=method,
            path=path,
            status=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    @classmethod
    def from_transport_error(
        cls, exc: httpx.TransportError, request: httpx.Request
    ) -> PancakeUnavailable:
        method, path = where(request)
        detail = _scrub(str(exc) or type(exc).__name__, request)
        return cls(
            f"{method} {path} failed: {type(exc).__name__}: {detail}", method=method, path=path
        )


class PancakeRequestError(PancakeError):
    """Pancake refused the request; ``message`` is Pancake's own explanation when it gave one."""

    @classmethod
    def from_response(
        cls, response: httpx.Response, *, reason: str | None = None
    ) -> PancakeRequestError:
        """From a refusal; ``reason`` replaces Pancake's message when we rejected the answer."""
        method, path = where(response.request)
        message = _pancake_message(response)
        if message is not None:
            message = _scrub(message, response.request)
        explanation = reason or message or "no message"
        return cls(
            f"{method} {path} answered {response.status_code}: {explanation}",
            method=method,
            path=path,
            status=response.status_code,
            message=message,
            body=_scrub(response.text[:BODY_LIMIT], response.request),
        )


def _scrub(text: str, request: httpx.Request) -> str:
    return redact(text, [request.url.params.get("api_key") or ""])


def _pancake_message(response: httpx.Response) -> str | None:
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if isinstance(payload, dict):
        for key in ("message", "error", "errors"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return value
    return None
