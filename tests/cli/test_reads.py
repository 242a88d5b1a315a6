"""The list and show commands read through the database driver, with SQL text
(bridge/cli/driver.py, bridge/cli/reads.py): what they read must be what the models read.

Each read is compared with the ORM query the service and the console make for the same rows, on
SQLite and PostgreSQL: the same keys in a record, the same values (aware UTC datetimes, decoded
JSON, booleans, floats, NULLs).
"""

from __future__ import annotations

import dataclasses
import importlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, Table
from sqlalchemy.engine import create_engine, make_url
from sqlmodel import Session, SQLModel
from sqlmodel import select as model_select

from bridge.cli import driver, reads
from bridge.cli.driver import Reader
from bridge.db import make_engine
from bridge.errors import BridgeError, SettingsError
from mappings import audit, repository
from mappings.repository import resolve_target
from tests.bench import cli_startup
from tests.conftest import Backend, clean_environment, fast_settings

# Every room's models, as the migrations read them (bridge/migrations/env.py).
MODEL_MODULES = (
    "bridge.models",
    "bridge.pancake.models",
    "bridge.supplier.models",
    "bridge.web.console.models",
    "mappings.models",
    "workers.alerts.models",
    "workers.fulfilment.models",
    "workers.queue.models",
    "workers.stock.models",
    "workers.suppliers.models",
)
READ_TABLES = sorted(reads.COLUMNS)


def model_metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return SQLModel.metadata


@pytest.mark.parametrize("name", READ_TABLES)
def test_each_table_is_read_in_its_models_column_order(name: str) -> None:
    model = [column.name for column in model_metadata().tables[name].columns]
    assert list(reads.COLUMNS[name]) == model, (
        f"bridge/cli/reads.py's COLUMNS[{name!r}] is not the model's; write it as:\n"
        + " ".join(model)
    )


def test_the_columns_never_shown_are_the_rooms_own() -> None:
    from workers.fulfilment import queries

    assert reads.LINE_SECRET_COLUMNS == queries.SECRET_COLUMNS


