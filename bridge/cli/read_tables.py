"""The tables the list and show commands read, in plain SQLAlchemy Core.

Ops run ``bridge ... list`` and ``show`` all day, and each run is a fresh process: importing
sqlmodel and the models (building every model class) was about a third of its time (issue 22).
These ``Table`` objects, on a ``MetaData`` of their own, let ``bridge/cli/reads.py`` read the
same rows without them. Same names, same order, same column types (so the same Python values
come back: aware datetimes, decoded JSON, booleans), only without the models' defaults,
indexes and constraints, which a read does not use.

The models stay the one source: tests/cli/test_read_tables.py compares each table here with
``SQLModel.metadata``'s, column by column, and prints the declaration to paste when a model
changes. The models' ``AutoString`` is declared as ``String``, its base: it differs only in
what DDL it emits, and the read path emits none.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Float, Integer, MetaData, String, Table, Text

from bridge.db import UTCDateTime

METADATA = MetaData()

PANCAKE_SHOPS = Table(
    "pancake_shops",
    METADATA,
    Column("shop_id", String, primary_key=True),
    Column("api_key_enc", Text),
    Column("webhook_secret_digest", String),
    Column("webhook_token_digest", String),
    Column("warehouse_id", String),
    Column("trigger_statuses", JSON),
    Column("stock_buffer", Integer),
    Column("created_at", UTCDateTime),
    Column("fulfil_from", UTCDateTime),
    Column("deliver_to", String),
    Column("enabled", Boolean),
    Column("disabled_at", UTCDateTime),
)

SHOP_CATCHUPS = Table(
    "shop_catchups",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("shop_id", String),
    Column("caught_up_until", UTCDateTime),
    Column("requested_at", UTCDateTime),
    Column("last_error", String),
)

ORDERS = Table(
    "orders",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("shop_id", String),
    Column("order_id", String),
    Column("state", String),
    Column("item_count", Integer),
    Column("generation", Integer),
    Column("snapshot_enc", Text),
    Column("read_at", UTCDateTime),
    Column("placed_at", UTCDateTime),
    Column("items_digest", String),
    Column("predates_shop", Boolean),
    Column("fulfil_asked_by", String),
    Column("fulfil_asked_at", UTCDateTime),
    Column("failures", Integer),
    Column("last_error", String),
    Column("failure_kind", String),
    Column("failed_at", UTCDateTime),
    Column("lease_until", UTCDateTime),
    Column("annotate_lock_until", UTCDateTime),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
)

FULFILMENTS = Table(
    "fulfilments",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("order_pk", Integer),
    Column("shop_id", String),
    Column("order_id", String),
    Column("line_key", String),
    Column("variation_id", String),
    Column("item_name", String),
    Column("quantity", Integer),
    Column("supplier_name", String),
    Column("plan_id", Integer),
    Column("units", Integer),
    Column("supplier_quantity", Integer),
    Column("fields_enc", Text),
    Column("state", String),
    Column("reason", String),
    Column("trans_id", String),
    Column("supplier_status", String),
    Column("credentials_enc", Text),
    Column("delivered_count", Integer),
    Column("annotated_count", Integer),
    Column("delay_notice", String),
    Column("retry_from", UTCDateTime),
    Column("polls", Integer),
    Column("waiting_since", UTCDateTime),
    Column("failures", Integer),
    Column("last_error", String),
    Column("lease_until", UTCDateTime),
    Column("created_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
)

PURCHASE_ATTEMPTS = Table(
    "purchase_attempts",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("fulfilment_id", Integer),
    Column("supplier_name", String),
    Column("plan_id", Integer),
    Column("quantity", Integer),
    Column("outcome", String),
    Column("trans_id", String),
    Column("error_code", String),
    Column("detail", String),
    Column("batch_key", String),
    Column("settlement", String),
    Column("part_of", Integer),
    Column("amount", Float),
    Column("worker_id", String),
    Column("sent_at", UTCDateTime),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("settled_at", UTCDateTime),
)

SUPPLIERS = Table(
    "suppliers",
    METADATA,
    Column("name", String, primary_key=True),
    Column("base_url", String),
    Column("api_key_enc", Text),
    Column("api_secret_enc", Text),
    Column("enabled", Boolean),
    Column("failure_streak", Integer),
    Column("paused_until", UTCDateTime),
    Column("last_failure", String),
    Column("clock_low_seconds", Float),
    Column("clock_high_seconds", Float),
    Column("clock_measured_at", UTCDateTime),
    Column("timezone", String),
    Column("zone_minutes", Integer),
    Column("user_id", String),
    Column("rate_limit", Integer),
    Column("daily_limit", Integer),
    Column("key_expires_at", UTCDateTime),
    Column("account_read_at", UTCDateTime),
    Column("created_at", UTCDateTime),
)

ALERTS = Table(
    "alerts",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("kind", String),
    Column("subject", String),
    Column("message", String),
    Column("count", Integer),
    Column("resolved", Boolean),
    Column("created_at", UTCDateTime),
    Column("last_seen_at", UTCDateTime),
    Column("resolved_at", UTCDateTime),
    Column("resolution", String),
    Column("announced_to", String),
    Column("next_send_at", UTCDateTime),
    Column("send_failures", Integer),
    Column("last_send_error", String),
    Column("notified_at", UTCDateTime),
    Column("resolution_notified_at", UTCDateTime),
)

STOCK_SYNC_CONTROL = Table(
    "stock_sync_control",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("requested_at", UTCDateTime),
    Column("trigger", String),
    Column("running_until", UTCDateTime),
    Column("last_started_at", UTCDateTime),
    Column("spacing_seconds", Float),
    Column("failures", Integer),
)

STOCK_SYNC_RUNS = Table(
    "stock_sync_runs",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("trigger", String),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("variations", Integer),
    Column("changed", Integer),
    Column("skipped", Integer),
    Column("supplier_calls", Integer),
    Column("pancake_calls", Integer),
    Column("errors", Text),
)

MAPPINGS = Table(
    "mappings",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("shop_id", String),
    Column("variation_id", String),
    Column("supplier_name", String),
    Column("plan_id", Integer),
    Column("units", Integer),
    Column("fields_template", JSON),
    Column("priority", Integer),
    Column("enabled", Boolean),
    Column("stock_sync", Boolean),
    Column("manual_stock", Integer),
    Column("max_cost", Float),
    Column("checked_price", Float),
    Column("checked_at", UTCDateTime),
    Column("created_at", UTCDateTime),
)

MAPPING_VARIATIONS = Table(
    "mapping_variations",
    METADATA,
    Column("shop_id", String, primary_key=True),
    Column("variation_id", String, primary_key=True),
    Column("name", String),
    Column("enabled", Boolean),
    Column("updated_at", UTCDateTime),
)

MAPPING_AUDIT = Table(
    "mapping_audit",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime),
    Column("actor", String),
    Column("action", String),
    Column("shop_id", String),
    Column("variation_id", String),
    Column("choice_id", Integer),
    Column("before", JSON),
    Column("after", JSON),
    Column("source", String),
)


CONSOLE_USERS = Table(
    "console_users",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("username", String),
    Column("password_hash", String),
    Column("created_at", UTCDateTime),
    Column("password_set_at", UTCDateTime),
    Column("last_login_at", UTCDateTime),
)

CONSOLE_AUDIT = Table(
    "console_audit",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("username", String),
    Column("action", String),
    Column("fulfilment_id", Integer),
    Column("order_pk", Integer),
    Column("address", String),
    Column("at", UTCDateTime),
)
