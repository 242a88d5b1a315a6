"""Redis for the fault suite: the machine's shared one, and private ones a test may stop.

The shared Redis (``SHARED_REDIS_URL``, 127.0.0.1:6379 unless ``BRIDGE_TEST_REDIS_URL`` says
otherwise) serves every test session on this machine at once, so the suite never stops it: a
restart there would drop the queues of tests it knows nothing about. A test that stops or
restarts Redis gets a ``PrivateRedis`` instead, its own ``redis-server`` on a free port.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import redis

from tests.conftest import REDIS_URL
from tests.faults.processes import tail
from tests.faults.waiting import poll

SHARED_REDIS_URL = REDIS_URL
SHARED_REDIS_HOST = urlsplit(SHARED_REDIS_URL).hostname or "127.0.0.1"
SHARED_REDIS_PORT = urlsplit(SHARED_REDIS_URL).port or 6379


def redis_answers(url: str) -> bool:
    """Whether the Redis at ``url`` answers PING within a second."""
    try:
        with redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1) as client:
            return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


def _free_port() -> int:
    """A loopback port nobody listens on now (the kernel's pick, so sessions rarely collide)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class PrivateRedis:
    """One test's own ``redis-server``: loopback only, nothing persisted, its own folder and log.

    ``down()`` stops it and starts it again on the *same* port, so workers that lost their
    connection find it where they left it; ``close()`` kills it for good. Only this process is
    ever signalled, never a server found on a port.
    """

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> PrivateRedis:
        """Start the server (output appended to ``redis.log``) and wait until it answers PING."""
        assert self._proc is None, "already running"
        with self.log_path.open("ab") as log:
            # --save "" and --appendonly no: a stop loses everything, as `shutdown nosave` would.
            self._proc = subprocess.Popen(
                ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
                + ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = self._proc
        if not poll(lambda: proc.poll() is not None or redis_answers(self.url), timeout):
            self.close()
            raise TimeoutError(f"private Redis on port {self.port} did not answer PING")
        if proc.poll() is not None:
            self._proc = None
            raise RuntimeError(f"private Redis on port {self.port} exited:\n{tail(self.log_path)}")
        return self

    def close(self) -> None:
        """Stop the server (SIGTERM: Redis shuts down, saving nothing), SIGKILL if it lingers."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    @contextlib.contextmanager
    def down(self) -> Iterator[None]:
        """Stopped inside the block (every queue is lost); started again afterwards on the same
        port even if the block fails, so the test's teardown still finds a Redis to clean up."""
        self.close()
        try:
            yield
        finally:
            self.start()
