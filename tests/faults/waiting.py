"""Polling until a condition holds: the one wait loop that Redis control, the worker processes and
the world share."""

from __future__ import annotations

import time
from collections.abc import Callable


def poll(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Check ``condition`` every ``interval`` seconds until it holds (True) or ``timeout`` passes
    (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """``poll``, raising TimeoutError (naming ``what`` was awaited) if the condition never holds."""
    if not poll(condition, timeout):
        raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
