"""The list and show commands import only what reading the database needs.

Ops run these all day, and an import is paid by every run (issue 22: `shops list` spent half its
0.9 s importing the supplier client, Redis and the budget it never used, and SQLAlchemy was half
of what was left). Timing is left to `tests/bench/cli_startup.py`; this guard checks the import
graph, which does not depend on how loaded the machine is: each command runs in one fresh
process on a migrated SQLite database with a row of each kind, and none of them brings in a
module below.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.bench import cli_startup
from tests.cli.test_reads import MODEL_MODULES
from tests.conftest import clean_environment

ROOT = Path(__file__).resolve().parents[2]
# The order that failed on its shop's key, added beside cli_startup's seed.
FAILED_ORDER = 2

# What a read of the database on SQLite never needs: the HTTP clients, Redis and the queue,
# the web stack, alembic (the database is at HEAD: the schema check is one read), the supplier
# client and budget, psycopg, SQLAlchemy (the reads are SQL text sent through sqlite3:
# bridge/cli/driver.py), and the ORM: sqlmodel and the models.
HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    *MODEL_MODULES,
    "httpx",
    "redis",
    "dramatiq",
    "starlette",
    "uvicorn",
    "alembic",
    "bridge.supplier.client",
    "bridge.supplier.budget",
    "psycopg",
)

# Each command and a text its output must show, so the guard sees the command really read.
# The lists come first: none of them opens a secret (no decryption library), while the show
# commands decrypt the customer's name.
READS = (
    (("shops", "list"), "1,2,3,8"),  # shop 4's default trigger statuses
    (("suppliers", "list"), "caoshop"),
    (("mappings", "list"), "v-1"),
    (("mappings", "history"), "max_cost: 95000 -> 99.5"),  # an amount's change, as typed
    (("mappings", "unmapped"), "Canva"),
    (("fulfilments", "list"), "pending"),
    (("orders", "list"), "1001"),
    (("alerts", "list"), "(none)"),
    (("stock", "status"), "automatic stock sync"),
    (("admin", "list-users"), "(none)"),
    (("admin", "audit"), "(none)"),
    (("fulfilments", "show", "1"), "Netflix 1 month"),
    (("orders", "show", "1"), "1001"),
    (("mappings", "show", "--variation", "v-1"), "max_cost: 95000 -> 99.5"),
    # A failed order's next step reads why it failed (the vocabulary is in bridge.states).
    (("orders", "show", str(FAILED_ORDER)), "shops add 4"),
)
SECRETS = ("cryptography",)

# Runs the commands one after another in this one process (sys.modules only grows, so a module
# absent after the last one was imported by none) and reports after each.
PROBE = """
import json, sys
from bridge.cli import main
heavy, reads = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for args in reads:
    print(f"=== {' '.join(args)}", flush=True)
    code = main(args)
    found = [m for m in heavy if m in sys.modules]
    print(f"=== {json.dumps({'code': code, 'heavy': found})}", flush=True)
"""


def add_rows(database_url: str) -> None:
    """Beside cli_startup's seed: an order intake ended ``failed`` on a key Pancake refused, a
    line of order 1001 no mapping serves, and a change of the mapping's max cost (an amount,
    which the trail prints as typed). This process may import the models: only the probe's
    imports are checked."""
    from bridge.db import make_engine, session_scope
    from bridge.models import Fulfilment, Order
    from bridge.states import FulfilmentState, OrderFailure, OrderState
    from mappings.models import MappingChange

    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            order = Order(
                shop_id="4",
                order_id="1002",
                state=OrderState.FAILED,
                failure_kind=OrderFailure.PANCAKE_KEY,
                item_count=1,
            )
            session.add(order)
            session.flush()
            assert order.id == FAILED_ORDER
            session.add(
                Fulfilment(
                    order_pk=1,
                    shop_id="4",
                    order_id="1001",
                    line_key="v-2",
                    variation_id="v-2",
                    item_name="Canva",
                    quantity=1,
                    state=FulfilmentState.NEEDS_ATTENTION,
                )
            )
            session.add(
                MappingChange(
                    actor="cli",
                    action="edit",
                    shop_id="4",
                    variation_id="v-1",
                    choice_id=1,
                    before={"max_cost": 95000.0},
                    after={"max_cost": 99.5},
                )
            )
    finally:
        engine.dispose()


def test_list_and_show_commands_import_nothing_heavy(tmp_path: Path) -> None:
    env = clean_environment()
    env["BRIDGE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'bridge.db'}"
    env["BRIDGE_SECRET_KEY"] = cli_startup.SECRET_KEY
    cli_startup.prepare(env)  # migrates, then a shop, a supplier, a mapping, an order's line
    add_rows(env["BRIDGE_DATABASE_URL"])
    # One process for all of them keeps the test cheap: a command run on its own imports the
    # same modules or fewer.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            json.dumps(HEAVY + SECRETS),
            json.dumps([r[0] for r in READS]),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    sections = result.stdout.split("=== ")[1:]
    assert len(sections) == 2 * len(READS), result.stdout + result.stderr
    for index, (args, shown) in enumerate(READS):
        command = " ".join(args)
        title, _, printed = sections[2 * index].partition("\n")
        report = json.loads(sections[2 * index + 1])
        assert title == command
        assert report["code"] == 0, f"{command}: exit {report['code']}\n{result.stderr}"
        assert shown in printed, f"{command} printed:\n{printed}"
        # A show command decrypts the customer's name; only the lists must not.
        allowed = SECRETS if args[1] == "show" else ()
        heavy = [module for module in report["heavy"] if module not in allowed]
        assert heavy == [], f"{command} imported {heavy}"