def models_by_table() -> dict[str, type[SQLModel]]:
    model_metadata()
    found: dict[str, type[SQLModel]] = {}
    pending = list(SQLModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if isinstance(table, Table):
            found[table.name] = cls
    return found


# Rows of the tables the seed of tests/bench/cli_startup.py leaves empty, so that every read
# table has a row with values in its columns of each type (times, JSON, booleans, floats), and
# the mappings' reads have something of each case: a disabled, named mapping; a purchase with
# a quantity split; lines no mapping serves, in two shops; a change of an amount.
MORE_ROWS = """
INSERT INTO console_users (username, password_hash, created_at, password_set_at)
  VALUES ('alice', 'hash', '2026-12-07 10:00:00.000000', '2026-12-07 10:00:00.000000');
INSERT INTO console_audit (username, action, fulfilment_id, address, at, order_pk)
  VALUES ('alice', 'reveal', 1, '127.0.0.1', '2026-12-07 10:00:00.000000', 1);
INSERT INTO alerts (kind, subject, message, count, resolved, created_at, last_seen_at,
  announced_to, send_failures, last_send_error)
  VALUES ('balance', 'caoshop', 'low', 2, FALSE, '2026-12-07 09:00:00.000000',
  '2026-12-07 09:30:00.000000', '', 1, 'boom');
INSERT INTO stock_sync_runs ("trigger", started_at, finished_at, variations, changed, skipped,
  supplier_calls, pancake_calls, errors)
  VALUES ('manual', '2026-12-07 08:00:00', '2026-12-07 08:00:03.500000', 10, 2, 1, 3, 1, 'e');
INSERT INTO stock_sync_control (id, requested_at, "trigger", spacing_seconds, failures)
  VALUES (1, '2026-12-07 08:10:00.000000', 'webhook', 30.5, 0);
INSERT INTO shop_catchups (shop_id, caught_up_until, last_error)
  VALUES ('4', '2026-12-07 07:00:00.000000', 'slow');
INSERT INTO purchase_attempts (fulfilment_id, supplier_name, plan_id, quantity, outcome,
  trans_id, started_at, amount, settlement)
  VALUES (1, 'caoshop', 320, 1, 'unknown', 'PO1', '2026-12-07 07:30:00.000000', 95000.5,
  'adopted');
INSERT INTO purchase_attempts (fulfilment_id, supplier_name, plan_id, quantity, outcome,
  trans_id, started_at, finished_at, amount)
  VALUES (1, 'caoshop', 320, 1, 'bought', 'T1', '2026-12-07 07:00:00.000000',
  '2026-12-07 07:00:01.000000', 90000.0);
INSERT INTO purchase_attempts (fulfilment_id, supplier_name, plan_id, quantity, outcome,
  trans_id, started_at, amount, part_of)
  VALUES (1, 'caoshop', 320, 1, 'bought', 'T2', '2026-12-07 07:00:00.000000', 5000.5, 2);
INSERT INTO fulfilments (order_pk, shop_id, order_id, line_key, variation_id, item_name,
  quantity, units, state, delivered_count, annotated_count, polls, failures, created_at,
  updated_at)
  VALUES (1, '4', '1001', 'v-2', 'v-2', 'Canva', 2, 1, 'needs_attention', 0, 0, 0, 0,
  '2026-12-06 10:00:00.000000', '2026-12-06 10:00:00.000000');
INSERT INTO fulfilments (order_pk, shop_id, order_id, line_key, variation_id, item_name,
  quantity, units, state, delivered_count, annotated_count, polls, failures, created_at,
  updated_at)
  VALUES (1, '5', '1003', 'v-3', 'v-3', 'Spotify', 1, 1, 'failed', 0, 0, 0, 0,
  '2026-12-05 10:00:00.000000', '2026-12-05 10:00:00.000000');
INSERT INTO mapping_audit (at, actor, action, shop_id, variation_id, choice_id, "before", "after")
  VALUES ('2026-12-07 07:00:00.000000', 'cli', 'edit', '4', 'v-1', 1, '{"units": 1}',
  '{"units": 2}');
INSERT INTO mapping_audit (at, actor, action, shop_id, variation_id, choice_id, "before", "after")
  VALUES ('2026-12-07 07:10:00.000000', 'alice', 'edit', '4', 'v-1', 1,
  '{"max_cost": 95000.0}', '{"max_cost": 99.5}');
UPDATE mapping_variations SET enabled = FALSE, name = 'Netflix';
UPDATE mappings SET max_cost = 95000.0, checked_price = 90000.0,
  checked_at = '2026-12-07 06:00:00.000000', fields_template = '{"email": "{order.bill_email}"}';
UPDATE fulfilments SET credentials_enc = 'token', delivered_count = 2 WHERE id = 1;
"""


@pytest.fixture
def seeded(backend: Backend) -> str:
    """The backend's database with a row of every kind the reads read (see MORE_ROWS)."""
    database_url = backend.database_url
    env = clean_environment()
    env["BRIDGE_DATABASE_URL"] = database_url
    env["BRIDGE_SECRET_KEY"] = cli_startup.SECRET_KEY
    cli_startup.prepare(env)  # migrates, then a shop, a supplier, a mapping, an order's line
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for sql in filter(str.strip, MORE_ROWS.split(";")):
                conn.exec_driver_sql(sql)
    finally:
        engine.dispose()
    return database_url


@pytest.fixture
def both(seeded: str) -> Iterator[tuple[Reader, Session]]:
    """The driver's reader and an ORM session on the same database."""
    engine = make_engine(seeded)
    try:
        with driver.reader(fast_settings(seeded)) as conn, Session(engine) as session:
            yield conn, session
    finally:
        engine.dispose()


def kinds(record: dict[str, Any]) -> dict[str, type]:
    return {key: type(value) for key, value in record.items()}


def test_each_table_reads_as_the_model_dumps_it(both: tuple[Reader, Session]) -> None:
    """Row by row, a read of each table through the driver equals the model's ``model_dump``:
    the same keys and the same values, so `--json` prints the same record."""
    conn, session = both
    models, model_tables = models_by_table(), model_metadata().tables
    for name in READ_TABLES:
        keys = [column.name for column in model_tables[name].primary_key.columns]
        ours = conn.rows(f"SELECT {reads.shown(name)} FROM {name} ORDER BY {', '.join(keys)}")
        statement = model_select(models[name]).order_by(
            *(model_tables[name].c[key] for key in keys)
        )
        theirs = [row.model_dump() for row in session.exec(statement)]
        assert theirs, f"{name}: no row to compare"
        records = [reads.record(row) for row in ours]
        assert records == theirs, name
        # The same Python types too, not only equal values (1 == True == 1.0).
        assert [kinds(record) for record in records] == [kinds(row) for row in theirs], name


def choice_views(views: list[Any], dump: Callable[[Any], dict[str, Any]]) -> list[Any]:
    return [(dump(view.choice), view.name, view.mapping_enabled, view.active) for view in views]


CHOICE_FILTERS: list[dict[str, Any]] = [
    {},
    {"shop_id": "4"},
    {"shop_id": "5"},
    {"supplier_name": "caoshop"},
    {"variation_id": "v-1"},
    {"disabled": True},
    {"shop_id": "4", "variation_id": "v-1", "disabled": True},
]
CHANGE_FILTERS: list[dict[str, Any]] = [
    {},
    {"choice_id": 1},
    {"actor": "alice"},
    {"shop_id": "4", "variation_id": "v-1"},
    {"limit": 1},
    {"limit": None},
    {"shop_id": "5"},
]


def test_choices_and_changes_are_the_repositorys(both: tuple[Reader, Session]) -> None:
    """``mappings list`` and ``history`` read what mappings.repository.list_choices and
    mappings.audit.history (the console's) read, whatever they are narrowed by."""
    conn, session = both
    for given in CHOICE_FILTERS:
        ours = choice_views(reads.choices(conn, **given), reads.record)
        theirs = choice_views(repository.list_choices(session, **given), SQLModel.model_dump)
        assert ours == theirs, given
    for given in CHANGE_FILTERS:
        changes = [reads.record(row) for row in reads.mapping_changes(conn, **given)]
        assert changes == [c.model_dump() for c in audit.history(session, **given)], given


def test_a_mapping_what_it_paid_and_the_unmapped_are_the_repositorys(
    both: tuple[Reader, Session],
) -> None:
    """``mappings show`` and ``unmapped`` read what mappings.repository reads."""
    conn, session = both
    ours, theirs = reads.mapping(conn, "4", "v-1"), repository.get_mapping(session, "4", "v-1")
    assert (ours.shop_id, ours.variation_id, ours.name, ours.enabled) == (
        theirs.shop_id,
        theirs.variation_id,
        theirs.name,
        theirs.enabled,
    )
    assert [reads.record(view.choice) for view in ours.choices] == [
        choice.model_dump() for choice in theirs.choices
    ]
    paid = {
        key: (p.amount, p.items, p.per_item, p.trans_id, p.at)
        for key, p in reads.last_paid(conn, "4", "v-1").items()
    }
    assert paid == {
        key: (p.amount, p.items, p.per_item, p.trans_id, p.at)
        for key, p in repository.last_paid(session, "4", "v-1").items()
    }
    assert paid[("caoshop", 320)][0] == 95000.5, "the split's amount is counted"
    assert reads.last_paid(conn, "5", "v-3") == {}
    assert repository.last_paid(session, "5", "v-3") == {}
    for shop in (None, "4", "5", "6"):
        unmapped = [dataclasses.astuple(row) for row in reads.unmapped(conn, shop)]
        expected = [dataclasses.astuple(row) for row in repository.unmapped(session, shop)]
        assert unmapped == expected, shop
        assert all(row[-1].tzinfo is UTC for row in unmapped), "last seen: aware, UTC"
    assert [row.variation_id for row in reads.unmapped(conn)] == ["v-2", "v-3"]


def outcome(resolve: Callable[..., Any], *args: Any) -> object:
    """What ``resolve(*args)`` returns, or the error it raises (its class, sentence, option)."""
    try:
        return resolve(*args)
    except BridgeError as exc:
        return (type(exc), str(exc), getattr(exc, "param", None))


# --shop, --variation, --choice as `mappings show` is given them.
TARGETS: list[tuple[str | None, str | None, int | None]] = [
    ("4", "v-1", None),
    (None, "v-1", None),
    (None, "v-9", None),
    ("4", None, 1),
    ("5", None, 1),
    (None, None, 9),
    (None, None, None),
    ("4", "v-1", 1),
]


def test_the_target_of_mappings_show_is_resolve_targets(both: tuple[Reader, Session]) -> None:
    """The same mapping or choice, or the same error with the same sentence."""
    conn, session = both
    for shop, variation, choice in TARGETS:
        ours = outcome(reads.mapping_target, conn, shop, variation, choice)
        theirs = outcome(resolve_target, session, shop, variation, choice)
        assert ours == theirs, (shop, variation, choice)


def test_a_variation_two_shops_map_must_be_named_with_its_shop(seeded: str) -> None:
    engine = make_engine(seeded)
    try:
        with engine.begin() as write:  # shop 5 maps v-1 too
            write.exec_driver_sql(
                "INSERT INTO mappings (shop_id, variation_id, supplier_name, plan_id, units, "
                "priority, enabled, stock_sync, created_at) SELECT '5', variation_id, "
                "supplier_name, plan_id, units, priority, enabled, stock_sync, created_at "
                "FROM mappings WHERE id = 1"
            )
        with driver.reader(fast_settings(seeded)) as conn, Session(engine) as session:
            ours = outcome(reads.mapping_target, conn, None, "v-1", None)
            assert ours == outcome(resolve_target, session, None, "v-1", None)
    finally:
        engine.dispose()
    assert "mapped in shops 4, 5" in str(ours)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://us%40er:p%40ss%3Aw%2Fx@127.0.0.1:5433/bridge?sslmode=disable",
        "postgresql://postgres@/bridge",
        "postgresql+psycopg://postgres@[::1]/bridge?application_name=cli",
        "postgresql+psycopg://bridge:@db.internal/b%20ridge",
    ],
)
def test_a_server_url_is_read_as_sqlalchemy_reads_it(url: str) -> None:
    """What psycopg is given is what SQLAlchemy's dialect gives it (user, password with
    %-escapes, host, port, database, options)."""
    engine = create_engine(url)
    try:
        _, theirs = engine.dialect.create_connect_args(make_url(url))
    finally:
        engine.dispose()
    theirs.pop("context", None)
    found = driver.location(url)
    assert found is not None
    assert found.server == theirs


