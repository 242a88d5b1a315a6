"""Fulfilment's own tables: the webhook events as received, and each shop's catch-up of missed
webhooks. (Orders, lines and purchases are in ``bridge.models``: the mapping room reads them.)"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import created_timestamp, optional_timestamp


class WebhookEvent(SQLModel, table=True):
    """Every authenticated webhook, once per distinct content (a replayed body is one row).

    The body itself is never kept (Pancake's echo of a note carries the delivered credentials),
    only its hash for deduplication and the ids and status it named. Rows older than
    BRIDGE_WEBHOOK_RETENTION_DAYS are pruned (workers/fulfilment/retention.py).
    """

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("shop_id", "body_hash", name="uq_webhook_events_body"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str  # indexed first in uq_webhook_events_body: one B-tree less per webhook
    kind: str
    order_id: str | None = Field(default=None, index=True)
    order_status: int | None = None
    body_hash: str
    outcome: str
    received_at: datetime = created_timestamp()


class ShopCatchUp(SQLModel, table=True):
    """Per shop, how far the catch-up for missed webhooks has read Pancake's order list."""

    __tablename__ = "shop_catchups"
    __table_args__ = (UniqueConstraint("shop_id", name="uq_shop_catchups_shop"),)

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str
    # The start of the last read that saw every page: orders updated before it were all seen.
    caught_up_until: datetime | None = optional_timestamp()
    # When the scheduler last sent a catch-up for this shop; spaces the reads by the interval.
    requested_at: datetime | None = optional_timestamp()
    last_error: str | None = None
