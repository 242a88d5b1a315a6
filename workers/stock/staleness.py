"""How long a plan the catalogue read could not see keeps its variations' last pushed value.

A supplier that cannot be read (down, refusing, a listing that cannot be read whole) leaves its
plans unread, and their variations keep Pancake's last value: a guess would either oversell or
hide stock. Only for a while: ``stock_stale_hours`` after the plan's last good reading it counts
0, and the sync's report names it. The last good reading is the stock sync's last whole read of
the catalogue that listed the plan (``PlanShelf``, which a failed read leaves alone); a plan
never read that way counts from the day it was mapped. A plan last read as manual stays "not
synced" for a variation with no fixed quantity: its Pancake stock is the staff's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from bridge.supplier.models import PlanShelf


@dataclass(frozen=True, slots=True)
class Reading:
    """A plan's last good reading: when, and whether it was a manual plan then."""

    read_at: datetime
    is_instant: bool


def last_readings(
    session: Session, supplier_name: str, plan_ids: Collection[int]
) -> dict[int, Reading]:
    """Each of these plans' last whole reading (absent: never, or not listed then)."""
    if not plan_ids:
        return {}
    rows = session.exec(
        select(PlanShelf.plan_id, PlanShelf.read_at, PlanShelf.is_instant).where(
            PlanShelf.supplier_name == supplier_name, col(PlanShelf.plan_id).in_(plan_ids)
        )
    )
    return {plan_id: Reading(read_at, is_instant) for plan_id, read_at, is_instant in rows}


def stale_plans(
    plan_ids: Collection[int],
    readings: Mapping[int, Reading],
    mapped_at: Mapping[int, datetime],
    now: datetime,
    hours: float,
) -> dict[int, str]:
    """The unread plans past ``hours`` since their last good reading (or since they were
    mapped, never read), each with what the report says of it."""
    limit = timedelta(hours=hours)
    found: dict[int, str] = {}
    for plan_id in sorted(plan_ids):
        reading = readings.get(plan_id)
        last = reading.read_at if reading is not None else None
        since = last if last is not None else mapped_at.get(plan_id)
        if since is None or now - since < limit:
            continue
        stamp = since.strftime("%Y-%m-%d %H:%M UTC")
        what = f"unread since {stamp}" if last is not None else f"never read (mapped {stamp})"
        found[plan_id] = f"{what}, over {hours:g} h"
    return found
