"""The one uvicorn configuration, and serving an ASGI app on a loopback port in a background thread.

Every server the project starts (`bridge run`/`serve`, the demo, the tests, the simulators) is
configured by ``server_config``, so the limits on slow and oversized clients hold everywhere.
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from bridge.web.guard import RequestGuard, refuse_busy
from bridge.web.limits import HttpLimits, bridge_protocol
from bridge.web.proxies import ForwardedFor
from bridge.web.request_ids import RequestIds


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


# File descriptors a process needs besides its HTTP connections: the database pool, Redis, the
# workers' supplier and Pancake clients, logs, the metrics folder.
SPARE_FILES = 256


def fit_open_files(connections: int) -> None:
    """Raise the soft limit on open files to hold ``connections`` (up to the hard limit): past
    it, accept() fails and new connections wait unanswered instead of getting the 503."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + SPARE_FILES
    if soft != resource.RLIM_INFINITY and soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def server_config(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    limits: HttpLimits,
    log_level: str = "warning",
    access_log: bool = False,
) -> uvicorn.Config:
    fit_open_files(limits.max_connections)
    return uvicorn.Config(
        RequestGuard(ForwardedFor(RequestIds(app), limits.trusted_proxies), limits),
        host=host,
        port=port,
        log_level=log_level,
        access_log=access_log,
        lifespan="on",
        # h11, with a deadline for the request head and the cap on connections
        # (bridge/web/limits.py).
        http=bridge_protocol(limits, refuse_busy),
        # The client's address is ForwardedFor's to find, from the proxies the settings name:
        # uvicorn's would trust X-Forwarded-For from loopback (or FORWARDED_ALLOW_IPS).
        proxy_headers=False,
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

    def ask_to_stop(self) -> None:
        """Ask the server to stop, without waiting: uvicorn notices at its next tick (0.1 s),
        so servers asked together stop together instead of one tick after another."""
        self._server.should_exit = True

    def stop(self) -> None:
        self.ask_to_stop()
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
