"""The scheduler's lease between two processes: never two holders running jobs, and a clean stop
hands over at once. Two ``Scheduler`` objects stand for two hosts, on one database and a clock the
test moves."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import SQLModel, create_engine

from bridge.secrets import SecretBox
from bridge.settings import Settings
from bridge.supplier.budget import Budgets
from workers.queue.context import Context
from workers.queue.dispatch import Send
from workers.queue.models import SchedulerLease
from workers.queue.scheduler import Job, Scheduler


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _context(tmp_path: Path, clock: Clock) -> Context:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bridge.db'}")
    engine = create_engine(settings.database_url)
    SQLModel.metadata.create_all(engine, tables=[SchedulerLease.__table__])  # type: ignore[attr-defined]
    box = SecretBox(secrets.token_urlsafe(32))
    return Context(settings, engine, box, Budgets.from_settings(settings), clock=clock)


def _drop(sends: Iterable[Send]) -> None:
    """Dispatch nowhere: what a job returns is not under test here."""


def _job(ran: list[str], name: str, then: Callable[[], object] = lambda: None) -> Job:
    def job(_: Context) -> list[Send]:
        ran.append(name)
        then()
        return []

    return job


def test_a_job_slower_than_the_lease_ends_its_holders_pass(tmp_path: Path) -> None:
    clock = Clock()
    ctx = _context(tmp_path, clock)
    ran_a: list[str] = []
    ran_b: list[str] = []
    b = Scheduler(ctx, _drop, (_job(ran_b, "sweep"), _job(ran_b, "sync")), holder="host-b")

    def stalled() -> None:  # host a's first job outlives its lease; host b ticks meanwhile
        clock.now += timedelta(seconds=ctx.settings.heartbeat_timeout_seconds + 1)
        assert b.tick()

    a = Scheduler(ctx, _drop, (_job(ran_a, "sweep", stalled), _job(ran_a, "sync")), holder="host-a")
    assert a.tick() is False
    assert ran_b == ["sweep", "sync"]  # the new holder ran the pass
    assert ran_a == ["sweep"]  # the old one ran nothing beside it once its lease was gone


def test_a_clean_stop_hands_the_lease_over_at_the_next_tick(tmp_path: Path) -> None:
    ctx = _context(tmp_path, Clock())
    ran: list[str] = []
    a = Scheduler(ctx, _drop, (), holder="host-a")
    b = Scheduler(ctx, _drop, (_job(ran, "sweep"),), holder="host-b")
    assert a.tick()
    assert b.tick() is False  # standing by while a holds it, the clock not moved
    a.stop()
    assert b.tick()
    assert ran == ["sweep"]
    assert a.tick() is False  # a started again is the one standing by now
