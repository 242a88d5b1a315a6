"""A supplier balance below ``BRIDGE_ALERT_BALANCE_THRESHOLD``: an alert that says how many orders
the balance still pays for, resolved by the first read at or above the threshold again.

Every place that learns a balance calls ``note_balance``: the ``orders/create`` answer
(``new_balance``), the stock sync's ``account/balance`` read and the read the console asks for
(``workers.suppliers.refresh``). It also keeps the balance for the console to show
(``workers.suppliers.readings``), threshold or none.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from bridge.models import PurchaseAttempt
from workers.alerts.store import raise_alert, resolve_alert
from workers.suppliers.readings import record_balance

LOW_BALANCE = "low_balance"
# The estimate divides the balance by the average order of this many days.
ESTIMATE_DAYS = 7


def average_order_cost(session: Session, supplier: str, since: datetime) -> float | None:
    """What one bought order at ``supplier`` cost on average since ``since``; None without any
    (orders whose cost the supplier did not say are left out)."""
    average = session.exec(
        select(func.avg(PurchaseAttempt.amount)).where(
            PurchaseAttempt.supplier_name == supplier,
            col(PurchaseAttempt.trans_id).is_not(None),
            col(PurchaseAttempt.amount).is_not(None),
            col(PurchaseAttempt.started_at) >= since,
        )
    ).one()
    return float(average) if average is not None and average > 0 else None


def note_balance(
    session: Session, supplier: str, balance: float, threshold: float | None, now: datetime
) -> None:
    """A balance read of ``supplier`` at ``now``: keep it for the console, and raise or resolve
    its low-balance alert (none when no threshold is set), inside the caller's transaction.

    A reading older than the one kept (read before a purchase answered, recorded after it)
    changes nothing: the newer one decided."""
    if not record_balance(session, supplier, balance, now) or threshold is None:
        return
    if balance >= threshold:
        resolve_alert(
            session,
            LOW_BALANCE,
            supplier,
            now,
            note=f"balance {money(balance)} is at or above {money(threshold)} again",
        )
        return
    average = average_order_cost(session, supplier, now - timedelta(days=ESTIMATE_DAYS))
    if average is None:
        estimate = f"no order in the last {ESTIMATE_DAYS} days to estimate how long it lasts"
    else:
        orders = max(0, math.floor(balance / average))
        estimate = (
            f"it pays for about {orders} more order{'' if orders == 1 else 's'} "
            f"(average {money(average)} over the last {ESTIMATE_DAYS} days)"
        )
    raise_alert(
        session,
        LOW_BALANCE,
        supplier,
        f"supplier {supplier}: balance {money(balance)} is below {money(threshold)}; "
        f"{estimate}. Top it up at the supplier's site",
        now,
    )


def money(amount: float) -> str:
    """``900000.0`` as ``900,000``, ``12.5`` as ``12.5``: whole amounts (VND) without decimals."""
    text = f"{amount:,.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
