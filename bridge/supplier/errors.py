"""Errors of the supplier ("Shop API v1") client.

```
SupplierError                an ApiError (bridge.http_errors): method, path, status, error_code, …
├── SupplierTransient        worth retrying for reads (also a ``RetryLater``)
│   ├── SupplierUnreachable  the request never reached the supplier: nothing was bought
│   ├── SupplierOutcomeUnknown  the supplier may have processed it: timeout after sending,
│   │                        connection dropped mid-answer, any 5xx, or a 2xx we cannot read
│   └── SupplierRateLimited  RATE_LIMIT_EXCEEDED (401 from the real server, 429 in the docs) or
│       │                    any 429: refused, retry after `retry_after`
│       └── SupplierDailyLimited  DAILY_LIMIT_EXCEEDED: refused until the supplier's next day
├── SupplierRefused          a 4xx (or a 200 with "success": false): refused, nothing bought
│   └── SupplierRedirected   a 3xx: the base URL is not the API root; never followed
└── ListingIncomplete        a listing that cannot be read whole (paging ignored, no end)
```

The split that matters for purchases is *did money move?* `SupplierUnreachable`,
`SupplierRateLimited` and `SupplierRefused` are definite "no"; `SupplierOutcomeUnknown` is
"maybe", to be settled by reading the supplier's order list before buying again. ``str()`` of any
of them names only method and path, never keys, headers or queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from bridge.http_errors import ApiError, parse_retry_after, redact, where
from bridge.retrying import RetryLater
from bridge.supplier.vocabulary import ErrorCode

# Transport failures raised before a single byte of the request left this host.
_NEVER_SENT: tuple[type[httpx.RequestError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
_MAX_MESSAGE = 300


class SupplierError(ApiError):
    """Base of every supplier error; the text is ``"<method> <path>: <detail>"``."""

    def __init__(self, detail: str, *, method: str, path: str, **about: Any) -> None:
        super().__init__(f"{method} {path}: {detail}", method=method, path=path, **about)


class SupplierTransient(SupplierError, RetryLater):
    """Retryable for reads. For ``orders/create`` only the subclass tells whether it is safe."""


class SupplierUnreachable(SupplierTransient):
    """The request never reached the supplier (connect failed or timed out): nothing was bought."""


class SupplierOutcomeUnknown(SupplierTransient):
    """The supplier may have processed the request; settle by reading its orders, never rebuy."""


class SupplierRateLimited(SupplierTransient):
    """RATE_LIMIT_EXCEEDED (whatever the status: the platform's own server answers 401) or a
    429: a definite refusal. ``retry_after``: the seconds the supplier announced (the real
    server announces none). ``resume_in``: the seconds until the key may be used again, as the
    client worked it out (the block its budget now holds, a whole window when nothing was
    announced); None when nobody knows.
    """

    resume_in: float | None = None


class SupplierDailyLimited(SupplierRateLimited):
    """DAILY_LIMIT_EXCEEDED: the key's day is spent; ``resume_in`` is the time until the
    supplier's next day (``refusals.daily_limit_pause_end``)."""


class SupplierRefused(SupplierError):
    """The supplier answered with an error code: a definite refusal, nothing was bought.

    ``error_code`` is always set (``UNKNOWN`` when the supplier named none), ``message`` is the
    supplier's text ("" when it gave none).
    """

    error_code: str
    message: str


class SupplierRedirected(SupplierRefused):
    """A 3xx: the base URL is not the API root (cloneviammo answers at ``www.``; ``http://``
    sent to ``https://``). The web server turned the request away before the API saw it, so
    nothing was bought, and the redirect is never followed: httpx would resend a 301/302 POST
    as a GET, and the API key to whatever host the Location names.

    ``location``: where it points, without query, fragment or user info (None when it named
    none); ``base_url``: the API root to configure instead, when the Location keeps the path
    that was asked for (None otherwise). ``message`` says which URL to use.
    """

    def __init__(
        self, *, method: str, path: str, status: int, location: str | None, base_url: str | None
    ) -> None:
        if base_url is not None:
            message = f"redirects to {base_url}: use that as the base URL"
        elif location is not None:
            message = f"redirects to {location} (not followed): the base URL must be the API root"
        else:
            message = f"HTTP {status} without a Location: the base URL must be the API root"
        super().__init__(
            f"HTTP {status} {ErrorCode.REDIRECTED}: {message}",
            method=method,
            path=path,
            status=status,
            error_code=ErrorCode.REDIRECTED,
            message=message,
        )
        self.location = location
        self.base_url = base_url


class ListingIncomplete(SupplierError):
    """A listing could not be read whole: the supplier ignored paging, or it has no end in
    sight. What was read is not to be taken for all there is."""


def from_response(
    response: httpx.Response, *, secrets: Iterable[str] = (), endpoint: str = ""
) -> SupplierError:
    """Classify a response that is not a usable success.

    ``secrets`` (the API key and secret) are blanked out of the supplier's message, in case it
    echoes what it was sent. ``endpoint``: the path asked for below the base URL
    (``"orders/create"``); a redirect's Location that ends with it names the base URL to use.
    """
    method, path = where(response.request)
    status = response.status_code
    if 300 <= status < 400:
        location, base_url = _redirect_target(response, secrets, endpoint)
        return SupplierRedirected(
            method=method, path=path, status=status, location=location, base_url=base_url
        )
    body = _json_object(response)
    code, message = _code_and_message(body, secrets)

    # A spent limit is not a bad key, whatever the status says: the real server answers 401
    # for both, the docs 429.
    if code == ErrorCode.DAILY_LIMIT_EXCEEDED:
        return SupplierDailyLimited(
            f"HTTP {status} {code}",
            method=method,
            path=path,
            status=status,
            error_code=code,
            message=message,
            retry_after=None,
        )
    if status == 429 or code == ErrorCode.RATE_LIMIT_EXCEEDED:
        return SupplierRateLimited(
            f"HTTP {status} {ErrorCode.RATE_LIMIT_EXCEEDED}",
            method=method,
            path=path,
            status=status,
            error_code=ErrorCode.RATE_LIMIT_EXCEEDED,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    is_refusal = 400 <= status < 500 or (response.is_success and body.get("success") is False)
    if is_refusal:
        code = code or ErrorCode.UNKNOWN
        return SupplierRefused(
            f"HTTP {status} {code}: {message}" if message else f"HTTP {status} {code}",
            method=method,
            path=path,
            status=status,
            error_code=code,
            message=message,
        )
    # 5xx (even one naming an error code: PHP may fail after the order row is written), or a 2xx
    # whose body we cannot read: the order may exist.
    return SupplierOutcomeUnknown(
        f"HTTP {status} {code or 'unexpected answer'}",
        method=method,
        path=path,
        status=status,
        error_code=code,
    )


def unexpected_body(response: httpx.Response, reason: str) -> SupplierOutcomeUnknown:
    """A 2xx we cannot interpret: the supplier did something, we cannot tell what."""
    method, path = where(response.request)
    return SupplierOutcomeUnknown(
        f"HTTP {response.status_code} {reason}",
        method=method,
        path=path,
        status=response.status_code,
    )


def from_transport_error(exc: httpx.RequestError) -> SupplierTransient:
    """Map an httpx failure; only the class name is kept, httpx texts may carry URLs."""
    method, path = where(exc.request)
    name = type(exc).__name__
    if isinstance(exc, _NEVER_SENT):
        return SupplierUnreachable(f"supplier unreachable ({name})", method=method, path=path)
    return SupplierOutcomeUnknown(f"no complete answer ({name})", method=method, path=path)


def _redirect_target(
    response: httpx.Response, secrets: Iterable[str], endpoint: str
) -> tuple[str | None, str | None]:
    """Where a 3xx points, and the base URL that implies; both fit to quote to a person."""
    raw = response.headers.get("Location")
    if not raw:
        return None, None
    try:
        target = response.request.url.join(raw.strip())
    except httpx.InvalidURL:
        return None, None
    # The query and user info may carry what the next host would need to let us in.
    target = target.copy_with(query=None, fragment=None, username=None, password=None)
    location = redact(str(target), secrets)[:_MAX_MESSAGE]
    suffix = "/" + endpoint.strip("/")
    if endpoint and target.path.endswith(suffix):
        base = target.copy_with(path=target.path.removesuffix(suffix))
        return location, redact(str(base), secrets)[:_MAX_MESSAGE]
    return location, None


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
        return {}
    return body if isinstance(body, dict) else {}


def _code_and_message(body: dict[str, Any], secrets: Iterable[str]) -> tuple[str | None, str]:
    data = body.get("data")
    raw_code = data.get("error_code") if isinstance(data, dict) else None
    code = str(raw_code) if raw_code not in (None, "") else None
    message = redact(str(body.get("message") or ""), secrets)
    return code, message[:_MAX_MESSAGE]
