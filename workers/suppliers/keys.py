"""What a supplier key's refusals do to the supplier, wherever a call meets them.

- A refusal that is the operator's to fix (``ACCOUNT_CODES``: a key expired, banned, disabled
  or lacking a permission, an account without balance) raises one alert of the code's name
  about the supplier, saying what it means and what to do; any accepted answer clears it.
- A spent day (``DAILY_LIMIT_EXCEEDED``) pauses the supplier until its next day, with one
  alert: lines try their next choice meanwhile, or wait for the day (``mappings.resolve``), and
  the stock sync leaves it alone. The key's budget is blocked as long by the client already.
  The alert is the paused supplier's own (``supplier_paused``, saying why), which the
  conditions job would raise anyway for the pause and resolves once the supplier answers
  again: one alert, not two.
- A spent minute (``RATE_LIMIT_EXCEEDED``) makes the key's account check due at once: its
  limits may have been lowered since they were last read. The budget is blocked for the window
  by the client already, so the check waits for it like any request.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session

from bridge.logs import event
from bridge.supplier.breaker import pause_until
from bridge.supplier.models import Supplier
from bridge.supplier.refusals import refusal_text
from bridge.supplier.vocabulary import ACCOUNT_CODES, ErrorCode
from workers.alerts.conditions import SUPPLIER_PAUSED
from workers.alerts.store import raise_alert


def key_refused(
    session: Session, supplier: str, code: str, said: str | None, what: str, now: datetime
) -> bool:
    """Alert an operator's refusal (``what``: the call refused, "a purchase"); False, and
    nothing raised, for a refusal that is not one."""
    if code not in ACCOUNT_CODES:
        return False
    message = f"supplier {supplier} refused {what}: {refusal_text(code, said or '')}"
    raise_alert(session, code.lower(), supplier, message, now)
    return True


def day_spent(
    session: Session, supplier: str, until: datetime, said: str | None, now: datetime
) -> None:
    """Pause the supplier until ``until`` (its next day; never shortening a longer pause) and
    raise the one alert of the spent day."""
    pause_until(session.connection(), supplier, until)
    row = session.get(Supplier, supplier)
    if row is not None:
        row.last_failure = (
            f"{ErrorCode.DAILY_LIMIT_EXCEEDED}: the key's daily limit is spent until "
            f"{until:%Y-%m-%d %H:%M} UTC"
        )
        session.add(row)
    when = f"{until:%Y-%m-%d %H:%M} UTC"
    text = refusal_text(ErrorCode.DAILY_LIMIT_EXCEEDED, said or "")
    message = f"supplier {supplier} is paused until {when}: {text}"
    raise_alert(session, SUPPLIER_PAUSED, supplier, message, now)
    event("supplier.day_spent", logging.WARNING, supplier=supplier, until=when)


def recheck_account(session: Session, supplier: str) -> None:
    """Make the supplier's account check (``workers.suppliers.accounts``) due at once."""
    table = Supplier.__table__  # type: ignore[attr-defined]
    session.connection().execute(
        update(table).where(table.c.name == supplier).values(account_read_at=None)
    )
