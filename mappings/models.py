"""The mapping table (which supplier plan serves a Pancake variation) and the stock-sync state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, utcnow


def _ts() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


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


class StockLevel(SQLModel, table=True):
    """What the bridge knows of one (shop, variation, warehouse) sellable quantity in Pancake.

    ``pushed_quantity`` is the value of the last successful push; a sync pushes only when the
    computed value differs from it, or when ``reported_at`` is set: a webhook reported a value
    other than the one pushed (a staff edit or a sale) and no push has covered it since.
    ``pushing_quantity`` is set while a push is in flight, so the webhook Pancake echoes for our
    own push is not taken for a staff edit.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (
        UniqueConstraint("shop_id", "variation_id", "warehouse_id", name="uq_stock_levels_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str
    variation_id: str
    warehouse_id: str
    pushed_quantity: int | None = None
    pushing_quantity: int | None = None
    pushed_at: datetime | None = _ts()
    # The latest value a variations_warehouses webhook reported, for display.
    pancake_quantity: int | None = None
    reported_at: datetime | None = _ts()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StockShop(SQLModel, table=True):
    """Per shop: the warehouse found with ``GET /warehouses`` when none is configured."""

    __tablename__ = "stock_shops"

    shop_id: str = Field(primary_key=True)
    warehouse_id: str
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StockSyncControl(SQLModel, table=True):
    """One row (id 1) that serialises stock syncs across every process and host.

    ``requested_at`` is set when a sync message is sent and cleared when a sync starts: while it
    is set, further requests (a burst of webhooks) send nothing. ``running_until`` is the lease of
    the sync in progress. ``spacing_seconds``: the least time between two automatic syncs that
    keeps catalogue reads within their share of the suppliers' daily budget.
    """

    __tablename__ = "stock_sync_control"

    id: int = Field(primary_key=True)
    requested_at: datetime | None = _ts()
    trigger: str | None = None
    running_until: datetime | None = _ts()
    last_started_at: datetime | None = _ts()
    spacing_seconds: float = 0.0
    failures: int = 0


class StockSyncRun(SQLModel, table=True):
    """One stock sync: when, what it read and changed, and what went wrong."""

    __tablename__ = "stock_sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = _ts()
    variations: int = 0
    changed: int = 0
    skipped: int = 0
    supplier_calls: int = 0
    pancake_calls: int = 0
    errors: str | None = Field(default=None, sa_type=Text)
