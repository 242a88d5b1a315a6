"""What the list and show commands read: SQL text, sent through the driver
(``bridge/cli/driver.py``).

Every list and show command is a process of its own, run all day: importing SQLAlchemy, sqlmodel
and the models was most of each one's time (issue 22), so these reads use none of them. The rows
have the models' field names as attributes, so the commands format them as they formatted the
model objects; ``record`` is a row as ``model_dump`` gave it (the same keys and values, the keys
in the model's column order, which ``COLUMNS`` spells: a table's columns are selected by name,
since the migrations added some in another order).

The web console and the workers keep the ORM queries of their rooms; what these select, and
which columns they leave out, is theirs: the tests (tests/cli/test_reads.py) hold the two
together, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.cli.driver import Reader, Row, listed, moment
from bridge.errors import NotFound
from bridge.states import TERMINAL, AttemptOutcome, FulfilmentState
from mappings.values import Paid, Unmapped

if TYPE_CHECKING:
    from mappings.targets import Target

# A row of any columns (the type the commands name).
AnyRow = Row

# Each table's columns, in the order of its model (bridge.models and each room's models.py):
# the order of a `--json` record's keys. tests/cli/test_reads.py compares them with the models.
COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(names.split())
    for table, names in {
        "pancake_shops": """shop_id api_key_enc webhook_secret_digest webhook_token_digest
            warehouse_id trigger_statuses stock_buffer created_at fulfil_from deliver_to enabled
            disabled_at""",
        "shop_catchups": "id shop_id caught_up_until requested_at last_error",
        "orders": """id shop_id order_id state item_count generation snapshot_enc read_at
            placed_at items_digest predates_shop fulfil_asked_by fulfil_asked_at failures
            last_error failure_kind failed_at lease_until annotate_lock_until created_at
            updated_at""",
        "fulfilments": """id order_pk shop_id order_id line_key variation_id item_name quantity
            supplier_name plan_id units supplier_quantity fields_enc state reason trans_id
            supplier_status credentials_enc delivered_count annotated_count delay_notice
            retry_from polls waiting_since failures last_error lease_until created_at
            updated_at""",
        "purchase_attempts": """id fulfilment_id supplier_name plan_id quantity outcome
            trans_id error_code detail batch_key settlement part_of amount worker_id sent_at
            started_at finished_at settled_at""",
        "suppliers": """name base_url api_key_enc api_secret_enc enabled failure_streak
            paused_until last_failure clock_low_seconds clock_high_seconds clock_measured_at
            timezone zone_minutes user_id rate_limit daily_limit key_expires_at account_read_at
            created_at""",
        "alerts": """id kind subject message count resolved created_at last_seen_at resolved_at
            resolution announced_to next_send_at send_failures last_send_error notified_at
            resolution_notified_at""",
        "stock_sync_control": """id requested_at trigger running_until last_started_at
            spacing_seconds failures""",
        "stock_sync_runs": """id trigger started_at finished_at variations changed skipped
            supplier_calls pancake_calls errors""",
        "mappings": """id shop_id variation_id supplier_name plan_id units fields_template
            priority enabled stock_sync manual_stock max_cost checked_price checked_at
            created_at""",
        "mapping_variations": "shop_id variation_id name enabled updated_at",
        "mapping_audit": "id at actor action shop_id variation_id choice_id before after source",
        "console_users": "id username password_hash created_at password_set_at last_login_at",
        "console_audit": "id username action fulfilment_id order_pk address at",
    }.items()
}

# Columns of a line no front end shows: encrypted order fields and delivered credentials
# (workers/fulfilment/queries.py's SECRET_COLUMNS).
LINE_SECRET_COLUMNS = frozenset({"fields_enc", "credentials_enc"})
# Columns of an order no front end shows: the encrypted copy of the order (customer data), and
# the annotator's lock (the console's order view names the columns it shows).
ORDER_HIDDEN_COLUMNS = frozenset({"snapshot_enc", "annotate_lock_until"})
# Columns of a shop and of a supplier that are never printed.
SHOP_SECRET_COLUMNS = frozenset({"api_key_enc", "webhook_secret_digest"})
SUPPLIER_SECRET_COLUMNS = frozenset({"api_key_enc", "api_secret_enc"})
# The stock sync's one control row (workers/stock/models.py).
STOCK_CONTROL_ID = 1


def shown(table: str, hidden: Collection[str] = ()) -> str:
    """The table's columns in their order, less ``hidden``, for a SELECT: what is printed.
    Quoted: some are words of SQL ("trigger", "before")."""
    return ", ".join(f'"{name}"' for name in COLUMNS[table] if name not in hidden)


def narrowed(**given: Any) -> tuple[str, dict[str, Any]]:
    """``WHERE`` each column equals its value, for the values given (not None), and the
    parameters; empty when none is given."""
    params = {name: value for name, value in given.items() if value is not None}
    if not params:
        return "", {}
    return "WHERE " + " AND ".join(f'"{name}" = :{name}' for name in params), params


def record(row: Row) -> dict[str, Any]:
    """A row as a dict, as ``model_dump`` gave the model object."""
    return row._asdict()


def shops(conn: Reader) -> list[Row]:
    """Every shop by id, without its key and webhook secret."""
    columns = shown("pancake_shops", SHOP_SECRET_COLUMNS)
    return conn.rows(f"SELECT {columns} FROM pancake_shops ORDER BY shop_id")


def lines_in_flight(conn: Reader, shop_id: str) -> int:
    """As ``bridge.pancake.shops.lines_in_flight``: the shop's lines a worker still moves."""
    # Named as the states it is in (not "not terminal"): ix_fulfilments_shop_state then reads
    # the few moving lines instead of every line the shop ever had.
    states, params = listed("state", sorted(set(FulfilmentState) - TERMINAL))
    sql = f"SELECT count(*) AS n FROM fulfilments WHERE shop_id = :shop AND state IN {states}"
    return int(conn.scalar(sql, shop=shop_id, **params))


