"""The suppliers the bridge buys from, as stored: base URL, key and secret (encrypted), the
breaker's state, the measured clock and the key's limits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from bridge.db import created_timestamp, optional_timestamp


class Supplier(SQLModel, table=True):
    __tablename__ = "suppliers"

    name: str = Field(primary_key=True)
    base_url: str
    api_key_enc: str = Field(sa_type=Text)
    api_secret_enc: str = Field(sa_type=Text)
    enabled: bool = True
    # Circuit breaker: consecutive transient failures, and the pause they earned.
    failure_streak: int = 0
    paused_until: datetime | None = optional_timestamp()
    last_failure: str | None = None
    # Its clock measured against ours (bridge.supplier.clock): an answer's ``timestamp`` (Unix
    # time) minus our time lies in [clock_low_seconds, clock_high_seconds]; None until the first
    # measurement, and always for the short dialect, which sends no timestamp.
    clock_low_seconds: float | None = None
    clock_high_seconds: float | None = None
    clock_measured_at: datetime | None = optional_timestamp()
    # The zone its naive times (created_at) are printed in: the operator's (`suppliers add
    # --timezone`, e.g. "+07:00"), which wins, and the one learned from created_at against the
    # clock (minutes east of UTC). None and None: not known yet.
    timezone: str | None = None
    zone_minutes: int | None = None
    # The supplier's id of the user the key belongs to, learned from an order the bridge placed
    # (or account/info): settling adopts no order another user placed.
    user_id: str | None = None
    # The key's own limits as account/info last told them (None: the configured defaults, e.g.
    # the short dialect, which does not tell), its expiry, and when account/info was last asked
    # (None: never, so due at once).
    rate_limit: int | None = None
    daily_limit: int | None = None
    key_expires_at: datetime | None = optional_timestamp()
    account_read_at: datetime | None = optional_timestamp()
    created_at: datetime = created_timestamp()


class PlanShelf(SQLModel, table=True):
    """A supplier plan's stock as the stock sync's last whole read of the catalogue showed it
    (``bridge.supplier.shelf``): a choice that read sold out is tried after the others, one
    that read dearer than its max cost not at all."""

    __tablename__ = "supplier_plan_shelves"

    supplier_name: str = Field(primary_key=True)
    plan_id: int = Field(primary_key=True)
    is_instant: bool
    stock_count: int
    in_stock: bool
    # Its ``final_price`` (one unit): a choice it prices above the choice's max cost is not
    # bought. None: read before the price was kept.
    final_price: float | None = None
    read_at: datetime = created_timestamp()
