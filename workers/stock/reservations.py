"""Units the bridge sold that a catalogue read may not show as sold yet."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import BUYING, AttemptOutcome, FulfilmentState
from workers.stock.holds import open_holds
from workers.stock.sellable import PlanKey


@dataclass(frozen=True, slots=True)
class Reservations:
    """What the bridge sold that a catalogue read may not show as sold yet."""

    units: dict[PlanKey, int]  # supplier units per (supplier, plan): being bought or just bought
    items: dict[tuple[str, str], int]  # POS items per (shop, variation): waiting to be bought
    # POS items per (shop, variation) Pancake holds for open orders the bridge has no line for
    # yet (created, not at a trigger status): ``workers.stock.holds``.
    held: dict[tuple[str, str], int] = field(default_factory=dict)


def reservations(session: Session, *, since: datetime) -> Reservations:
    """Lines sold by the bridge that a catalogue read started at ``since`` may not reflect.

    * ``pending`` lines wait to be bought and have no supplier yet (the choice is made when
      buying, with fallbacks): their POS items come off their variation.
    * ``purchasing`` and ``purchase_unknown`` lines are being bought, or were bought without our
      knowing: their supplier units come off the chosen plan, whatever the catalogue says. If
      the supplier did sell before the read they count twice until settled, which undersells a
      little for a while; not counting them would oversell.
    * Units Pancake holds for orders it created that the bridge has no line for yet: their
      POS items come off their variation (``holds``).
    * Purchases recorded as bought whose answer came at or after ``since``: the supplier
      committed the sale somewhere between our request and its answer, so it may postdate the
      read. A purchase answered before ``since`` is in the stock count already.

    The purchase attempt, not the line's ``created_at``, dates the sale: a line can wait a long
    time before it is bought. Both times come from the bridge's clock, never the supplier's;
    hosts are assumed NTP-synced, as the scheduler lease already assumes.
    """
    conn = session.connection()
    lines = Fulfilment.__table__  # type: ignore[attr-defined]
    attempts = PurchaseAttempt.__table__  # type: ignore[attr-defined]
    waiting = conn.execute(
        sa_select(lines.c.shop_id, lines.c.variation_id, func.sum(lines.c.quantity))
        .where(lines.c.state == FulfilmentState.PENDING, lines.c.variation_id.is_not(None))
        .group_by(lines.c.shop_id, lines.c.variation_id)
    ).all()
    buying = conn.execute(
        sa_select(lines.c.supplier_name, lines.c.plan_id, func.sum(lines.c.supplier_quantity))
        .where(lines.c.state.in_(BUYING))
        .where(lines.c.supplier_name.is_not(None), lines.c.plan_id.is_not(None))
        .group_by(lines.c.supplier_name, lines.c.plan_id)
    ).all()
    bought = conn.execute(
        sa_select(attempts.c.supplier_name, attempts.c.plan_id, func.sum(attempts.c.quantity))
        .where(attempts.c.outcome == AttemptOutcome.BOUGHT, attempts.c.finished_at >= since)
        .group_by(attempts.c.supplier_name, attempts.c.plan_id)
    ).all()
    units: dict[PlanKey, int] = defaultdict(int)
    for supplier_name, plan_id, count in [*buying, *bought]:
        units[(supplier_name, plan_id)] += int(count or 0)
    items = {(shop_id, variation_id): int(count or 0) for shop_id, variation_id, count in waiting}
    return Reservations(dict(units), items, open_holds(session))
