"""Errors raised by the Pancake POS client.

Our exception hierarchy::

    PancakeError               base; the message names the method and path, never the query
    ├── PancakeUnavailable     transient: timeout, connection error, 429, 5xx; retried inside the
    │                          client, raised once its attempts run out (also a ``RetryLater``)
    └── PancakeRequestError    4xx other than 429, HTTP 200 with ``"success": false``, or an answer
                               we cannot read; retrying will not help, a person must look

Pancake takes ``api_key`` in the query string, so a URL must never reach a message: errors are
described by method and path only, and any text that came back from Pancake is scrubbed of the key
in case the server echoes it.
"""

from __future__ import annotations

import email.utils
import json
import time

import httpx

from bridge.retrying import RetryLater

# Enough of a response body to diagnose a failure without flooding logs.
_BODY_LIMIT = 2000


class PancakeError(Exception):
    """Base class: every failure of a Pancake POS call."""

    def __init__(self, message: str, *, method: str, path: str, status: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.status = status


class PancakeUnavailable(PancakeError, RetryLater):
    """Pancake could not answer now; trying again later may succeed.

    Subclassing ``RetryLater`` lets ``call_with_retries`` (and any caller built on it) retry this
    error and honour ``retry_after``.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, status=status)
        self.retry_after = retry_after

    @classmethod
    def from_response(cls, response: httpx.Response) -> PancakeUnavailable:
        method, path = _describe(response.request)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return cls(
            f"{method} {path} answered {response.status_code}",
            method=method,
            path=path,
            status=response.status_code,
            retry_after=retry_after,
        )

    @classmethod
    def from_transport_error(
        cls, exc: httpx.TransportError, request: httpx.Request
    ) -> PancakeUnavailable:
        method, path = _describe(request)
        detail = _redact(str(exc) or type(exc).__name__, request)
        return cls(
            f"{method} {path} failed: {type(exc).__name__}: {detail}", method=method, path=path
        )


class PancakeRequestError(PancakeError):
    """Pancake refused the request; ``message`` is Pancake's own explanation when it gave one."""

    def __init__(
        self,
        text: str,
        *,
        method: str,
        path: str,
        status: int | None,
        message: str | None = None,
        body: str = "",
    ) -> None:
        super().__init__(text, method=method, path=path, status=status)
        self.message = message
        self.body = body

    @classmethod
    def from_response(
        cls, response: httpx.Response, *, reason: str | None = None
    ) -> PancakeRequestError:
        """From a refusal; ``reason`` replaces Pancake's message when we rejected the answer."""
        method, path = _describe(response.request)
        body = _redact(response.text[:_BODY_LIMIT], response.request)
        message = _pancake_message(response)
        if message is not None:
            message = _redact(message, response.request)
        explanation = reason or message or "no message"
        return cls(
            f"{method} {path} answered {response.status_code}: {explanation}",
            method=method,
            path=path,
            status=response.status_code,
            message=message,
            body=body,
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _describe(request: httpx.Request) -> tuple[str, str]:
    # url.path excludes the query string, which is where the api_key lives.
    return request.method, request.url.path


def _redact(text: str, request: httpx.Request) -> str:
    api_key = request.url.params.get("api_key")
    return text.replace(api_key, "***") if api_key else text


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
