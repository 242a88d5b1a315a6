"""Bounded exponential backoff shared by the API clients and the workers."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def backoff_delay(attempt: int, *, base: float, factor: float = 2.0, cap: float) -> float:
    """Delay before retry number ``attempt`` (0-based), with +-20% jitter so callers spread out."""
    delay = min(cap, base * factor**attempt)
    return float(delay * random.uniform(0.8, 1.2))


class RetryLater(Exception):
    """Raised by an operation that failed transiently; ``retry_after`` overrides the backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def call_with_retries(
    operation: Callable[[], T],
    *,
    attempts: int,
    base: float = 0.2,
    cap: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``operation``; on ``RetryLater`` wait and try again, at most ``attempts`` times in all.

    The last ``RetryLater`` propagates, so the caller can reschedule the work for later instead.
    """
    for attempt in range(attempts):
        try:
            return operation()
        except RetryLater as exc:
            if attempt == attempts - 1:
                raise
            wait = (
                exc.retry_after
                if exc.retry_after is not None
                else backoff_delay(attempt, base=base, cap=cap)
            )
            sleep(min(wait, cap))
    raise AssertionError("unreachable: attempts must be >= 1")
