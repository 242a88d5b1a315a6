"""Live reads the console shows (Pancake's variations), kept a short while: what a busy page
costs is one read per period, not one per view. Suppliers are never read live on a page view:
see ``bridge.web.console.readings``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from bridge.errors import NotFound

Value = TypeVar("Value")


@dataclass(frozen=True)
class Reading(Generic[Value]):
    """What a read found, or why it found nothing (the page shows the reason)."""

    value: Value | None
    error: str | None = None


class Fresh(Generic[Value]):
    """A read kept ``ttl_seconds`` per key, so page views cost one network read per key and
    period; a failure is kept as long, so a supplier that is down is not asked again on every
    page view."""

    def __init__(self, ttl_seconds: float) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._kept: dict[str, tuple[float, Reading[Value]]] = {}

    def get(self, key: str, read: Callable[[], Value]) -> Reading[Value]:
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] > time.monotonic():
            return kept[1]
        try:
            found: Reading[Value] = Reading(read())
        except NotFound as exc:
            found = Reading(None, str(exc))
        except Exception as exc:  # noqa: BLE001 - shown on the page; the page still renders
            found = Reading(None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._kept[key] = (time.monotonic() + self._ttl, found)
        return found
