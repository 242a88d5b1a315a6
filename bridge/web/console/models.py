"""The console's own tables: who may log in, their sessions, how many wrong passwords were tried,
and the audit.

Passwords are stored only as argon2id hashes. The throttle keys are HMAC digests of the user name
and address, so the table holds nothing a person typed (a password pasted into the name field
included). Every credential reveal, retry and resend, and every order fulfilled by hand, leaves an
audit row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, created_timestamp, optional_timestamp


class ConsoleUser(SQLModel, table=True):
    __tablename__ = "console_users"
    __table_args__ = (UniqueConstraint("username", name="uq_console_users_username"),)

    id: int | None = Field(default=None, primary_key=True)
    username: str
    password_hash: str  # argon2id, with its own salt and parameters
    created_at: datetime = created_timestamp()
    password_set_at: datetime = created_timestamp()
    last_login_at: datetime | None = optional_timestamp()


class ConsoleSession(SQLModel, table=True):
    """A logged-in session: the cookie carries a random id, this row only its SHA-256.

    Every request must find its row, so deleting it (logout, a new password, the user's
    removal) ends the session at once; a copy of the cookie is then worth nothing.
    """

    __tablename__ = "console_sessions"

    digest: str = Field(primary_key=True)  # SHA-256 of the cookie's session id, hex
    user_id: int = Field(foreign_key="console_users.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # Refreshed at most once a minute, so a busy session does not write on every request.
    seen_at: datetime = Field(sa_type=UTCDateTime, index=True)


class LoginThrottle(SQLModel, table=True):
    """Wrong passwords per (user name, address) and per address in the current window (a row
    each).

    An attempt is counted before its password is checked, in one atomic upsert, so concurrent
    guesses from many processes cannot all slip under the limit.
    """

    __tablename__ = "console_login_throttle"

    subject: str = Field(primary_key=True)  # "pair:<hmac>" (a name from an address), "addr:<hmac>"
    failures: int = 0
    window_started_at: datetime = Field(sa_type=UTCDateTime, index=True)


class ConsoleAudit(SQLModel, table=True):
    """Who did what to which line or order, and when: every reveal of credentials, every retry,
    resend, and every order fulfilled although it predates its shop."""

    __tablename__ = "console_audit"

    id: int | None = Field(default=None, primary_key=True)
    username: str
    action: str = Field(index=True)  # reveal, retry, resend (a line); fulfil (an order)
    fulfilment_id: int | None = Field(default=None, index=True)
    order_pk: int | None = Field(default=None, index=True)
    address: str | None = None
    at: datetime = created_timestamp()
