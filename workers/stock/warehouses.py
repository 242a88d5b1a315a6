"""Which of a shop's warehouses get its stock.

Pancake keeps stock per warehouse, and an order reserves its units in the warehouse it names
(``warehouse_id``): the first listed warehouse that takes orders (``allow_create_order``), unless
staff pick another. Stock pushed to a warehouse no order uses is never sold from, and stock
pushed to several is offered several times. So the stock goes to:

* the configured warehouse (`bridge shops add --warehouse-id`), and only there (`bridge doctor`
  flags one that takes no orders);
* otherwise each listed warehouse that takes orders;
* if none does, each listed warehouse the shop's open orders hold stock in (their
  ``warehouse_id``, from the reservations' webhooks: ``holds``);
* otherwise (no order seen yet) the first listed, so it goes somewhere.

Several targets each show the variation's whole sellable quantity: an order in any of them draws
on the same supplier stock, Pancake's own reservation lowers its warehouse at once, and the sync
it causes lowers the others. (A storefront that added warehouses up would show it once per
warehouse: configure one warehouse for such a shop.) An order placed by hand in a warehouse that
takes no orders still holds its units, which come off every target; that warehouse keeps the
figure Pancake gives it.

The listing (``GET /shops/<id>/warehouses``) is remembered per shop (``StockShop``) and read
again after ``RECHECK`` (one call per shop an hour). A warehouse that got stock and is no longer
listed raises ``stock_warehouse_gone``. A listed warehouse that no longer gets stock (unticked,
or no longer configured) is set to 0 once by the sync (``retire``), so Pancake stops offering
what the bridge put there.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.db import session_scope
from bridge.pancake.models import PancakeShop
from workers.alerts.store import raise_alert
from workers.queue.context import Context
from workers.stock.models import StockShop

# How often a remembered listing is read again (one call per shop).
RECHECK = timedelta(hours=1)
WAREHOUSE_GONE = "stock_warehouse_gone"


@dataclass(frozen=True, slots=True)
class Listed:
    """One warehouse as Pancake listed it."""

    id: str
    takes_orders: bool

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "takes_orders": self.takes_orders}


@dataclass(frozen=True, slots=True)
class Targets:
    """Where a shop's stock goes, and why; ``listed``: the ids Pancake lists (None: not read,
    the configured warehouse is taken as it is)."""

    warehouses: tuple[str, ...]
    why: str
    listed: frozenset[str] | None = None


def remembered(row: StockShop | None, now: datetime) -> list[Listed] | None:
    """The listing remembered for a shop, unless it is due to be read again."""
    if row is None or row.listed is None or now - row.updated_at >= RECHECK:
        return None
    return [Listed(str(item["id"]), bool(item["takes_orders"])) for item in row.listed]


def choose(listing: Sequence[Listed], in_use: Collection[str]) -> Targets:
    """The warehouses that take orders; else those open orders hold stock in; else the first
    listed. In Pancake's order."""
    listed = frozenset(w.id for w in listing)
    taking = tuple(w.id for w in listing if w.takes_orders)
    if taking:
        return Targets(taking, "takes orders", listed)
    used = tuple(w.id for w in listing if w.id in in_use)
    if used:
        return Targets(used, "no warehouse takes orders; open orders hold stock here", listed)
    if not listing:
        raise LookupError("Pancake lists no warehouse for this shop")
    return Targets((listing[0].id,), "no warehouse takes orders: the first listed", listed)


def configured(shop: PancakeShop) -> Targets | None:
    if not shop.warehouse_id:
        return None
    return Targets((shop.warehouse_id,), "configured")


def read_listing(ctx: Context, shop: PancakeShop) -> list[Listed]:
    """``GET /shops/<id>/warehouses``: one call."""
    return [Listed(w.id, w.takes_orders) for w in ctx.pancake(shop).list_warehouses(shop.shop_id)]


def remember(
    ctx: Context,
    shop: PancakeShop,
    listing: Sequence[Listed],
    targets: Targets,
    stocked: Collection[str],
) -> None:
    """Keep the listing just read; alert when a warehouse that got stock is no longer listed."""
    now = ctx.clock()
    gone = sorted(set(stocked) - {w.id for w in listing})
    with session_scope(ctx.engine) as session:
        row = session.get(StockShop, shop.shop_id) or StockShop(
            shop_id=shop.shop_id, warehouse_id=targets.warehouses[0]
        )
        if gone:
            raise_alert(
                session,
                WAREHOUSE_GONE,
                shop.shop_id,
                f"shop {shop.shop_id}: warehouse {', '.join(gone)} is no longer listed by "
                f"Pancake; stock now goes to {', '.join(targets.warehouses)} ({targets.why}; "
                "set another with `bridge shops add --warehouse-id`)",
                now,
            )
        row.warehouse_id = targets.warehouses[0]
        row.listed = [w.as_json() for w in listing]
        row.updated_at = now
        session.add(row)
