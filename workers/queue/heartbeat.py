"""Worker heartbeats: each process that runs steps says it is alive, so its death is known in
seconds.

Every ``heartbeat_seconds`` the process stamps its row in ``worker_processes`` (a thread of its
own, so a long step or a slow periodic job never delays a beat); a clean stop stamps
``stopped_at``. A process whose last beat is older than ``heartbeat_timeout_seconds``, or that
stopped, is dead: the purchases it claimed are taken back (``workers/fulfilment/claims.py``),
the scheduler lease it held runs out on the same timeout, and Redis hands its queued messages
to the others on the same timeout too (``workers/queue/broker.py``). Beats are stamped by each
host's own clock, like every lease here: hosts must keep their clocks in step (NTP).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bridge.db import insert_ignore, session_scope
from bridge.logs import event
from workers.queue.context import Context
from workers.queue.models import WorkerProcess


def new_worker_id() -> str:
    """A process's id: host and pid for an operator, and a random part, since pids are reused."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def dead_workers(ctx: Context, now: datetime) -> SelectOfScalar[str]:
    """The ids of processes that stopped or have not beaten within the timeout."""
    cutoff = now - timedelta(seconds=ctx.settings.heartbeat_timeout_seconds)
    return select(WorkerProcess.id).where(
        or_(
            col(WorkerProcess.stopped_at).is_not(None),
            col(WorkerProcess.beat_at) < cutoff,
        )
    )


def forget(ctx: Context, worker_ids: list[str]) -> None:
    """Drop the rows of dead processes once nothing they held is left to take back."""
    if worker_ids:
        with session_scope(ctx.engine) as session:
            session.connection().execute(
                delete(WorkerProcess).where(col(WorkerProcess.id).in_(worker_ids))
            )


class Heartbeat:
    """A daemon thread that beats for ``worker_id`` until stopped."""

    def __init__(self, ctx: Context, worker_id: str) -> None:
        self._ctx = ctx
        self.worker_id = worker_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()  # registered before the first step can claim anything
        self._thread.start()

    def beat(self) -> None:
        now = self._ctx.clock()
        with session_scope(self._ctx.engine) as session:
            conn = session.connection()
            table = WorkerProcess.__table__  # type: ignore[attr-defined]
            values = {
                "id": self.worker_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started_at": now,
                "beat_at": now,
            }
            if insert_ignore(conn, table, values, ["id"], returning="id") is None:
                # A row forgotten while this process was taken for dead comes back above.
                conn.execute(
                    update(WorkerProcess)
                    .where(col(WorkerProcess.id) == self.worker_id)
                    .values(beat_at=now, stopped_at=None)
                )

    def stop(self) -> None:
        """Stop beating and say so: what this process held needs no wait for the timeout."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        try:
            with session_scope(self._ctx.engine) as session:
                session.connection().execute(
                    update(WorkerProcess)
                    .where(col(WorkerProcess.id) == self.worker_id)
                    .values(stopped_at=self._ctx.clock())
                )
        except Exception as exc:  # noqa: BLE001 - the timeout says it a little later
            event("heartbeat.stop.failed", logging.WARNING, error=type(exc).__name__)

    def _run(self) -> None:
        while not self._stop.wait(self._ctx.settings.heartbeat_seconds):
            try:
                self.beat()
            except Exception as exc:  # noqa: BLE001 - a missed beat; the next one tries again
                event("heartbeat.failed", logging.WARNING, error=type(exc).__name__)
