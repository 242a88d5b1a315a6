"""The shops the bridge serves, as stored: the Pancake key (encrypted), the webhook secret (a
digest), the warehouse, the statuses that start fulfilment and the orders it fulfils."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, created_timestamp
from bridge.pancake.vocabulary import NoteDelivery

# Confirmed or beyond (``vocabulary.CONFIRMED_OR_BEYOND``, a test holds them equal): staff may
# move an order past "confirmed" before the bridge reads it. Spelled as the stored numbers.
DEFAULT_TRIGGER_STATUSES = [1, 2, 3, 8, 9, 12, 13, 16]


class PancakeShop(SQLModel, table=True):
    __tablename__ = "pancake_shops"

    shop_id: str = Field(primary_key=True)
    api_key_enc: str = Field(sa_type=Text)
    webhook_secret_digest: str
    # The webhook URL's token (bridge.pancake.webhook_tokens), as a digest bound to the secret's;
    # None until `bridge shops connect` issues one (the header alone authenticates meanwhile).
    webhook_token_digest: str | None = None
    warehouse_id: str | None = None
    trigger_statuses: list[int] = Field(
        default_factory=lambda: list(DEFAULT_TRIGGER_STATUSES),
        sa_column=Column(JSON, nullable=False),
    )
    # Stock sync keeps this many of every synced variation back from sale.
    stock_buffer: int = 0
    created_at: datetime = created_timestamp()
    # Orders Pancake says were created (``inserted_at``) before this moment are the shop's
    # history, delivered by hand: skipped, never bought unless an operator asks (`bridge orders
    # fulfil`). When the shop was added, unless `shops add --since` says otherwise.
    fulfil_from: datetime = created_timestamp()
    # Which of the order's notes gets the credentials (``vocabulary.NoteDelivery``: note, note_print
    # or both); the delay notice goes to the one the customer sees (`shops add --deliver-to`).
    deliver_to: str = NoteDelivery.NOTE
    # A disabled shop's orders are recorded (webhook stored, order skipped with its reason) and
    # not bought; the catch-up and the stock sync leave it alone (`bridge shops disable`). Since
    # when: the orders skipped from then on are the ones `bridge shops enable` has read again.
    enabled: bool = True
    disabled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
