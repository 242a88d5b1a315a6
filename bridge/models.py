"""The bridge's tables: shops, suppliers, webhook events, orders, fulfilments, purchase attempts.

Every timestamp is an aware UTC datetime. Secrets live only in ``*_enc`` columns (Fernet, see
``bridge.secrets``) or, for webhook secrets, as an HMAC digest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from bridge.db import UTCDateTime, created_timestamp, optional_timestamp
from bridge.states import AttemptOutcome, FulfilmentState, OrderState

# Confirmed or beyond (bridge.pancake.vocabulary.CONFIRMED_OR_BEYOND): staff may move an order
# past "confirmed" before the bridge reads it. The ground floor spells them as plain numbers.
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


class WebhookEvent(SQLModel, table=True):
    """Every authenticated webhook, once per distinct content (a replayed body is one row).

    The body itself is never kept (Pancake's echo of a note carries the delivered credentials),
    only its hash for deduplication and the ids and status it named. Rows older than
    BRIDGE_WEBHOOK_RETENTION_DAYS are pruned (workers/retention.py).
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


class Order(SQLModel, table=True):
    """A Pancake order the bridge works on; the per-order lock serialises note updates."""

    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("shop_id", "order_id", name="uq_orders_shop_order"),)

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
    # Intake's failures in a row (a crash counts too); at max_step_failures the order is `failed`.
    failures: int = 0
    last_error: str | None = None
    # Why and when it ended `failed` (workers.fulfilment.failures.OrderFailure): "pancake_key"
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


class WorkerProcess(SQLModel, table=True):
    """A process that runs steps, and its heartbeat: a claim whose worker stopped beating is
    recovered by the sweep within seconds, not after its lease."""

    __tablename__ = "worker_processes"

    id: str = Field(primary_key=True)
    host: str
    pid: int
    started_at: datetime = created_timestamp()
    beat_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # A clean stop says so at once: its claims need no wait for the heartbeat to run out.
    stopped_at: datetime | None = optional_timestamp()


class SchedulerLease(SQLModel, table=True):
    """Who runs the periodic sweep: one holder at a time across every process and host."""

    __tablename__ = "scheduler_leases"

    name: str = Field(primary_key=True)
    holder: str
    expires_at: datetime = Field(sa_type=UTCDateTime)


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


class SecretKeyCheck(SQLModel, table=True):
    """One row: a Fernet token of a fixed marker that proves BRIDGE_SECRET_KEY at every start."""

    __tablename__ = "secret_key_check"

    id: int = Field(default=1, primary_key=True)
    marker_enc: str = Field(sa_type=Text)
    created_at: datetime = created_timestamp()
    # When `bridge secrets rotate` last moved the stored secrets to the current key.
    rotated_at: datetime | None = optional_timestamp()