def catchups(conn: Reader) -> dict[str, Row]:
    """Each shop's catch-up for missed webhooks, by shop id (none before its first run)."""
    rows = conn.rows(f"SELECT {shown('shop_catchups')} FROM shop_catchups")
    return {row.shop_id: row for row in rows}


def suppliers(conn: Reader) -> list[Row]:
    """Every supplier by name, without its keys."""
    columns = shown("suppliers", SUPPLIER_SECRET_COLUMNS)
    return conn.rows(f"SELECT {columns} FROM suppliers ORDER BY name")


def fulfilments(
    conn: Reader, *, state: FulfilmentState | None = None, limit: int = 100
) -> list[Row]:
    """The newest ``limit`` lines, optionally only those in ``state``."""
    where, params = narrowed(state=state)
    columns = shown("fulfilments", LINE_SECRET_COLUMNS)
    sql = f"SELECT {columns} FROM fulfilments {where} ORDER BY id DESC LIMIT :limit"
    return conn.rows(sql, limit=limit, **params)


@dataclass(frozen=True)
class LineDetail:
    """One line as an operator sees it (workers/fulfilment/queries.py's FulfilmentDetail)."""

    line: dict[str, Any]  # the line's columns, without LINE_SECRET_COLUMNS
    credentials: str  # "N stored (encrypted)" or "none yet"
    attempts: list[Row]


def fulfilment(conn: Reader, fulfilment_id: int) -> LineDetail:
    """A line, whether credentials are stored (never them) and its attempts, oldest first;
    NotFound if it is missing."""
    found = conn.row(
        f"SELECT {shown('fulfilments', LINE_SECRET_COLUMNS)}, "
        "(credentials_enc IS NOT NULL AND credentials_enc <> '') AS stored "
        "FROM fulfilments WHERE id = :id",
        id=fulfilment_id,
    )
    if found is None:
        raise NotFound(f"no fulfilment {fulfilment_id}")
    line = record(found)
    credentials = (
        f"{line['delivered_count']} stored (encrypted)" if line.pop("stored") else "none yet"
    )
    attempts = conn.rows(
        f"SELECT {shown('purchase_attempts')} FROM purchase_attempts "
        "WHERE fulfilment_id = :id ORDER BY id",
        id=fulfilment_id,
    )
    return LineDetail(line, credentials, attempts)