@pytest.mark.parametrize(
    ("url", "read"),
    [
        ("sqlite:////var/lib/bridge/bridge.db", True),
        ("sqlite+pysqlite:///bridge.db", True),
        ("sqlite:///bridge.db?timeout=60", True),  # the service's option; a read sets its own
        ("sqlite:///file:bridge.db?uri=true", False),  # the path is a URI: the driver's reading
        ("sqlite://", False),  # in memory: nothing another process could read
        ("sqlite:///:memory:", False),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", False),
        ("postgres://postgres@127.0.0.1/test", False),
        ("mysql://bridge@127.0.0.1/bridge", False),
        ("not a url", False),
    ],
)
def test_which_urls_the_driver_reads(url: str, read: bool) -> None:
    """A file or a server through the bridge's own drivers; anything else goes the way every
    command goes (bridge.runtime.startup says what is wrong with it)."""
    from bridge.db import sqlite_path

    found = driver.location(url)
    assert (found is not None) == read
    if found is not None and found.path is not None:
        assert found.path == sqlite_path(url)


def test_a_database_not_at_the_newest_schema_is_migrated_before_it_is_read(
    empty_url: str,
) -> None:
    """The first command on a new database goes the way of every command (it migrates, as
    ``auto_migrate`` is on by default), then reads through the driver."""
    from bridge.migrate import HEAD

    with driver.reader(fast_settings(empty_url)) as conn:
        assert conn.scalar("SELECT version_num FROM alembic_version") == HEAD
        assert reads.shops(conn) == []


