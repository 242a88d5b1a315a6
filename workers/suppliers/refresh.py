"""supplier.readings: read what the console asked for (a balance, a catalogue) and store it.

The console marks a reading wanted (``readings.ask``) and sends this step with no id of its own;
the step takes each wanted reading by a conditional update (``readings.claim``), so duplicated
messages read nothing twice. Each read goes through the workers' client: the key's budget, the
call's deadline and size limit, and the supplier's share of threads. A paused or disabled
supplier is not called. A read the budget or the supplier's share held back stays wanted and is
tried again when they free up; any other failure is stored, and the console shows it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.supplier.breaker import is_paused
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.catalogue import read_catalogue
from bridge.supplier.client import SupplierClient
from bridge.supplier.errors import SupplierError
from bridge.supplier.models import Supplier
from workers.queue.context import Context
from workers.queue.dispatch import READINGS, Send
from workers.suppliers.balance import note_balance
from workers.suppliers.models import ReadingKind
from workers.suppliers.readings import (
    ask,
    catalogue_json,
    claim,
    record_failure,
    record_value,
    wanted,
)


def read_wanted(ctx: Context, _unused: int) -> list[Send]:
    """Read every wanted reading this step can take; come back for those held back."""
    with session_scope(ctx.engine) as session:
        asked = wanted(session)
    later: list[float] = []
    for name, kind in asked:
        with session_scope(ctx.engine) as session:
            if not claim(session, name, kind, ctx.clock()):
                continue
        held = _read(ctx, name, kind)
        if held is not None:
            later.append(held)
    return [Send(READINGS, 0, min(later))] if later else []


def _read(ctx: Context, name: str, kind: ReadingKind) -> float | None:
    """One reading; the seconds to wait before trying again when it was held back."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        supplier = session.get(Supplier, name)
        why_not = _not_called(supplier, now)
        if why_not is not None:
            record_failure(session, name, kind, why_not, now)
            return None
        assert supplier is not None
        client = ctx.supplier(supplier)
    try:
        value = _READERS[kind](client, name)
    except BudgetExhausted as exc:
        # Nothing sent (the key's budget, or the supplier's share of threads is taken).
        with session_scope(ctx.engine) as session:
            record_failure(session, name, kind, f"waiting: {exc}", ctx.clock())
            ask(session, name, kind, ctx.clock())
        return exc.retry_after
    except SupplierError as exc:
        event("supplier.reading.failed", logging.WARNING, supplier=name, kind=str(kind))
        with session_scope(ctx.engine) as session:
            record_failure(session, name, kind, f"{type(exc).__name__}: {exc}", ctx.clock())
        return None
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        if kind == ReadingKind.BALANCE:
            balance = float(value)
            metrics.supplier_balance(name, balance)
            # Recorded there, with the low-balance alert it may raise or resolve.
            note_balance(session, name, balance, ctx.settings.alert_balance_threshold, now)
        else:
            assert isinstance(value, str)
            record_value(session, name, kind, value, now)
    event("supplier.reading.done", supplier=name, kind=str(kind))
    return None


def _not_called(supplier: Supplier | None, now: datetime) -> str | None:
    if supplier is None:
        return "the supplier was removed"
    if not supplier.enabled:
        return "the supplier is disabled: not read"
    if is_paused(supplier, now):
        return f"the supplier is paused after failures (until {supplier.paused_until}): not read"
    return None


# What each kind of reading asks of the supplier: a number, or the catalogue as stored.
_READERS: dict[ReadingKind, Callable[[SupplierClient, str], float | str]] = {
    ReadingKind.BALANCE: lambda client, name: client.balance(),
    ReadingKind.CATALOGUE: lambda client, name: catalogue_json(read_catalogue(client, name=name)),
}
