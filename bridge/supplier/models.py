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
    # Its clock measured against ours (bridge.supplier.clock): created_at minus our time lies in
    # [clock_low_seconds, clock_high_seconds]; None until the first measurement.
    clock_low_seconds: float | None = None
    clock_high_seconds: float | None = None
    clock_measured_at: datetime | None = optional_timestamp()
    # The key's own limits as account/info last told them (None: the configured defaults, e.g.
    # the short dialect, which does not tell), its expiry, and when account/info was last asked
    # (None: never, so due at once).
    rate_limit: int | None = None
    daily_limit: int | None = None
    key_expires_at: datetime | None = optional_timestamp()
    account_read_at: datetime | None = optional_timestamp()
    created_at: datetime = created_timestamp()
