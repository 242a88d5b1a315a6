"""Each supplier plan's stock as the stock sync's last whole read of the catalogue showed it.

The real server refuses a sold-out plan with ``CART_ERROR`` (a request spent, and the line
waits a round trip for its next choice); the stock sync reads every plan's ``in_stock`` and
``stock_count`` anyway. Kept per plan (``PlanShelf``), the reading lets ``mappings.resolve``
try a choice that read sold out after the others, without a request. A reading is only a hint:
it may be stale, so when every choice read sold out the first is still tried, and a reading
older than ``FRESH_FOR`` is not used at all.

The reading keeps the plan's ``final_price`` too: the last known price, which a purchase must
not exceed (``mappings.resolve.too_dear``). It is never older than ``FRESH_FOR`` either.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Table, delete, insert
from sqlmodel import Session, col, select

from bridge.supplier.models import PlanShelf

# A reading this old says nothing of today's shelf (a sync that stopped, a supplier paused).
FRESH_FOR = timedelta(hours=24)


class PlanReading(Protocol):
    """A plan as ``products/list`` showed it (the stock sync's ``PlanStock``)."""

    @property
    def is_instant(self) -> bool: ...
    @property
    def stock_count(self) -> int: ...
    @property
    def in_stock(self) -> bool: ...
    @property
    def final_price(self) -> float: ...


def record_shelves(
    session: Session,
    supplier_name: str,
    plans: Mapping[int, PlanReading],
    read_at: datetime,
    *,
    whole: bool = True,
) -> None:
    """What a whole read of the supplier's catalogue showed, in place of the last one: a plan
    it no longer lists is forgotten (``orders/create`` will say what became of it). A read in
    part (``whole=False``) replaces only the plans it read: the others keep their last reading
    (the stock sync counts how long a plan has gone unread from it)."""
    stale = delete(PlanShelf).where(col(PlanShelf.supplier_name) == supplier_name)
    if not whole:
        stale = stale.where(col(PlanShelf.plan_id).in_(list(plans)))
    connection = session.connection()
    connection.execute(stale)
    rows = [
        {
            "supplier_name": supplier_name,
            "plan_id": plan_id,
            "is_instant": plan.is_instant,
            "stock_count": plan.stock_count,
            "in_stock": plan.in_stock,
            "final_price": plan.final_price,
            "read_at": read_at,
        }
        for plan_id, plan in plans.items()
    ]
    if rows:
        # One executemany, not an ORM object per plan: a sync rewrites every plan it read
        # (100,000 objects cost the 100k-variation bench ~10 s).
        table = PlanShelf.__table__  # type: ignore[attr-defined]
        assert isinstance(table, Table)
        connection.execute(insert(table), rows)


def shelves(
    session: Session, keys: Collection[tuple[str, int]], now: datetime
) -> dict[tuple[str, int], PlanShelf]:
    """The fresh readings of these (supplier, plan) pairs."""
    suppliers = {supplier for supplier, _ in keys}
    if not suppliers:
        return {}
    rows = session.exec(
        select(PlanShelf).where(
            col(PlanShelf.supplier_name).in_(suppliers), PlanShelf.read_at > now - FRESH_FOR
        )
    )
    return {(r.supplier_name, r.plan_id): r for r in rows if (r.supplier_name, r.plan_id) in keys}


def short_of(shelf: PlanShelf | None, units: int) -> str | None:
    """Why the last reading says the plan cannot serve ``units`` now; None when it can or was
    not read. A plan fulfilled by hand lists ``stock_count`` 0 while it sells: only its
    ``in_stock`` counts."""
    if shelf is None:
        return None
    when = shelf.read_at.strftime("%Y-%m-%d %H:%M UTC")
    if not shelf.in_stock:
        return f"sold out at the last catalogue read ({when})"
    if shelf.is_instant and shelf.stock_count < units:
        return f"{shelf.stock_count} in stock at the last catalogue read ({when}), {units} needed"
    return None
