"""The shops the bridge serves, as stored: the Pancake key (encrypted), the webhook secret (a
digest), the warehouse and the statuses that start fulfilment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bridge.db import created_timestamp

# Confirmed or beyond (``vocabulary.CONFIRMED_OR_BEYOND``, a test holds them equal): staff may
# move an order past "confirmed" before the bridge reads it. Spelled as the stored numbers.
DEFAULT_TRIGGER_STATUSES = [1, 2, 3, 8, 9, 12, 13, 16]


class PancakeShop(SQLModel, table=True):
    __tablename__ = "pancake_shops"

    shop_id: str = Field(primary_key=True)
    api_key_enc: str = Field(sa_type=Text)
    webhook_secret_digest: str
    warehouse_id: str | None = None
    trigger_statuses: list[int] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGER_STATUSES),
        sa_column=Column(JSON, nullable=False),
    )
    # Stock sync keeps this many of every synced variation back from sale.
    stock_buffer: int = 0
    created_at: datetime = created_timestamp()
