"""Leases: "take it if it is free or expired", the one mechanism behind every kind of lease.

A lease is a moment in a row after which its holder counts as gone. The kinds:
- a row's own ``lease_until`` (orders and fulfilments): when its step counts as lost and the sweep
  sends it again (``Context.lease_until`` computes it);
- the order's ``annotate_lock_until``: one annotator per order at a time;
- the stock sync's ``running_until``: one sync at a time across hosts;
- named leases in ``scheduler_leases``: the one scheduler, one delivery watcher per supplier.

Each is taken with a conditional UPDATE whose condition is ``free_or_expired``, so two processes
racing for it cannot both win, and a holder that died gives it up by simply letting it run out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, or_, update
from sqlmodel import col

from bridge.db import insert_ignore, session_scope
from workers.queue.context import Context
from workers.queue.models import SchedulerLease


def free_or_expired(column: Any, now: datetime) -> ColumnElement[bool]:
    """The lease in ``column`` is unset or ran out before ``now``."""
    return or_(column.is_(None), column < now)


def take_named(ctx: Context, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take or renew the named lease for ``ttl_seconds``; True while ``holder`` holds it."""
    now = ctx.clock()
    expires = now + timedelta(seconds=ttl_seconds)
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        table = SchedulerLease.__table__  # type: ignore[attr-defined]
        values = {"name": name, "holder": holder, "expires_at": expires}
        if insert_ignore(conn, table, values, ["name"], returning="name"):
            return True
        result = conn.execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == name)
            .where(
                or_(
                    col(SchedulerLease.holder) == holder,
                    free_or_expired(col(SchedulerLease.expires_at), now),
                )
            )
            .values(holder=holder, expires_at=expires)
        )
        return result.rowcount == 1


def release_named(ctx: Context, name: str, holder: str) -> None:
    """Give the named lease up if ``holder`` holds it: the next taker need not wait it out."""
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            delete(SchedulerLease)
            .where(col(SchedulerLease.name) == name)
            .where(col(SchedulerLease.holder) == holder)
        )
