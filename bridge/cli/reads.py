"""What the list and show commands read, in SQLAlchemy Core on ``bridge/cli/read_tables.py``.

Every list and show command is a process of its own, run all day: importing sqlmodel and the
models cost about a third of each (issue 22), so these reads neither import them nor build ORM
objects. They return SQLAlchemy rows, whose attributes and ``_mapping`` are named as the
models' fields, so the commands format them as they formatted the model objects; ``record``
is a row as ``model_dump`` gave it (the same keys and values; the keys in the table's column
order, where the ORM's order changed from run to run).

The web console and the workers keep the ORM queries of their rooms; what these select, and
which columns they leave out, is theirs: the tests (tests/cli/test_read_tables.py) hold the two
together.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import ColumnElement, Row, Select, Table, func, select
from sqlalchemy.engine import Connection

from bridge.cli import read_tables as t
from bridge.errors import NotFound
from bridge.states import TERMINAL, FulfilmentState

# A row of any columns (SQLAlchemy types a row by its columns' types).
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
_Select = TypeVar("_Select", bound=Select[*tuple[Any, ...]])

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


def shown(table: Table, hidden: Collection[str] = ()) -> list[ColumnElement[Any]]:
    """The table's columns in their order, less ``hidden``: what is selected and printed."""
    return [column for column in table.columns if column.name not in hidden]


def narrowed(statement: _Select, *given: tuple[ColumnElement[Any], object]) -> _Select:
    """``statement`` where each column equals its value, for the values given (not None)."""
    for column, value in given:
        if value is not None:
            statement = statement.where(column == value)
    return statement


def record(row: AnyRow) -> dict[str, Any]:
    """A row as a dict, as ``model_dump`` gave the model object."""
    return dict(row._mapping)


def shops(conn: Connection) -> list[AnyRow]:
    """Every shop by id, without its key and webhook secret."""
    table = t.PANCAKE_SHOPS
    return list(conn.execute(select(*shown(table, SHOP_SECRET_COLUMNS)).order_by(table.c.shop_id)))


def lines_in_flight(conn: Connection, shop_id: str) -> int:
    """As ``bridge.pancake.shops.lines_in_flight``: the shop's lines a worker still moves."""
    lines = t.FULFILMENTS
    # Named as the states it is in (not "not terminal"): ix_fulfilments_shop_state then reads
    # the few moving lines instead of every line the shop ever had.
    moving = sorted(set(FulfilmentState) - TERMINAL)
    statement = select(func.count()).where(lines.c.shop_id == shop_id, lines.c.state.in_(moving))
    return int(conn.execute(statement).scalar_one())


def catchups(conn: Connection) -> dict[str, AnyRow]:
    """Each shop's catch-up for missed webhooks, by shop id (none before its first run)."""
    return {row.shop_id: row for row in conn.execute(select(t.SHOP_CATCHUPS))}


def suppliers(conn: Connection) -> list[AnyRow]:
    """Every supplier by name, without its keys."""
    table = t.SUPPLIERS
    statement = select(*shown(table, SUPPLIER_SECRET_COLUMNS)).order_by(table.c.name)
    return list(conn.execute(statement))


def fulfilments(
    conn: Connection, *, state: FulfilmentState | None = None, limit: int = 100
) -> list[AnyRow]:
    """The newest ``limit`` lines, optionally only those in ``state``."""
    lines = t.FULFILMENTS
    statement = select(*shown(lines, LINE_SECRET_COLUMNS)).order_by(lines.c.id.desc()).limit(limit)
    return list(conn.execute(narrowed(statement, (lines.c.state, state))))


@dataclass(frozen=True)
class LineDetail:
    """One line as an operator sees it (workers/fulfilment/queries.py's FulfilmentDetail)."""

    line: dict[str, Any]  # the line's columns, without LINE_SECRET_COLUMNS
    credentials: str  # "N stored (encrypted)" or "none yet"
    attempts: list[AnyRow]


def fulfilment(conn: Connection, fulfilment_id: int) -> LineDetail:
    """A line, whether credentials are stored (never them) and its attempts, oldest first;
    NotFound if it is missing."""
    lines, attempts = t.FULFILMENTS, t.PURCHASE_ATTEMPTS
    stored = lines.c.credentials_enc.is_not(None) & (lines.c.credentials_enc != "")
    found = conn.execute(
        select(*shown(lines, LINE_SECRET_COLUMNS), stored.label("stored")).where(
            lines.c.id == fulfilment_id
        )
    ).one_or_none()
    if found is None:
        raise NotFound(f"no fulfilment {fulfilment_id}")
    line = record(found)
    credentials = (
        f"{line['delivered_count']} stored (encrypted)" if line.pop("stored") else "none yet"
    )
    statement = (
        select(attempts).where(attempts.c.fulfilment_id == fulfilment_id).order_by(attempts.c.id)
    )
    return LineDetail(line, credentials, list(conn.execute(statement)))


def orders(
    conn: Connection,
    *,
    state: str | None = None,
    shop_id: str | None = None,
    limit: int = 100,
) -> list[AnyRow]:
    """The ``limit`` orders updated last, optionally only those in ``state`` or of one shop."""
    table = t.ORDERS
    statement = (
        select(*shown(table, ORDER_HIDDEN_COLUMNS))
        .order_by(table.c.updated_at.desc(), table.c.id.desc())
        .limit(limit)
    )
    return list(
        conn.execute(narrowed(statement, (table.c.state, state), (table.c.shop_id, shop_id)))
    )


