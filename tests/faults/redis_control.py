"""The machine's Redis as a process the fault tests may stop and start: ping it, start it if it is
down, stop it for a block (every queue is lost) and always start it again afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from tests.faults.waiting import wait_until

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379
REDIS_URL = os.environ.get("BRIDGE_TEST_REDIS_URL", f"redis://{REDIS_HOST}:{REDIS_PORT}/0")


def _redis_cli(*args: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """``redis-cli ARGS`` against the test Redis, output captured, exit status not checked."""
    return subprocess.run(
        ["redis-cli", "-h", REDIS_HOST, "-p", str(REDIS_PORT), *args],
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def redis_ping() -> bool:
    try:
        answer = _redis_cli("ping", timeout=3)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return answer.stdout.strip() == b"PONG"


def start_redis(timeout: float = 15.0) -> None:
    for folder in ("/var/lib/redis", "/var/log/redis"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            str(REDIS_PORT),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
        capture_output=True,
        timeout=10,
    )
    wait_until(redis_ping, timeout, "redis-cli ping to answer after starting Redis")


def ensure_redis() -> None:
    if not redis_ping():
        start_redis()


@contextlib.contextmanager
def redis_down() -> Iterator[None]:
    """Redis is stopped (``shutdown nosave``: every queue is lost) inside the block, and always
    started again afterwards, so a failing test never leaves it down for the rest of the suite."""
    try:
        _redis_cli("shutdown", "nosave", timeout=10)
        wait_until(lambda: not redis_ping(), 10, "Redis to go down")
        yield
    finally:
        ensure_redis()


def restart_redis(down_seconds: float = 0.5) -> None:
    with redis_down():
        time.sleep(down_seconds)
