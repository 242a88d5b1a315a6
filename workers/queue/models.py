"""The queue's own tables: each worker process's heartbeat, and the scheduler's lease."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, created_timestamp, optional_timestamp


class WorkerProcess(SQLModel, table=True):
    """A process that runs steps, and its heartbeat: a claim whose worker stopped beating is
    recovered by the sweep within seconds, not after its lease."""

    __tablename__ = "worker_processes"

    id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime = created_timestamp()
    beat_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # A clean stop says so at once: its claims need no wait for the heartbeat to run out.
    stopped_at: datetime | None = optional_timestamp()


class SchedulerLease(SQLModel, table=True):
    """Who runs the periodic sweep: one holder at a time across every process and host."""

    __tablename__ = "scheduler_leases"

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = Field(sa_type=UTCDateTime)
