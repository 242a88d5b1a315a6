"""The list and show commands read without the models (bridge/cli/read_tables.py,
bridge/cli/reads.py): their tables must stay the models' tables, and what they read must be what
the models read.

The models are the one source: a table here that falls behind a model fails with the
declaration to paste into bridge/cli/read_tables.py.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from sqlalchemy import MetaData, String, Table, select
from sqlalchemy.types import TypeEngine
from sqlmodel import Session, SQLModel
from sqlmodel import select as model_select
from sqlmodel.sql.sqltypes import AutoString

from bridge.cli import read_tables, reads
from bridge.db import READ_ONLY, make_engine
from tests.bench import cli_startup
from tests.conftest import Backend, clean_environment

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
READ_TABLES = sorted(read_tables.METADATA.tables)


def model_metadata() -> MetaData:
    for module in MODEL_MODULES:
        importlib.import_module(module)
    return SQLModel.metadata


def read_type(column_type: TypeEngine[Any]) -> type[TypeEngine[Any]]:
    """The type the read path declares for a model column's type (AutoString's DDL aside, it
    is a String)."""
    return String if isinstance(column_type, AutoString) else type(column_type)


def shape(table: Table) -> list[tuple[str, str, bool]]:
    return [(c.name, read_type(c.type).__name__, c.primary_key) for c in table.columns]


def declaration(table: Table) -> str:
    """The model table as bridge/cli/read_tables.py declares it."""
    columns = "".join(
        f'    Column("{name}", {kind}{", primary_key=True" if key else ""}),\n'
        for name, kind, key in shape(table)
    )
    return f'{table.name.upper()} = Table(\n    "{table.name}",\n    METADATA,\n{columns})\n'


@pytest.mark.parametrize("name", READ_TABLES)
def test_each_read_table_is_its_models_table(name: str) -> None:
    model = model_metadata().tables[name]
    ours = read_tables.METADATA.tables[name]
    assert shape(ours) == shape(model), (
        f"bridge/cli/read_tables.py's {name} is not the model's; declare it as:\n"
        + declaration(model)
    )
    assert getattr(read_tables, name.upper()) is ours


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
# table has a row with values in its columns of each type (times, JSON, booleans, floats).
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
INSERT INTO mapping_audit (at, actor, action, shop_id, variation_id, choice_id, "before", "after")
  VALUES ('2026-12-07 07:00:00.000000', 'cli', 'edit', '4', 'v-1', 1, '{"units": 1}',
  '{"units": 2}');
UPDATE mapping_variations SET enabled = FALSE, name = 'Netflix';
UPDATE fulfilments SET credentials_enc = 'token', delivered_count = 2;
"""


def test_each_read_gives_what_the_model_gave(backend: Backend) -> None:
    """Row by row, on SQLite and PostgreSQL, a Core read of each table equals the model's
    ``model_dump``: the same keys and the same values, so `--json` prints the same record."""
    database_url = backend.database_url
    env = clean_environment()
    env["BRIDGE_DATABASE_URL"] = database_url
    env["BRIDGE_SECRET_KEY"] = cli_startup.SECRET_KEY
    cli_startup.prepare(env)  # migrates, then a shop, a supplier, a mapping, an order's line
    models, model_tables = models_by_table(), model_metadata().tables
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            for sql in filter(str.strip, MORE_ROWS.split(";")):
                conn.exec_driver_sql(sql)
        with Session(engine) as session:
            # One read-only connection for both, as the commands read (no write lock).
            conn = session.connection(execution_options={READ_ONLY: True})
            for name in READ_TABLES:
                table = read_tables.METADATA.tables[name]
                keys = [column.name for column in table.primary_key.columns]
                ours = conn.execute(select(table).order_by(*(table.c[k] for k in keys)))
                model_order = (model_tables[name].c[k] for k in keys)
                statement = model_select(models[name]).order_by(*model_order)
                theirs = [row.model_dump() for row in session.exec(statement)]
                assert theirs, f"{name}: no row to compare"
                assert [reads.record(row) for row in ours] == theirs, name
    finally:
        engine.dispose()
