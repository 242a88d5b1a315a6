"""Errors of the supplier ("Shop API v1") client.

```
ShopError                  base; str() names only method + path, never keys, headers or queries
├── ShopTransient          worth retrying for reads
│   ├── ShopUnreachable    the request never reached the supplier: nothing was bought
│   ├── ShopOutcomeUnknown the supplier may have processed it: timeout after sending, connection
│   │                      dropped mid-answer, any 5xx, or a 2xx whose body is not the expected JSON
│   └── ShopRateLimited    HTTP 429 / RATE_LIMIT_EXCEEDED: refused, try again after `retry_after`
└── ShopRefused            a 4xx (or a 200 with "success": false): refused, nothing bought
```

The split that matters for purchases is *did money move?* `ShopUnreachable`, `ShopRateLimited`
and `ShopRefused` are definite "no"; `ShopOutcomeUnknown` is "maybe", to be settled by reading the
supplier's order list before buying again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
OUT_OF_STOCK = "OUT_OF_STOCK"
PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
INVALID_API_KEY = "INVALID_API_KEY"
INVALID_API_SECRET = "INVALID_API_SECRET"
DISABLED_API_KEY = "DISABLED_API_KEY"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
PERMISSION_DENIED = "PERMISSION_DENIED"
ITEMS_REQUIRED = "ITEMS_REQUIRED"
INVALID_JSON = "INVALID_JSON"
CART_ERROR = "CART_ERROR"
CHECKOUT_ERROR = "CHECKOUT_ERROR"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"  # not in the docs; what the simulator answers
UNKNOWN = "UNKNOWN"

# Transport failures raised before a single byte of the request left this host.
_NEVER_SENT: tuple[type[httpx.RequestError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
_MAX_MESSAGE = 300


class ShopError(Exception):
    """Base of every supplier error. ``method`` and ``path`` say which call failed."""

    def __init__(self, detail: str, *, method: str, path: str) -> None:
        super().__init__(f"{method} {path}: {detail}")
        self.method = method
        self.path = path


class ShopTransient(ShopError):
    """Retryable for reads. For ``orders/create`` only the subclass tells whether it is safe."""


class ShopUnreachable(ShopTransient):
    """The request never reached the supplier (connect failed or timed out): nothing was bought."""


class ShopOutcomeUnknown(ShopTransient):
    """The supplier may have processed the request; settle by reading its orders, never rebuy."""

    def __init__(
        self,
        detail: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(detail, method=method, path=path)
        self.status = status
        self.error_code = error_code


class ShopRateLimited(ShopTransient):
    """HTTP 429 / RATE_LIMIT_EXCEEDED: a definite refusal; ``retry_after`` seconds if announced."""

    def __init__(
        self, detail: str, *, method: str, path: str, retry_after: float | None = None
    ) -> None:
        super().__init__(detail, method=method, path=path)
        self.status = 429
        self.error_code = RATE_LIMIT_EXCEEDED
        self.retry_after = retry_after


class ShopRefused(ShopError):
    """The supplier answered with an error code: a definite refusal, nothing was bought."""

    def __init__(
        self, detail: str, *, method: str, path: str, status: int, error_code: str, message: str
    ) -> None:
        super().__init__(detail, method=method, path=path)
        self.status = status
        self.error_code = error_code
        self.message = message


def from_response(response: httpx.Response, *, redact: Iterable[str] = ()) -> ShopError:
    """Classify a response that is not a usable success.

    ``redact`` lists strings (the API key and secret) to blank out of the supplier's message, in
    case it echoes what it was sent.
    """
    method, path = _where(response.request)
    status = response.status_code
    body = _json_object(response)
    code, message = _code_and_message(body, redact)

    if status == 429 or code == RATE_LIMIT_EXCEEDED:
        return ShopRateLimited(
            f"HTTP {status} {RATE_LIMIT_EXCEEDED}",
            method=method,
            path=path,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    is_refusal = 400 <= status < 500 or (response.is_success and body.get("success") is False)
    if is_refusal:
        code = code or UNKNOWN
        return ShopRefused(
            f"HTTP {status} {code}: {message}" if message else f"HTTP {status} {code}",
            method=method,
            path=path,
            status=status,
            error_code=code,
            message=message,
        )
    # 5xx (even one naming an error code: PHP may fail after the order row is written), 3xx, or a
    # 2xx whose body we cannot read: the order may exist.
    return ShopOutcomeUnknown(
        f"HTTP {status} {code or 'unexpected answer'}",
        method=method,
        path=path,
        status=status,
        error_code=code,
    )


def unexpected_body(response: httpx.Response, reason: str) -> ShopOutcomeUnknown:
    """A 2xx we cannot interpret: the supplier did something, we cannot tell what."""
    method, path = _where(response.request)
    return ShopOutcomeUnknown(
        f"HTTP {response.status_code} {reason}",
        method=method,
        path=path,
        status=response.status_code,
    )


def from_transport_error(exc: httpx.RequestError) -> ShopTransient:
    """Map an httpx failure; only the class name is kept, httpx texts may carry URLs."""
    method, path = _where(exc.request)
    name = type(exc).__name__
    if isinstance(exc, _NEVER_SENT):
        return ShopUnreachable(f"supplier unreachable ({name})", method=method, path=path)
    return ShopOutcomeUnknown(f"no complete answer ({name})", method=method, path=path)


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
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


def _where(request: httpx.Request) -> tuple[str, str]:
    return request.method, request.url.path


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        return {}
    return body if isinstance(body, dict) else {}


def _code_and_message(body: dict[str, Any], redact: Iterable[str]) -> tuple[str | None, str]:
    data = body.get("data")
    raw_code = data.get("error_code") if isinstance(data, dict) else None
    code = str(raw_code) if raw_code not in (None, "") else None
    message = str(body.get("message") or "")
    for secret in redact:
        if secret:
            message = message.replace(secret, "***")
    return code, message[:_MAX_MESSAGE]
