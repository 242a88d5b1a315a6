"""The tables that rooms on several floors read: orders, their lines (fulfilments) and purchase
attempts (the mapping room reads them too), and the key check. A room's own tables are in its
``models.py`` (``bridge/pancake``, ``bridge/supplier``, ``mappings``, ``workers/*``,
``bridge/web/console``).

Every timestamp is an aware UTC datetime. Secrets live only in ``*_enc`` columns (Fernet, see
``bridge.secrets``) or, for webhook secrets, as an HMAC digest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import created_timestamp, optional_timestamp
from bridge.states import AttemptOutcome, FulfilmentState, OrderState


class Order(SQLModel, table=True):
    """A Pancake order the bridge works on; the per-order lock serialises note updates."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id", name="uq_orders_shop_order"),
        # `orders list` and the console's orders: the last updated first, read from the index's
        # end instead of sorting a year of orders.
        Index("ix_orders_updated", "updated_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    shop_id: str
    order_id: str
    state: str = Field(default=OrderState.PENDING, index=True)
    item_count: int = 0
    # Bumped by every trigger webhook: intake records its finding only if no webhook came since.
    generation: int = 0
    # The order as Pancake last showed it (encrypted: customer data), for field placeholders.
    snapshot_enc: str | None = Field(default=None, sa_type=Text)
    # When the bridge last read the order from Pancake (intake, or before buying a line that
    # waited): a line does not buy on a copy older than order_reread_seconds.
    read_at: datetime | None = optional_timestamp()
    # What the last read saw: when Pancake says the order was created (``inserted_at``), and
    # the digest of its items (``bridge.pancake.schemas.items_digest``): a report with another
    # digest is an edit (or a return), read again; the same digest costs nothing.
    placed_at: datetime | None = optional_timestamp()
    items_digest: str | None = None
    # Intake found it created before the shop's ``fulfil_from`` and skipped it: no report reads
    # it again (an old order moved 3 -> 16 is still history); only an operator does.
    predates_shop: bool = False
    # Who asked (`bridge orders fulfil`: "cli", or the console user) to fulfil it although it
    # predates the shop, and when.
    fulfil_asked_by: str | None = None
    fulfil_asked_at: datetime | None = optional_timestamp()
    # Intake's failures in a row (a crash counts too); at max_step_failures the order is `failed`.
    failures: int = 0
    last_error: str | None = None
    # Why and when it ended `failed` (bridge.states.OrderFailure): "pancake_key"
    # is retried by itself once `shops add` gives the shop a new key.
    failure_kind: str | None = None
    failed_at: datetime | None = optional_timestamp()
    lease_until: datetime | None = optional_timestamp()
    annotate_lock_until: datetime | None = optional_timestamp()
    created_at: datetime = created_timestamp()
    updated_at: datetime = created_timestamp()


class Fulfilment(SQLModel, table=True):
    """One Pancake order line, bought once from one supplier plan."""

    __tablename__ = "fulfilments"
    __table_args__ = (
        UniqueConstraint("shop_id", "order_id", "line_key", name="uq_fulfilments_line"),
        # A shop's lines in flight (`shops list`, `shops remove`): SQLite keeps no histogram
        # and, given the shop and the states, would read every line of the shop through
        # uq_fulfilments_line; ix_fulfilments_state stays for a state's lines newest first.
        Index("ix_fulfilments_shop_state", "shop_id", "state"),
        # The dashboard reads the last day's lines, not a year of them.
        Index("ix_fulfilments_created_at", "created_at"),
        # The unmapped variations: each distinct variation found by a walk of this index
        # (mappings.repository.unmapped), not a scan of every line.
        Index("ix_fulfilments_variation", "shop_id", "variation_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_pk: int = Field(foreign_key="orders.id", index=True)
    shop_id: str
    order_id: str
    line_key: str
    variation_id: str | None = None
    item_name: str | None = None
    quantity: int
    supplier_name: str | None = None
    plan_id: int | None = None
    units: int = 1
    supplier_quantity: int | None = None
    fields_enc: str | None = Field(default=None, sa_type=Text)
    state: str = Field(default=FulfilmentState.PENDING, index=True)
    reason: str | None = None
    trans_id: str | None = None
    # The supplier's last word on the order: pending, processing, completed, cancelled.
    supplier_status: str | None = None
    credentials_enc: str | None = Field(default=None, sa_type=Text)
    delivered_count: int = 0
    annotated_count: int = 0  # how many credentials are already in the note
    # A customer-safe "delivery is delayed" line (DelayNotice), or None when none is needed.
    delay_notice: str | None = None
    # Refusals before this moment no longer rule a choice out (set by `fulfilments retry`).
    retry_from: datetime | None = optional_timestamp()
    polls: int = 0
    # When the line's wait for its supplier began (its first poll after the purchase, or after
    # a retry) or units last arrived; None while it does not wait. The give-up time, and the
    # grace of an answer that may clear up, count from it (workers/fulfilment/deliver.py).
    waiting_since: datetime | None = optional_timestamp()
    failures: int = 0
    last_error: str | None = None
    lease_until: datetime | None = optional_timestamp(index=True)
    created_at: datetime = created_timestamp()
    updated_at: datetime = created_timestamp()


class PurchaseAttempt(SQLModel, table=True):
    """Written and committed before ``orders/create`` is sent: the guard against buying twice."""

    __tablename__ = "purchase_attempts"
    # A supplier order belongs to at most one attempt: adoption can never claim it twice.
    __table_args__ = (
        UniqueConstraint("supplier_name", "trans_id", name="uq_purchase_attempts_trans"),
        # What each supplier was paid over the last days (the console's runway): the week's
        # attempts, not every purchase ever made.
        Index("ix_purchase_attempts_started_at", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    fulfilment_id: int = Field(foreign_key="fulfilments.id", index=True)
    supplier_name: str
    plan_id: int
    quantity: int
    outcome: str = AttemptOutcome.IN_FLIGHT
    trans_id: str | None = None
    error_code: str | None = None
    detail: str | None = None
    # Set only by releases that bought several lines in one orders/create call (they shared a
    # key); the bridge now buys one item per call and leaves it empty. Old rows keep it so a
    # refused batch is still not read as a refusal of each of its plans (mappings/resolve.py).
    batch_key: str | None = Field(default=None, index=True)
    settlement: str | None = None
    # Set on the rows of a line's further supplier orders when the supplier answered one item
    # of quantity N with several orders (a quantity split): each row holds one of those orders
    # (its trans_id, quantity and amount), and names the attempt that bought them all.
    part_of: int | None = Field(default=None, index=True)
    # What the supplier charged for the order this attempt bought (the orders/create answer's
    # ``total``), for the console's runway; None when the supplier did not say.
    amount: float | None = None
    # The worker process that claimed the line (``WorkerProcess.id``): when its heartbeat stops,
    # the attempt is taken back at once instead of after the row's lease.
    worker_id: str | None = Field(default=None, index=True)
    # Set by a conditional update just before the request goes out, and only while the attempt
    # is still in flight: an attempt never marked was never sent, so a dead worker's claim is
    # simply bought again; a marked one is settled.
    sent_at: datetime | None = optional_timestamp()
    started_at: datetime = created_timestamp()
    finished_at: datetime | None = optional_timestamp()
    settled_at: datetime | None = optional_timestamp()


class SecretKeyCheck(SQLModel, table=True):
    """One row: a Fernet token of a fixed marker that proves BRIDGE_SECRET_KEY at every start."""

    __tablename__ = "secret_key_check"

    id: int = Field(default=1, primary_key=True)
    marker_enc: str = Field(sa_type=Text)
    created_at: datetime = created_timestamp()
    # When `bridge secrets rotate` last moved the stored secrets to the current key.
    rotated_at: datetime | None = optional_timestamp()
