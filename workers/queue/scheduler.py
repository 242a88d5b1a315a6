"""The periodic scheduler: one holder across all processes (a named lease) runs the periodic jobs.

It knows no domain: the runtime hands it the jobs (the sweep, the stock sync, the catch-up), each a
function of the context that returns the messages to send. It ticks every ``heartbeat_seconds``
(or every sweep interval, if shorter), holding its lease for ``heartbeat_timeout_seconds``: a dead
holder is replaced as fast as any dead worker. Each tick runs the watch jobs (what dead workers
left behind must not wait for the sweep); the periodic jobs run every ``sweep_interval_seconds``.

The lease is renewed before each periodic job, and a holder that finds it gone ends its pass
there: after a job slower than the lease (a stalled host, a slow database) the old holder starts
none of the rest beside its successor's pass. (The slow job itself may still be finishing; each job
guards its own work with a lease of its own, e.g. one stock sync at a time.) A clean stop gives the
lease up, so a restart hands over at the next tick, not after the timeout.
Taking, losing and giving it up are logged (``scheduler.lease.taken`` / ``.lost`` / ``.released``),
naming the holder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from bridge.logs import event
from workers.queue.context import Context
from workers.queue.dispatch import Send
from workers.queue.heartbeat import new_worker_id
from workers.queue.leases import release_named, take_named

LEASE_NAME = "scheduler"

Job = Callable[[Context], list[Send]]


class Scheduler:
    """A daemon thread: if this process holds the lease, run the watch jobs every tick and each
    periodic job every ``sweep_interval_seconds``, and send what they return."""

    def __init__(
        self,
        ctx: Context,
        dispatch: Callable[[Iterable[Send]], None],
        jobs: Sequence[Job],
        *,
        watch: Sequence[Job] = (),
        holder: str | None = None,
    ) -> None:
        self._ctx = ctx
        self._dispatch = dispatch
        self._jobs = tuple(jobs)
        self._watch = tuple(watch)
        self._holder = holder or new_worker_id()
        self._periodic_due = 0.0  # monotonic; at once when this process takes the lease
        self._holding = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        if self._holding:
            try:
                release_named(self._ctx, LEASE_NAME, self._holder)
                self._holding = False
                event("scheduler.lease.released", holder=self._holder)
            except Exception as exc:  # noqa: BLE001 - it runs out on its timeout instead
                event("scheduler.release.failed", logging.WARNING, error=type(exc).__name__)

    def tick(self) -> bool:
        """One tick: False when another process holds the lease (or took it mid-tick)."""
        if not self._renew():
            return False
        for job in self._watch:
            self._dispatch(job(self._ctx))
        if time.monotonic() >= self._periodic_due:
            self._periodic_due = time.monotonic() + self._ctx.settings.sweep_interval_seconds
            for job in self._jobs:
                if not self._renew():
                    return False
                self._dispatch(job(self._ctx))
        return True

    def _renew(self) -> bool:
        """Take or renew the lease; whether this process holds it now."""
        ttl = max(self._ctx.settings.heartbeat_timeout_seconds, 2 * self._period())
        held = take_named(self._ctx, LEASE_NAME, self._holder, ttl_seconds=ttl)
        if not held:
            self._periodic_due = 0.0
        self._set_holding(held)
        return held

    def _set_holding(self, held: bool) -> None:
        if held != self._holding:
            self._holding = held
            event("scheduler.lease.taken" if held else "scheduler.lease.lost", holder=self._holder)

    def _period(self) -> float:
        settings = self._ctx.settings
        return min(settings.heartbeat_seconds, settings.sweep_interval_seconds)

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
            self._stop.wait(self._period())