def orders(
    conn: Reader,
    *,
    state: str | None = None,
    shop_id: str | None = None,
    limit: int = 100,
) -> list[Row]:
    """The ``limit`` orders updated last, optionally only those in ``state`` or of one shop."""
    where, params = narrowed(state=state, shop_id=shop_id)
    columns = shown("orders", ORDER_HIDDEN_COLUMNS)
    sql = f"SELECT {columns} FROM orders {where} ORDER BY updated_at DESC, id DESC LIMIT :limit"
    return conn.rows(sql, limit=limit, **params)


@dataclass(frozen=True)
class OrderRead:
    """One order as an operator sees it: its columns and its lines, oldest first."""

    order: dict[str, Any]  # the order's columns, without ORDER_HIDDEN_COLUMNS
    lines: list[Row]  # without LINE_SECRET_COLUMNS


def order(conn: Reader, order_pk: int) -> OrderRead:
    """An order and its lines; NotFound if it is missing."""
    columns = shown("orders", ORDER_HIDDEN_COLUMNS)
    found = conn.row(f"SELECT {columns} FROM orders WHERE id = :id", id=order_pk)
    if found is None:
        raise NotFound(f"no order {order_pk}")
    lines = conn.rows(
        f"SELECT {shown('fulfilments', LINE_SECRET_COLUMNS)} FROM fulfilments "
        "WHERE order_pk = :id ORDER BY id",
        id=order_pk,
    )
    return OrderRead(record(found), lines)


def order_copy(conn: Reader, order_pk: int) -> str | None:
    """The order's encrypted copy (its customer's name is in it), None without one."""
    token = conn.scalar("SELECT snapshot_enc FROM orders WHERE id = :id", id=order_pk)
    return str(token) if token else None


def alerts(conn: Reader) -> list[Row]:
    """Every alert, the one seen most recently first."""
    return conn.rows(f"SELECT {shown('alerts')} FROM alerts ORDER BY last_seen_at DESC, id DESC")


@dataclass(frozen=True)
class StockRead:
    """The stock sync's pending request and lease, and its latest runs, newest first."""

    control: Row | None
    runs: list[Row]


def stock_status(conn: Reader, limit: int = 10) -> StockRead:
    control = conn.row(
        f"SELECT {shown('stock_sync_control')} FROM stock_sync_control WHERE id = :id",
        id=STOCK_CONTROL_ID,
    )
    runs = conn.rows(
        f"SELECT {shown('stock_sync_runs')} FROM stock_sync_runs ORDER BY id DESC LIMIT :limit",
        limit=limit,
    )
    return StockRead(control, runs)


@dataclass(frozen=True)
class ChoiceRead:
    """A choice with what its variation as a whole says (mappings/repository.py's
    ChoiceView): its name, and whether it is enabled."""

    choice: Row
    name: str | None
    mapping_enabled: bool

    @property
    def active(self) -> bool:
        """Bought and synced: the choice and its mapping are both enabled."""
        return bool(self.choice.enabled) and self.mapping_enabled


