"""Wrong passwords, limited per (user name, address) and per address, in the database (every
process and host shares the count).

Each login attempt is counted *before* its password is checked, by one atomic upsert per subject
that returns the new count; a correct password takes its count back. So however many guesses
arrive at once, from however many processes, at most ``limit`` of them per window are ever
checked. The window is fixed: it starts with the first failure and ends ``window`` later.

A name is counted only together with the address it is tried from: failures from elsewhere never
lock a user out, while guessing from one place still stops (at ``max_failures_per_user`` for one
name, ``max_failures_per_address`` for all names). An IPv6 address counts as its /64 (what one
subscriber is given), an IPv4-mapped IPv6 address as its IPv4 one. Guessing one name from many
places is slowed by the login queue instead (``max_concurrent_logins``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
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
    pair: str  # the name tried, from this address
    address: str


def address_group(address: str) -> str:
    """The unit an address is counted as: an IPv6 /64, an IPv4 address (also when IPv4-mapped),
    anything else (``unknown``) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class Throttle:
    def __init__(self, engine: Engine, key: bytes, settings: ConsoleSettings) -> None:
        self._engine = engine
        self._key = key
        self._window = timedelta(seconds=settings.failure_window_seconds)
        self._limits = (settings.max_failures_per_user, settings.max_failures_per_address)

    def subjects(self, username: str, address: str) -> Subjects:
        group = address_group(address)
        # NUL cannot be in an address group, so no name and address pair can pose as another.
        pair = username.strip().casefold() + "\0" + group
        return Subjects("pair:" + self._digest(pair), "addr:" + self._digest(group))

    def _digest(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def attempt(self, subjects: Subjects, now: datetime) -> float | None:
        """Count one attempt; None if its password may be checked, else the seconds to wait."""
        waits = []
        with self._engine.begin() as conn:
            conn.execute(
                delete(_table()).where(col(LoginThrottle.window_started_at) < now - self._window)
            )
            for subject, limit in zip((subjects.pair, subjects.address), self._limits, strict=True):
                failures, started = self._count(conn, subject, now)
                if failures > limit:
                    waits.append((started + self._window - now).total_seconds())
        return max(1.0, max(waits)) if waits else None

    def succeeded(self, subjects: Subjects) -> None:
        """The password was right: the name's count from this address starts again, the address
        takes this attempt back (other names tried from it still count)."""
        with self._engine.begin() as conn:
            conn.execute(delete(_table()).where(col(LoginThrottle.subject) == subjects.pair))
            _take_back(conn, subjects.address)

    def unchecked(self, subjects: Subjects) -> None:
        """The attempt was counted but its password never checked (the login queue was full):
        both counts take it back."""
        with self._engine.begin() as conn:
            _take_back(conn, subjects.pair)
            _take_back(conn, subjects.address)

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


def _take_back(conn: Connection, subject: str) -> None:
    conn.execute(
        update(_table())
        .where(col(LoginThrottle.subject) == subject, col(LoginThrottle.failures) > 0)
        .values(failures=col(LoginThrottle.failures) - 1)
    )


def _table() -> Table:
    table = LoginThrottle.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table
