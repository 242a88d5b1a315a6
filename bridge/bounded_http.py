"""HTTP calls with one deadline and a bounded answer (``BoundedTransport``).

httpx's timeouts bound each wait on the socket, not the call: an answer dripped one byte every
10 s never trips a 30 s read timeout, and holds its thread for as long as the server likes. And
httpx reads an answer whole, decompressing as it goes: 150 KB of gzip on the wire can expand to
150 MiB in memory. The transport here closes both doors:

- **one deadline** for connect, send and read together. Every socket operation of the call waits
  at most until the deadline (``_DeadlineBackend`` clamps the timeout httpcore asks for), so a
  call ends by then whatever the server does, with httpx's own ``ConnectTimeout`` (nothing was
  sent), ``WriteTimeout`` or ``ReadTimeout``;
- **a size limit**, counted after decompression: the answer is read in chunks and inflated with
  zlib's ``max_length``, so no more than the limit (plus one chunk) is ever held; past it the
  call fails with ``AnswerTooLarge`` and the rest is never read. A ``Content-Length`` over the
  limit is refused before a byte of the body is read.

The answer handed back holds the decoded body, so httpx decodes nothing again. Only the encodings
the client asks for are accepted (``ACCEPT_ENCODING``): an answer in any other fails with
``httpx.DecodingError``.

Not covered: proxies from the environment (``HTTPS_PROXY``): a client given a transport of its
own does not read them, and the bridge documents none.
"""

from __future__ import annotations

import time
import typing
import zlib
from contextvars import ContextVar

import httpcore
import httpx

# What the client tells the server it can read: the encodings ``_Inflate`` bounds.
ACCEPT_ENCODING = "gzip, deflate"

# The monotonic time the call running in this thread must end by (None: no call of ours).
_DEADLINE: ContextVar[float | None] = ContextVar("bridge_http_deadline", default=None)


class AnswerTooLarge(httpx.RequestError):
    """The answer was larger than ``limit`` bytes (decompressed); the rest was not read."""

    def __init__(self, limit: int, *, request: httpx.Request | None = None) -> None:
        super().__init__(f"answer larger than {limit} bytes", request=request)
        self.limit = limit


class BoundedTransport(httpx.BaseTransport):
    """Every request through it ends within ``deadline_seconds`` and reads at most
    ``max_bytes`` of decoded answer. ``inner``: the transport that talks to the network (tests
    may pass a mock one; the deadline then only bounds the reading of the body)."""

    def __init__(
        self,
        *,
        deadline_seconds: float,
        max_bytes: int,
        inner: httpx.BaseTransport | None = None,
    ) -> None:
        if deadline_seconds <= 0 or max_bytes < 1:
            raise ValueError("the deadline and the size limit must be positive")
        self.deadline_seconds = deadline_seconds
        self.max_bytes = max_bytes
        self._inner = inner if inner is not None else _DeadlineTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        until = time.monotonic() + self.deadline_seconds
        token = _DEADLINE.set(until)
        try:
            # The wait for a pooled connection is not a socket operation: bounded here.
            request.extensions["timeout"] = _clamped(request.extensions.get("timeout"), until)
            response = self._inner.handle_request(request)
            try:
                body = _read_bounded(response, request, self.max_bytes, until)
            finally:
                response.close()
        finally:
            _DEADLINE.reset(token)
        return httpx.Response(
            response.status_code,
            headers=[
                (name, value)
                for name, value in response.headers.multi_items()
                if name.lower() not in _REWRITTEN
            ],
            content=body,
            extensions=response.extensions,
            request=request,
        )

    def close(self) -> None:
        self._inner.close()


# Headers that described the body as it came over the wire, not the decoded one handed back.
_REWRITTEN = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _clamped(timeouts: object, until: float) -> dict[str, float | None]:
    remaining = max(0.0, until - time.monotonic())
    found = timeouts if isinstance(timeouts, dict) else {}
    return {
        phase: remaining if found.get(phase) is None else min(found[phase], remaining)
        for phase in ("connect", "read", "write", "pool")
    }


def _read_bounded(
    response: httpx.Response, request: httpx.Request, limit: int, until: float
) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise AnswerTooLarge(limit, request=request)
    inflate = _Inflate.of(response.headers.get("content-encoding", ""), request)
    body = bytearray()
    stream = response.stream
    assert isinstance(stream, httpx.SyncByteStream), "a sync transport answers so"
    for chunk in stream:
        body += inflate.feed(chunk, limit - len(body))
        if len(body) > limit:
            raise AnswerTooLarge(limit, request=request)
        if time.monotonic() > until:
            # Bytes keep coming, each within the socket's timeout: the call's time is up all
            # the same.
            raise httpx.ReadTimeout("the call's deadline passed", request=request)
    body += inflate.end()
    if len(body) > limit:
        raise AnswerTooLarge(limit, request=request)
    return bytes(body)


class _Inflate:
    """Decodes one content encoding, never producing more than asked for per chunk."""

    def __init__(self, wbits: int | None) -> None:
        # None: identity; 0: HTTP's "deflate", zlib-wrapped or (some servers) raw, told apart
        # by its first two bytes, as httpx does by trial.
        self._wbits = wbits
        self._z = zlib.decompressobj(wbits) if wbits else None
        self._head = b""

    @classmethod
    def of(cls, header: str, request: httpx.Request) -> _Inflate:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if not codings:
            return cls(None)
        if codings in (["gzip"], ["x-gzip"]):
            return cls(16 + zlib.MAX_WBITS)
        if codings == ["deflate"]:
            return cls(0)
        raise httpx.DecodingError("an answer in an encoding not asked for", request=request)

    def feed(self, data: bytes, room: int) -> bytes:
        """What ``data`` decodes to, at most ``room`` + 1 bytes: one more than there is room
        for says the answer is too large, and the input past it is never inflated."""
        if self._wbits is None:
            return data[: room + 1]
        if self._z is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            cmf, flg = self._head[0], self._head[1]
            zlib_wrapped = cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if zlib_wrapped else -zlib.MAX_WBITS)
            data, self._head = self._head, b""
        try:
            return self._z.decompress(data, max(room, 0) + 1)
        except zlib.error:
            raise httpx.DecodingError("the answer's compression is corrupt") from None

    def end(self) -> bytes:
        if self._z is None:
            return b""
        try:
            return self._z.flush()
        except zlib.error:
            raise httpx.DecodingError("the answer's compression is corrupt") from None


class _DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport, on a connection pool whose sockets never wait past the deadline
    of the call that uses them."""

    def __init__(self) -> None:
        super().__init__()
        # httpx offers no way to hand its pool a network backend: the same pool, built again
        # with one (httpx's defaults, spelled out).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(httpcore.SyncBackend()),
        )


def _within_deadline(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` cut to what is left of the running call's deadline; ``expired`` raised when
    nothing is."""
    until = _DEADLINE.get()
    if until is None:
        return timeout
    remaining = until - time.monotonic()
    if remaining <= 0:
        raise expired("the call's deadline passed")
    return remaining if timeout is None else min(timeout, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within_deadline(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within_deadline(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> typing.Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(host, port, wait, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        wait = _within_deadline(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, wait, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)
