"""The periodic scheduler: one holder across all processes (a lease row), running the sweep
and requesting the periodic stock sync."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from bridge.db import insert_ignore, session_scope
from bridge.logs import event
from bridge.models import SchedulerLease
from workers.context import Context
from workers.dispatch import Send
from workers.fulfilment.sweep import sweep
from workers.stock.triggers import periodic_stock_sync

LEASE_NAME = "scheduler"


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire_lease(ctx: Context, holder: str, ttl_seconds: float, name: str = LEASE_NAME) -> bool:
    """Take or renew the lease; True while this holder is the one scheduler."""
    now = ctx.clock()
    expires = now + timedelta(seconds=ttl_seconds)
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        table = SchedulerLease.__table__  # type: ignore[attr-defined]
        if insert_ignore(
            conn,
            table,
            {"name": name, "holder": holder, "expires_at": expires},
            ["name"],
            returning="name",
        ):
            return True
        result = conn.execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == name)
            .where(or_(col(SchedulerLease.holder) == holder, col(SchedulerLease.expires_at) < now))
            .values(holder=holder, expires_at=expires)
        )
        return result.rowcount == 1


class Scheduler:
    """A daemon thread: every ``interval`` seconds, if this process holds the lease, sweep (and
    request a stock sync when ``stock_sync_interval_seconds`` passed since the last one)."""

    def __init__(self, ctx: Context, dispatch: Callable[[Iterable[Send]], None]) -> None:
        self._ctx = ctx
        self._dispatch = dispatch
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
        if not acquire_lease(self._ctx, self._holder, ttl_seconds=interval * 3):
            return False
        self._dispatch(sweep(self._ctx))
        self._dispatch(periodic_stock_sync(self._ctx))
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
