"""The periodic scheduler: one holder across all processes (a named lease) runs the periodic jobs.

It knows no domain: the runtime hands it the jobs (the sweep, the stock sync, the catch-up), each a
function of the context that returns the messages to send.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence

from bridge.logs import event
from workers.context import Context
from workers.dispatch import Send
from workers.leases import take_named

LEASE_NAME = "scheduler"

Job = Callable[[Context], list[Send]]


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Scheduler:
    """A daemon thread: every ``sweep_interval_seconds``, if this process holds the lease, run
    each job in turn and send what it returns."""

    def __init__(
        self, ctx: Context, dispatch: Callable[[Iterable[Send]], None], jobs: Sequence[Job]
    ) -> None:
        self._ctx = ctx
        self._dispatch = dispatch
        self._jobs = tuple(jobs)
        self._holder = holder_id()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def tick(self) -> bool:
        interval = self._ctx.settings.sweep_interval_seconds
        if not take_named(self._ctx, LEASE_NAME, self._holder, ttl_seconds=interval * 3):
            return False
        for job in self._jobs:
            self._dispatch(job(self._ctx))
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception as exc:  # noqa: BLE001 - the next tick tries again
                event(
                    "scheduler.tick.failed",
                    logging.ERROR,
                    error=type(exc).__name__,
                    detail=str(exc)[:200],
                )
            self._stop.wait(self._ctx.settings.sweep_interval_seconds)