def choices(
    conn: Reader,
    *,
    shop_id: str | None = None,
    supplier_name: str | None = None,
    variation_id: str | None = None,
    disabled: bool = False,
) -> list[ChoiceRead]:
    """Choices by shop, variation and priority (the order they are tried in). ``disabled``:
    only those not in use, because the choice or its whole mapping is disabled."""
    where, params = narrowed(
        shop_id=shop_id, supplier_name=supplier_name, variation_id=variation_id
    )
    statement = (
        f"SELECT {shown('mappings')} FROM mappings {where} "
        "ORDER BY shop_id, variation_id, priority, id"
    )
    header_where, header_params = narrowed(shop_id=shop_id, variation_id=variation_id)
    headers = f"SELECT shop_id, variation_id, name, enabled FROM mapping_variations {header_where}"
    # Read apart, not joined: each choice stays a row of the mapping's own columns (its record
    # is the model's), and there is at most one header per variation listed.
    named = {(h.shop_id, h.variation_id): h for h in conn.rows(headers, **header_params)}
    views = []
    for row in conn.rows(statement, **params):
        found = named.get((row.shop_id, row.variation_id))
        views.append(
            ChoiceRead(row, found.name if found else None, bool(found.enabled) if found else True)
        )
    return [view for view in views if not view.active] if disabled else views


@dataclass(frozen=True)
class MappingRead:
    """A variation's mapping (mappings/repository.py's MappingView): its name, whether it is
    enabled, and its choices best first."""

    shop_id: str
    variation_id: str
    name: str | None
    enabled: bool
    choices: list[ChoiceRead]


def mapping_target(
    conn: Reader, shop: str | None, variation: str | None, choice: int | None
) -> Target:
    """What ``mappings show`` names: ``mappings.targets.target_from``, read here."""
    from mappings.targets import target_from

    def place_of_choice(choice_id: int) -> tuple[str, str] | None:
        found = conn.row("SELECT shop_id, variation_id FROM mappings WHERE id = :id", id=choice_id)
        return None if found is None else (found.shop_id, found.variation_id)

    def shops_mapping(variation_id: str) -> list[str]:
        sql = "SELECT DISTINCT shop_id FROM mappings WHERE variation_id = :variation"
        return [row.shop_id for row in conn.rows(sql, variation=variation_id)]

    return target_from(
        shop, variation, choice, place_of_choice=place_of_choice, shops_mapping=shops_mapping
    )


def mapping(conn: Reader, shop_id: str, variation_id: str) -> MappingRead:
    """A variation's mapping with its choices; NotFound when it has none."""
    views = choices(conn, shop_id=shop_id, variation_id=variation_id)
    if not views:
        raise NotFound(f"variation {variation_id} of shop {shop_id} has no mapping")
    return MappingRead(shop_id, variation_id, views[0].name, views[0].mapping_enabled, views)


def last_paid(conn: Reader, shop_id: str, variation_id: str) -> dict[tuple[str, int], Paid]:
    """(supplier, plan) -> the last purchase the variation's lines made with it (as
    ``mappings.repository.last_paid``): its amount with its quantity splits' amounts."""
    found = conn.rows(
        "SELECT a.id, a.supplier_name, a.plan_id, a.amount, a.trans_id, a.started_at, "
        "a.finished_at, f.quantity "
        "FROM purchase_attempts a JOIN fulfilments f ON f.id = a.fulfilment_id "
        "WHERE a.id IN (SELECT max(a.id) "
        "FROM purchase_attempts a JOIN fulfilments f ON f.id = a.fulfilment_id "
        "WHERE f.shop_id = :shop AND f.variation_id = :variation AND a.outcome = :bought "
        "AND a.part_of IS NULL GROUP BY a.supplier_name, a.plan_id)",
        shop=shop_id,
        variation=variation_id,
        bought=AttemptOutcome.BOUGHT.value,
    )
    parts: dict[int, list[float | None]] = {}
    if found:
        ids, params = listed("id", [attempt.id for attempt in found])
        sql = f"SELECT part_of, amount FROM purchase_attempts WHERE part_of IN {ids}"
        for part in conn.rows(sql, **params):
            parts.setdefault(part.part_of, []).append(part.amount)
    return {
        (a.supplier_name, a.plan_id): Paid.summed(
            [a.amount, *parts.get(a.id, [])], a.quantity, a.trans_id, a.finished_at or a.started_at
        )
        for a in found
    }