@dataclass(frozen=True)
class OrderRead:
    """One order as an operator sees it: its columns and its lines, oldest first."""

    order: dict[str, Any]  # the order's columns, without ORDER_HIDDEN_COLUMNS
    lines: list[AnyRow]  # without LINE_SECRET_COLUMNS


def order(conn: Connection, order_pk: int) -> OrderRead:
    """An order and its lines; NotFound if it is missing."""
    table, lines = t.ORDERS, t.FULFILMENTS
    found = conn.execute(
        select(*shown(table, ORDER_HIDDEN_COLUMNS)).where(table.c.id == order_pk)
    ).one_or_none()
    if found is None:
        raise NotFound(f"no order {order_pk}")
    statement = (
        select(*shown(lines, LINE_SECRET_COLUMNS))
        .where(lines.c.order_pk == order_pk)
        .order_by(lines.c.id)
    )
    return OrderRead(record(found), list(conn.execute(statement)))


def order_copy(conn: Connection, order_pk: int) -> str | None:
    """The order's encrypted copy (its customer's name is in it), None without one."""
    table = t.ORDERS
    token = conn.execute(select(table.c.snapshot_enc).where(table.c.id == order_pk)).scalar()
    return str(token) if token else None


def alerts(conn: Connection) -> list[AnyRow]:
    """Every alert, the one seen most recently first."""
    table = t.ALERTS
    statement = select(table).order_by(table.c.last_seen_at.desc(), table.c.id.desc())
    return list(conn.execute(statement))


@dataclass(frozen=True)
class StockRead:
    """The stock sync's pending request and lease, and its latest runs, newest first."""

    control: AnyRow | None
    runs: list[AnyRow]


def stock_status(conn: Connection, limit: int = 10) -> StockRead:
    control, runs = t.STOCK_SYNC_CONTROL, t.STOCK_SYNC_RUNS
    found = conn.execute(select(control).where(control.c.id == STOCK_CONTROL_ID)).one_or_none()
    latest = select(runs).order_by(runs.c.id.desc()).limit(limit)
    return StockRead(found, list(conn.execute(latest)))


@dataclass(frozen=True)
class ChoiceRead:
    """A choice with what its variation as a whole says (mappings/repository.py's
    ChoiceView): its name, and whether it is enabled."""

    choice: AnyRow
    name: str | None
    mapping_enabled: bool

    @property
    def active(self) -> bool:
        """Bought and synced: the choice and its mapping are both enabled."""
        return bool(self.choice.enabled) and self.mapping_enabled


def choices(
    conn: Connection,
    *,
    shop_id: str | None = None,
    supplier_name: str | None = None,
    variation_id: str | None = None,
    disabled: bool = False,
) -> list[ChoiceRead]:
    """Choices by shop, variation and priority (the order they are tried in). ``disabled``:
    only those not in use, because the choice or its whole mapping is disabled."""
    table, header = t.MAPPINGS, t.MAPPING_VARIATIONS
    statement = select(table).order_by(
        table.c.shop_id, table.c.variation_id, table.c.priority, table.c.id
    )
    statement = narrowed(
        statement,
        (table.c.shop_id, shop_id),
        (table.c.supplier_name, supplier_name),
        (table.c.variation_id, variation_id),
    )
    headers = narrowed(
        select(header.c.shop_id, header.c.variation_id, header.c.name, header.c.enabled),
        (header.c.shop_id, shop_id),
        (header.c.variation_id, variation_id),
    )
    # Read apart, not joined: each choice stays a row of the mapping's own columns (its record
    # is the model's), and there is at most one header per variation listed.
    named = {(h.shop_id, h.variation_id): h for h in conn.execute(headers)}
    views = []
    for row in conn.execute(statement):
        found = named.get((row.shop_id, row.variation_id))
        views.append(
            ChoiceRead(row, found.name if found else None, bool(found.enabled) if found else True)
        )
    return [view for view in views if not view.active] if disabled else views


def mapping_changes(
    conn: Connection,
    *,
    shop_id: str | None = None,
    variation_id: str | None = None,
    choice_id: int | None = None,
    actor: str | None = None,
    limit: int | None = 50,
) -> list[AnyRow]:
    """The mappings' audit trail, newest first, narrowed by what is given (as
    ``mappings.audit.history``)."""
    table = t.MAPPING_AUDIT
    statement = narrowed(
        select(table).order_by(table.c.id.desc()).limit(limit),
        (table.c.shop_id, shop_id),
        (table.c.variation_id, variation_id),
        (table.c.choice_id, choice_id),
        (table.c.actor, actor),
    )
    return list(conn.execute(statement))


def console_users(conn: Connection) -> list[AnyRow]:
    """The console's users by name, without their password hashes."""
    table = t.CONSOLE_USERS
    statement = select(*shown(table, {"password_hash"})).order_by(table.c.username)
    return list(conn.execute(statement))


def console_audit(conn: Connection, fulfilment_id: int | None, limit: int) -> list[AnyRow]:
    """The newest ``limit`` rows of the console's audit, optionally of one line only."""
    table = t.CONSOLE_AUDIT
    statement = select(table).order_by(table.c.id.desc()).limit(limit)
    return list(conn.execute(narrowed(statement, (table.c.fulfilment_id, fulfilment_id))))
