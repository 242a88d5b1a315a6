"""Console sessions, kept on the server.

A login draws a random session id; the signed cookie carries it and the ``console_sessions``
table keeps only its SHA-256, so neither the database nor the cookie alone opens a session.
Every request must find its row: deleting it (logout, a new password, the user's removal) ends
the session at once, whatever copies of the cookie exist. A session also ends
``session_hours`` after its login however busy it is, and ``session_idle_minutes`` after its
last request. Expired rows are trimmed at every login, the only time rows are added.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.web.console.models import ConsoleSession, ConsoleUser
from bridge.web.console.settings import ConsoleSettings
from bridge.web.console.store import reading

SESSION_ID_BYTES = 32
# How stale a session's last-seen time may get before a request writes it again: a busy
# session writes once a minute, not on every request (SQLite has one writer, the webhook's).
SEEN_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Lifetime:
    absolute: timedelta
    idle: timedelta

    @classmethod
    def of(cls, settings: ConsoleSettings) -> Lifetime:
        return cls(
            timedelta(hours=settings.session_hours),
            timedelta(minutes=settings.session_idle_minutes),
        )

    def expired(self, now: datetime) -> tuple[datetime, datetime]:
        """Sessions created before the first, or last seen before the second, are over."""
        return now - self.absolute, now - self.idle


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(engine: Engine, user_id: int, lifetime: Lifetime, now: datetime) -> str:
    """A new session for the user; the id to put in the cookie."""
    session_id = secrets.token_urlsafe(SESSION_ID_BYTES)
    created_before, seen_before = lifetime.expired(now)
    with session_scope(engine) as session:
        session.exec(
            delete(ConsoleSession).where(
                or_(
                    col(ConsoleSession.created_at) < created_before,
                    col(ConsoleSession.seen_at) < seen_before,
                )
            )
        )
        session.add(
            ConsoleSession(digest=_digest(session_id), user_id=user_id, created_at=now, seen_at=now)
        )
    return session_id


def session_user(
    engine: Engine, session_id: str, lifetime: Lifetime, now: datetime
) -> ConsoleUser | None:
    """The user of a live session, or None (no such session, or over: then it is deleted)."""
    digest = _digest(session_id)
    with reading(engine) as session:
        found = session.exec(
            select(ConsoleSession, ConsoleUser)
            .join(ConsoleUser, col(ConsoleUser.id) == col(ConsoleSession.user_id))
            .where(ConsoleSession.digest == digest)
        ).first()
    if found is None:
        return None
    row, user = found
    created_before, seen_before = lifetime.expired(now)
    if row.created_at < created_before or row.seen_at < seen_before:
        end_session(engine, session_id)
        return None
    if now - row.seen_at >= SEEN_RESOLUTION:
        with session_scope(engine) as session:
            session.exec(
                update(ConsoleSession)
                .where(col(ConsoleSession.digest) == digest)
                .values(seen_at=now)
            )
    return user


def end_session(engine: Engine, session_id: str) -> None:
    with session_scope(engine) as session:
        session.exec(
            delete(ConsoleSession).where(col(ConsoleSession.digest) == _digest(session_id))
        )


def end_sessions(session: Session, user_id: int) -> None:
    """Every session of the user ends, in the caller's transaction (a new password, a removal)."""
    session.exec(delete(ConsoleSession).where(col(ConsoleSession.user_id) == user_id))
