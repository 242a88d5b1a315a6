"""The stock sync's own state: what was pushed, where, the one-sync-at-a-time control, the runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, optional_timestamp, utcnow


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
    pushed_at: datetime | None = optional_timestamp()
    # The latest value a variations_warehouses webhook reported, for display.
    pancake_quantity: int | None = None
    reported_at: datetime | None = optional_timestamp()
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StockShop(SQLModel, table=True):
    """Per shop without a configured warehouse: what ``GET /warehouses`` listed at
    ``updated_at`` (``listed``: each warehouse's id and whether it takes orders, in Pancake's
    order), and ``warehouse_id``, the first warehouse stock went to then."""

    __tablename__ = "stock_shops"

    shop_id: str = Field(primary_key=True)
    warehouse_id: str
    listed: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class StockHold(SQLModel, table=True):
    """Units Pancake holds for one open order, per variation and warehouse, as its stock
    webhooks told: Pancake reserves an order's units when it is created (status 0) and gives
    them back when it is cancelled, each time with a ``variations_warehouses`` webhook naming
    the order and the change. ``units`` is minus the sum of those changes."""

    __tablename__ = "stock_holds"
    __table_args__ = (
        UniqueConstraint(
            "shop_id", "order_id", "variation_id", "warehouse_id", name="uq_stock_holds_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str
    order_id: str
    variation_id: str
    warehouse_id: str
    units: int = 0
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The id of the one StockSyncControl row.
CONTROL_ID = 1


class StockSyncControl(SQLModel, table=True):
    """One row (id 1) that serialises stock syncs across every process and host.

    ``requested_at`` is set when a sync message is sent and cleared when a sync starts: while it
    is set, further requests (a burst of webhooks) send nothing. ``running_until`` is the lease of
    the sync in progress. ``spacing_seconds``: the least time between two automatic syncs that
    keeps catalogue reads within their share of the suppliers' daily budget.
    """

    __tablename__ = "stock_sync_control"

    id: int = Field(primary_key=True)
    requested_at: datetime | None = optional_timestamp()
    trigger: str | None = None
    running_until: datetime | None = optional_timestamp()
    last_started_at: datetime | None = optional_timestamp()
    spacing_seconds: float = 0.0
    failures: int = 0


class StockSyncRun(SQLModel, table=True):
    """One stock sync: when, what it read and changed, and what went wrong."""

    __tablename__ = "stock_sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    trigger: str
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = optional_timestamp()
    variations: int = 0
    changed: int = 0
    skipped: int = 0
    supplier_calls: int = 0
    pancake_calls: int = 0
    errors: str | None = Field(default=None, sa_type=Text)
