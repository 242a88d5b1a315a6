"""The mapping table: which supplier plan serves a Pancake variation, in which order.

A *mapping* is a Pancake variation of one shop; its *choices* are the ``MappingChoice`` rows,
tried in priority order. ``MappedVariation`` holds what belongs to the variation as a whole (its
name as the operators know it, and whether it is enabled); a variation without such a row is
enabled and unnamed, so rows written before it existed keep working. ``MappingChange`` is the
audit trail.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, created_timestamp, optional_timestamp, utcnow


class MappingChoice(SQLModel, table=True):
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
    # The most one POS item may cost bought with this choice (the plan's price times
    # ``units``); None: the item's Pancake retail price, as the order shows it. A choice the last
    # catalogue read prices above it is passed over (``mappings.resolve.too_dear``).
    max_cost: float | None = None
    # The plan's price (one supplier unit) when the choice was last saved against the catalogue:
    # the "from" of "price rose from X to Y". None: saved unchecked (--offline).
    checked_price: float | None = None
    checked_at: datetime | None = optional_timestamp()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MappedVariation(SQLModel, table=True):
    """A mapped variation as a whole: disabled, none of its choices is bought or synced."""

    __tablename__ = "mapping_variations"

    shop_id: str = Field(primary_key=True)
    variation_id: str = Field(primary_key=True)
    # The operators' name for it (Pancake's listing names products, not variations).
    name: str | None = None
    enabled: bool = True
    updated_at: datetime = created_timestamp()


class MappingChange(SQLModel, table=True):
    """One change to a mapping or a choice: who, when, what it was before and after.

    ``choice_id`` is None for a change to the variation as a whole. It is no foreign key: the
    trail outlives the choices it tells of. ``before`` is None for an addition, ``after`` for a
    removal.
    """

    __tablename__ = "mapping_audit"
    __table_args__ = (Index("ix_mapping_audit_variation", "shop_id", "variation_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor: str  # "cli", or the console user's name
    action: str  # mappings.audit.Action
    shop_id: str
    variation_id: str
    choice_id: int | None = None
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # Where the change came from beyond the actor, e.g. "import mappings.csv".
    source: str | None = None
