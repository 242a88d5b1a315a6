"""The alerts an operator sees, and their notification outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import created_timestamp, optional_timestamp


class Alert(SQLModel, table=True):
    """Something an operator must act on (e.g. a supplier balance too low), deduplicated: one
    row per (kind, subject), an incident at a time, counted when repeated while open.

    The row is also the notification outbox (``workers/alerts/outbox.py``): raising or resolving
    it only sets ``next_send_at`` inside the caller's transaction, and the sender later tells the
    configured channels, outside any step, whatever they do not know yet.
    """

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("kind", "subject", name="uq_alerts_kind_subject"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str
    subject: str
    message: str
    count: int = 1  # times seen in the current incident
    resolved: bool = False
    created_at: datetime = created_timestamp()
    last_seen_at: datetime = created_timestamp()
    resolved_at: datetime | None = optional_timestamp()
    # How it cleared, for the resolution message ("balance 900000 is above the threshold").
    resolution: str | None = None
    # The channels (fingerprints of BRIDGE_ALERT_URLS entries, comma-separated) told that the
    # alert is open and not yet that it cleared. Kept per channel, so that a channel that took a
    # message is never sent it again while another one is retried.
    announced_to: str = ""
    # From when the sender should look at the row (raised anew, resolved, a failed send due
    # again); None while every channel knows what the row says.
    next_send_at: datetime | None = optional_timestamp(index=True)
    send_failures: int = 0  # failed sends in a row
    last_send_error: str | None = None  # which channel, and the service's status: never a URL
    notified_at: datetime | None = optional_timestamp()
    resolution_notified_at: datetime | None = optional_timestamp()