# The distinct values of a column among the lines (of one shop, for the variations), one seek
# of its index per value: a recursive ``min(x) WHERE x > last`` (a loose index scan, which
# neither SQLite nor PostgreSQL does by itself for a DISTINCT). As mappings.repository._walk.
WALK = """
WITH RECURSIVE walk(value) AS (
    SELECT min({column}) FROM fulfilments WHERE {column} IS NOT NULL {also}
    UNION ALL
    SELECT (SELECT min({column}) FROM fulfilments WHERE {column} > walk.value {also})
    FROM walk WHERE walk.value IS NOT NULL
)
SELECT value FROM walk WHERE value IS NOT NULL
"""


def unmapped(conn: Reader, shop_id: str | None = None) -> list[Unmapped]:
    """Variations of order lines that have no mapping at all, most recently seen first (as
    ``mappings.repository.unmapped``)."""
    mapped = {
        (row.shop_id, row.variation_id)
        for row in conn.rows("SELECT shop_id, variation_id FROM mappings")
    }
    if shop_id is not None:
        shops = [shop_id]
    else:
        shops = [row.value for row in conn.rows(WALK.format(column="shop_id", also=""))]
    walk = WALK.format(column="variation_id", also="AND shop_id = :shop")
    found: list[Unmapped] = []
    for shop in shops:
        # The shop's variations (a walk of the index), then only the unmapped ones' lines.
        variations = [
            row.value for row in conn.rows(walk, shop=shop) if (shop, row.value) not in mapped
        ]
        if not variations:
            continue
        marks, params = listed("variation", variations)
        rows = conn.rows(
            "SELECT variation_id, max(item_name) AS item_name, "
            "count(DISTINCT order_id) AS orders, count(*) AS lines, "
            "sum(CASE WHEN state = :waiting THEN 1 ELSE 0 END) AS waiting, "
            "max(created_at) AS last_seen "
            f"FROM fulfilments WHERE shop_id = :shop AND variation_id IN {marks} "
            "GROUP BY variation_id",
            shop=shop,
            waiting=FulfilmentState.NEEDS_ATTENTION.value,
            **params,
        )
        for row in rows:
            seen = moment(row.last_seen)
            assert seen is not None  # a line's created_at is never NULL
            waiting = int(row.waiting or 0)
            found.append(
                Unmapped(
                    shop, row.variation_id, row.item_name, row.orders, row.lines, waiting, seen
                )
            )
    return sorted(found, key=lambda row: (row.last_seen, row.shop_id), reverse=True)


def mapping_changes(
    conn: Reader,
    *,
    shop_id: str | None = None,
    variation_id: str | None = None,
    choice_id: int | None = None,
    actor: str | None = None,
    limit: int | None = 50,
) -> list[Row]:
    """The mappings' audit trail, newest first, narrowed by what is given (as
    ``mappings.audit.history``)."""
    where, params = narrowed(
        shop_id=shop_id, variation_id=variation_id, choice_id=choice_id, actor=actor
    )
    bound = "LIMIT :limit" if limit is not None else ""
    sql = f"SELECT {shown('mapping_audit')} FROM mapping_audit {where} ORDER BY id DESC {bound}"
    return conn.rows(sql, limit=limit, **params)


def console_users(conn: Reader) -> list[Row]:
    """The console's users by name, without their password hashes."""
    columns = shown("console_users", {"password_hash"})
    return conn.rows(f"SELECT {columns} FROM console_users ORDER BY username")


def console_audit(conn: Reader, fulfilment_id: int | None, limit: int) -> list[Row]:
    """The newest ``limit`` rows of the console's audit, optionally of one line only."""
    where, params = narrowed(fulfilment_id=fulfilment_id)
    sql = (
        f"SELECT {shown('console_audit')} FROM console_audit {where} ORDER BY id DESC LIMIT :limit"
    )
    return conn.rows(sql, limit=limit, **params)
