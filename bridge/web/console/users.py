"""Console users: adding, listing and removing them, and checking a password.

Passwords are hashed with argon2id (argon2-cffi's defaults: 64 MiB, 3 passes), and a hash made
under older parameters is replaced at the next login. A name that does not exist costs the same
work as a wrong password, so timing does not tell which names exist (the one extra hash, of a
rehash, is paid only by a right password). A new password and a removal end the user's sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.errors import ConfigError, NotFound
from bridge.web.console.models import ConsoleUser
from bridge.web.console.sessions import end_sessions
from bridge.web.console.store import reading

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 hashes any length; an unbounded one is work for free
MAX_USERNAME_CHARS = 64

_hasher = PasswordHasher()
# Verified against when the name is unknown: the same work as for a real user.
_DUMMY_HASH = _hasher.hash("pancake-bridge: no such user")


@dataclass(frozen=True)
class UserRow:
    """A user as the CLI lists it (never the hash)."""

    id: int
    username: str
    created_at: datetime
    password_set_at: datetime
    last_login_at: datetime | None


def check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > MAX_USERNAME_CHARS:
        raise ConfigError(f"a user name has 1 to {MAX_USERNAME_CHARS} characters")
    if any(not c.isprintable() or c.isspace() for c in name):
        raise ConfigError("a user name has no spaces or control characters")
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise ConfigError(f"the password needs at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ConfigError(f"the password has more than {MAX_PASSWORD_CHARS} characters")


def _find(session: Session, username: str) -> ConsoleUser | None:
    return session.exec(select(ConsoleUser).where(ConsoleUser.username == username)).first()


def set_user(session: Session, username: str, password: str, now: datetime) -> bool:
    """Add ``username`` with ``password``, or give an existing one this password (its sessions
    end). True when the user is new."""
    name = check_username(username)
    check_password(password)
    user = _find(session, name)
    created = user is None
    if user is None:
        user = ConsoleUser(username=name, password_hash="", created_at=now)
    elif user.id is not None:
        end_sessions(session, user.id)
    user.password_hash = _hasher.hash(password)
    user.password_set_at = now
    session.add(user)
    return created


def remove_user(session: Session, username: str) -> None:
    user = _find(session, username)
    if user is None:
        raise NotFound(f"no console user {username!r}")
    if user.id is not None:
        end_sessions(session, user.id)
    session.delete(user)


def list_users(session: Session) -> list[UserRow]:
    users = session.exec(select(ConsoleUser).order_by(col(ConsoleUser.username)))
    return [
        UserRow(u.id or 0, u.username, u.created_at, u.password_set_at, u.last_login_at)
        for u in users
    ]


def verify(engine: Engine, username: str, password: str, now: datetime) -> ConsoleUser | None:
    """The user, if ``password`` is theirs (and the login is noted); None otherwise.

    The hash is checked outside any write transaction: on SQLite that would hold the one write
    lock (and the webhook writer) for the whole of argon2's work.
    """
    password = password[:MAX_PASSWORD_CHARS]  # what is checked is what a rehash stores
    with reading(engine) as session:
        user = _find(session, username.strip())
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    fresh = _hasher.hash(password) if _hasher.check_needs_rehash(stored) else None
    with session_scope(engine) as session:
        current = session.get(ConsoleUser, user.id)
        if current is None or current.password_hash != stored:
            return None  # removed, or given another password, while we checked this one
        if fresh is not None:
            current.password_hash = fresh
        current.last_login_at = now
        session.add(current)
        return current
