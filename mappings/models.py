"""The mapping table: which supplier plan serves a Pancake variation, in which order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, utcnow


class Mapping(SQLModel, table=True):
    __tablename__ = "mappings"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "variation_id", "supplier_name", "plan_id", name="uq_mappings_choice"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str = Field(index=True)
    variation_id: str = Field(index=True)
    supplier_name: str = Field(foreign_key="suppliers.name")
    plan_id: int
    units: int = 1
    # Values are literals or placeholders such as "{order.bill_email}" filled from the order.
    fields_template: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    priority: int = 0
    enabled: bool = True
    # Pancake's sellable quantity follows the suppliers' stock. A variation is synced only when
    # every enabled choice says so: turning it off on one choice hands the variation to staff.
    stock_sync: bool = True
    # Manual plans (is_instant false) report no stock: this fixed quantity stands in for it.
    # None means "don't sync" a variation that has such a choice.
    manual_stock: int | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
