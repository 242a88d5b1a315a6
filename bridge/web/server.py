"""The one uvicorn configuration, and serving an ASGI app on a loopback port in a background thread.

Every server the project starts (`bridge run`/`serve`, the demo, the tests, the simulators) is
configured by ``server_config``, so the limits on slow and oversized clients hold everywhere.
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from bridge.web.guard import RequestGuard
from bridge.web.limits import HttpLimits, head_deadline_protocol
from bridge.web.request_ids import RequestIds


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def server_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: HttpLimits,
    log_level: str = "warning",
    access_log: bool = False,
) -> uvicorn.Config:
    return uvicorn.Config(
        RequestGuard(RequestIds(app), limits),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        # h11, with a deadline for the request head (bridge/web/limits.py).
        http=head_deadline_protocol(limits.header_timeout_seconds),
        timeout_keep_alive=limits.keep_alive_seconds,
        # The request line and headers together: a longer head is answered 400 and closed.
        h11_max_incomplete_event_size=limits.max_header_bytes,
        server_header=False,
    )


class ServerThread:
    """``with ServerThread(app) as server: httpx.get(server.url + "/...")``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        limits: HttpLimits | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = server_config(
            app, host=host, port=self.port, limits=limits or HttpLimits.defaults()
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, name=f"server:{self.port}", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
