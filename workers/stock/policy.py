"""The operators' stock-sync policy: which variations follow the suppliers, and what is kept back.

Command functions for the CLI and the console; they change rows in the caller's session and
return them, the caller commits.
"""

from __future__ import annotations

from sqlmodel import Session, select

from bridge.errors import ConfigError
from bridge.pancake.models import PancakeShop
from mappings.models import MappingChoice


def set_stock_policy(
    session: Session,
    *,
    shop_id: str,
    variation_id: str,
    stock_sync: bool | None = None,
    manual_stock: int | None = None,
    clear_manual_stock: bool = False,
) -> list[MappingChoice]:
    """Set the stock-sync policy on every choice of a variation (it is one policy per variation)."""
    if manual_stock is not None and manual_stock < 0:
        raise ConfigError("--manual-quantity must not be negative")
    rows = list(
        session.exec(
            select(MappingChoice).where(
                MappingChoice.shop_id == shop_id, MappingChoice.variation_id == variation_id
            )
        )
    )
    if not rows:
        raise ConfigError(f"variation {variation_id} of shop {shop_id} has no mapping")
    for mapping in rows:
        if stock_sync is not None:
            mapping.stock_sync = stock_sync
        if manual_stock is not None or clear_manual_stock:
            mapping.manual_stock = manual_stock
        session.add(mapping)
    return rows


def set_stock_buffer(session: Session, shop_id: str, buffer: int) -> PancakeShop:
    """Keep ``buffer`` of every synced variation back from sale in this shop."""
    if buffer < 0:
        raise ConfigError("the stock buffer must not be negative")
    shop = session.get(PancakeShop, shop_id)
    if shop is None:
        raise ConfigError(f"unknown shop {shop_id}: add it with `bridge shops add` first")
    shop.stock_buffer = buffer
    session.add(shop)
    return shop
