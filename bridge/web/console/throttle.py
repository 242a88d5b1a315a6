"""Wrong passwords, limited per user name and per address, in the database (every process and
host shares the count).

Each login attempt is counted *before* its password is checked, by one atomic upsert per subject
that returns the new count; a correct password takes its count back. So however many guesses
arrive at once, from however many processes, at most ``limit`` of them per window are ever
checked. The window is fixed: it starts with the first failure and ends ``window`` later.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Table, case, delete, literal, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col

from bridge.db import UTCDateTime
from bridge.web.console.models import LoginThrottle
from bridge.web.console.settings import ConsoleSettings


@dataclass(frozen=True)
class Subjects:
    user: str
    address: str


class Throttle:
    def __init__(self, engine: Engine, key: bytes, settings: ConsoleSettings) -> None:
        self._engine = engine
        self._key = key
        self._window = timedelta(seconds=settings.failure_window_seconds)
        self._limits = (settings.max_failures_per_user, settings.max_failures_per_address)

    def subjects(self, username: str, address: str) -> Subjects:
        return Subjects(
            "user:" + self._digest(username.strip().casefold()), "addr:" + self._digest(address)
        )

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def attempt(self, subjects: Subjects, now: datetime) -> float | None:
        """Count one attempt; None if its password may be checked, else the seconds to wait."""
        waits = []
        with self._engine.begin() as conn:
            conn.execute(
                delete(_table()).where(col(LoginThrottle.window_started_at) < now - self._window)
            )
            for subject, limit in zip((subjects.user, subjects.address), self._limits, strict=True):
                failures, started = self._count(conn, subject, now)
                if failures > limit:
                    waits.append((started + self._window - now).total_seconds())
        return max(1.0, max(waits)) if waits else None

    def succeeded(self, subjects: Subjects) -> None:
        """The password was right: the user's count starts again, the address takes this
        attempt back (other names tried from it still count)."""
        with self._engine.begin() as conn:
            conn.execute(delete(_table()).where(col(LoginThrottle.subject) == subjects.user))
            conn.execute(
                update(_table())
                .where(col(LoginThrottle.subject) == subjects.address)
                .values(failures=col(LoginThrottle.failures) - 1)
            )

    def _count(self, conn: Connection, subject: str, now: datetime) -> tuple[int, datetime]:
        table = _table()
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        expired = table.c.window_started_at < literal(now - self._window, UTCDateTime())
        statement = (
            insert(table)
            .values(subject=subject, failures=1, window_started_at=now)
            .on_conflict_do_update(
                index_elements=["subject"],
                set_={
                    "failures": case((expired, 1), else_=table.c.failures + 1),
                    "window_started_at": case(
                        (expired, literal(now, UTCDateTime())), else_=table.c.window_started_at
                    ),
                },
            )
            .returning(table.c.failures, table.c.window_started_at)
        )
        failures, started = conn.execute(statement).one()
        return int(failures), started


def _table() -> Table:
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table