def test_a_database_only_this_process_sees_is_refused_in_one_sentence() -> None:
    """An in-memory SQLite database opens (and migrates), but a list command cannot read it
    through the driver: it says what it reads instead of failing on a missing table."""
    with (
        pytest.raises(SettingsError, match="read a SQLite file"),
        driver.reader(fast_settings("sqlite://")),
    ):
        pass


def test_a_read_neither_waits_for_nor_blocks_a_writer(tmp_path: Path) -> None:
    """While the service writes (SQLite, WAL), a list command reads at once, one moment of the
    database; the writer commits meanwhile; the reader itself can write nothing."""
    from tests.conftest import migrated_sqlite_url

    url = migrated_sqlite_url(tmp_path)
    writer = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None, timeout=0)
    added = (
        "INSERT INTO console_users (username, password_hash, created_at, password_set_at) "
        "VALUES (?, 'hash', '2026-12-07 10:00:00', '2026-12-07 10:00:00')"
    )
    writer.execute("BEGIN IMMEDIATE")  # the write lock, held
    writer.execute(added, ("early",))
    seen: list[list[str]] = []
    refused: list[str] = []
    done = threading.Event()

    def read() -> None:
        with driver.reader(fast_settings(url)) as conn:
            seen.append([row.username for row in reads.console_users(conn)])
            done.set()
            # Held open (one transaction) until the writer has committed.
            while not committed.is_set():
                committed.wait(0.05)
            seen.append([row.username for row in reads.console_users(conn)])
            try:
                conn.rows("DELETE FROM console_users")
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))

    committed = threading.Event()
    reader = threading.Thread(target=read)
    reader.start()
    try:
        assert done.wait(10), "the read waited for the writer"
        writer.execute("COMMIT")  # timeout=0: fails at once if the reader held a lock
    finally:
        committed.set()
        reader.join(10)
        writer.close()
    assert seen == [[], []], "one moment: what was committed later is not in it"
    assert refused == ["attempt to write a readonly database"]
