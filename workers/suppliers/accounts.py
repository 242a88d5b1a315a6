"""supplier.account_check: read each supplier key's ``account/info`` for its real limits.

The full dialect tells the key's own ``rate_limit`` (a minute) and ``daily_limit``, its
permissions, when it expires and how many requests it made today. The limits go on the supplier's
row, where every worker's budget for the key picks them up (``Context.supplier``); today's usage
raises the key's daily count, so a restarted bridge does not spend again what the day already
used; a missing permission or a key about to expire raises an alert. The short dialect tells
none of it and answers with the user alone (or not at all): the configured defaults stay.

The scheduler (one across all hosts) only asks whether any enabled supplier is due
(``due_account_checks``): its last read is older than ``supplier_account_check_seconds``, or it
never had one (a newly added supplier). The step (``check_accounts``) claims each due supplier by
a conditional update of ``account_read_at`` before it reads, so a duplicated message reads
nothing twice; a message carries no id of its own, as every due supplier is handled by one step.
A read that failed transiently is due again after ``RETRY_SECONDS``, one the key's budget held
back as soon as the budget frees; a refusal (a shop without the endpoint) keeps what the row
holds and waits the whole interval. A refusal of the key itself raises its alert
(``workers.suppliers.keys``: an expired key is refused before account/info can say it expired),
and a spent day pauses the supplier until its next day. A purchase refused for the key's rate
limit makes the check due at once (``keys.recheck_account``): the limit may have been lowered.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from bridge.db import session_scope
from bridge.logs import event
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import SupplierDailyLimited, SupplierRefused, SupplierTransient
from bridge.supplier.key_alerts import (
    KEY_EXPIRING,
    KEY_PERMISSIONS,
    KEY_REFUSAL_ALERTS,
    account_alerts,
)
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import AccountInfo
from workers.alerts.store import raise_alert, resolve_alert
from workers.queue.context import Context
from workers.queue.dispatch import ACCOUNT_CHECK, Send
from workers.queue.leases import free_or_expired
from workers.suppliers.keys import day_spent, key_refused

# A read that failed transiently (supplier down, budget spent) is tried again this much sooner
# than the interval.
RETRY_SECONDS = 300.0


def due_account_checks(ctx: Context) -> list[Send]:
    """The scheduler's job: one check when any enabled supplier is due (the step claims each)."""
    with session_scope(ctx.engine) as session:
        due = session.exec(_due(_due_before(ctx, ctx.clock())).limit(1)).first()
    return [] if due is None else [Send(ACCOUNT_CHECK, 0)]


def check_accounts(ctx: Context, _unused: int) -> list[Send]:
    """Read ``account/info`` of every enabled supplier that is due and this step claims."""
    now = ctx.clock()
    due_before = _due_before(ctx, now)
    with session_scope(ctx.engine) as session:
        names = session.exec(_due(due_before).order_by(Supplier.name)).all()
    for name in names:
        if _claim(ctx, name, now, due_before):
            check_account(ctx, name)
    return []


def _due_before(ctx: Context, now: datetime) -> datetime:
    return now - timedelta(seconds=ctx.settings.supplier_account_check_seconds)


def _due(due_before: datetime) -> SelectOfScalar[str]:
    """The enabled suppliers whose account/info was last read before ``due_before`` (or never)."""
    return (
        select(Supplier.name)
        .where(col(Supplier.enabled).is_(True))
        .where(free_or_expired(col(Supplier.account_read_at), due_before))
    )


def _claim(ctx: Context, name: str, now: datetime, due_before: datetime) -> bool:
    table = Supplier.__table__  # type: ignore[attr-defined]
    with session_scope(ctx.engine) as session:
        claimed = session.connection().execute(
            update(table)
            .where(table.c.name == name)
            .where(free_or_expired(table.c.account_read_at, due_before))
            .values(account_read_at=now)
        )
    return bool(claimed.rowcount == 1)


def check_account(ctx: Context, name: str) -> AccountInfo | None:
    """One read of the supplier's ``account/info`` (spending the key's budget like any call);
    the answer is stored, seeds the day's count and raises what alerts it calls for."""
    with session_scope(ctx.engine) as session:
        supplier = session.get(Supplier, name)
        if supplier is None:
            return None
        client = ctx.supplier(supplier)
    try:
        info = client.account_info()
    except SupplierRefused as exc:
        # The short dialect may not serve it at all: the defaults stay, asked again next interval.
        with session_scope(ctx.engine) as session:
            key_refused(session, name, exc.error_code, exc.message, "account/info", ctx.clock())
        event(
            "supplier.account_check.refused",
            logging.WARNING,
            supplier=name,
            status=exc.status,
            code=exc.error_code,
        )
        return None
    except SupplierDailyLimited as exc:
        now = ctx.clock()
        until = now + timedelta(seconds=exc.resume_in or RETRY_SECONDS)
        with session_scope(ctx.engine) as session:
            day_spent(session, name, until, exc.message, now)
        _retry_soon(ctx, name, (until - now).total_seconds())
        return None
    except (SupplierTransient, BudgetExhausted) as exc:
        # The budget knows when the key is free again (a block after a refused call, a window
        # full): asked again then, not RETRY_SECONDS later.
        held = exc.retry_after if isinstance(exc, BudgetExhausted) else None
        _retry_soon(ctx, name, min(held, RETRY_SECONDS) if held is not None else RETRY_SECONDS)
        event(
            "supplier.account_check.failed",
            logging.WARNING,
            supplier=name,
            error=type(exc).__name__,
        )
        return None
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        supplier = session.get(Supplier, name)
        if supplier is None:
            return info
        supplier.rate_limit = info.rate_limit
        supplier.daily_limit = info.daily_limit
        supplier.key_expires_at = info.expires_at
        session.add(supplier)
        raised = account_alerts(name, info, now)
        for kind, message in raised:
            raise_alert(session, kind, name, message, now)
        # The key answered: refusals of it are over, and so are the problems the answer no
        # longer shows (a key renewed, permissions granted).
        cleared = {KEY_PERMISSIONS, KEY_EXPIRING} - {kind for kind, _ in raised}
        resolve_alert(
            session,
            [*KEY_REFUSAL_ALERTS, *cleared],
            name,
            now,
            note=f"supplier {name}: account/info accepts the key and shows no such problem",
        )
    # The new limits reach the cached client's budget before the count is seeded under them.
    ctx.supplier(supplier)
    if info.used_today is not None:
        ctx.supplier_budget(supplier).seed_daily(info.used_today)
    event(
        "supplier.account_check.done",
        supplier=name,
        rate_limit=info.rate_limit,
        daily_limit=info.daily_limit,
        used_today=info.used_today,
    )
    return info


def _retry_soon(ctx: Context, name: str, seconds: float) -> None:
    """Make the supplier due again ``seconds`` from now (a whole interval at most)."""
    interval = ctx.settings.supplier_account_check_seconds
    read_at = ctx.clock() - timedelta(seconds=max(0.0, interval - seconds))
    table = Supplier.__table__  # type: ignore[attr-defined]
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(table).where(table.c.name == name).values(account_read_at=read_at)
        )
