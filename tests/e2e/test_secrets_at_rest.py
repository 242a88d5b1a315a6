"""No secret at rest in clear: after a whole run, no table, database file or log holds one.

The run: an order webhook, two purchases, the credentials written into the note, Pancake's echo
of that note (which carries them) sent back to the bridge, and the stock sync with its own
echoes. Then every column of every table, every file in the run's folder (the SQLite database
with its WAL, the log) is searched for every credential, key and secret the simulators and the
sandbox handed out.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, inspect, select, table, text
from sqlmodel import select as sqlmodel_select

from bridge.db import session_scope
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET
from bridge.logs import LogFormat, handler_for, protect_library_loggers
from bridge.models import Fulfilment, Order
from bridge.secrets import SecretBox
from bridge.states import FulfilmentState
from mappings.audit import SYSTEM
from mappings.commands import edit_choice
from mappings.models import MappingChoice
from tests.conftest import Backend
from tests.e2e.world import CANVA, NETFLIX, all_credentials, build_world
from tests.workers.stock.conftest import SECRET_KEY, quantity, stock_sandbox
from workers.fulfilment.models import WebhookEvent

CUSTOMER_EMAIL = "khach.hang@example.com"


@contextmanager
def logging_to(folder: Path) -> Iterator[None]:
    """Everything logged, at every level (the HTTP libraries' DEBUG lines too), into
    ``bridge.log`` (text) and ``bridge.jsonl`` (JSON), by the handlers `bridge run` uses."""
    files = [open(folder / name, "w", encoding="utf-8") for name in ("bridge.log", "bridge.jsonl")]
    handlers = [handler_for(files[0], LogFormat.TEXT), handler_for(files[1], LogFormat.JSON)]
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in ("", "httpx", "httpcore")}
    for handler in handlers:
        root.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    protect_library_loggers()
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        for file in files:
            file.close()


def run_everything(sandbox: Sandbox) -> str:
    # The standard world sells Canva below its plan price; with the stock sync reading prices,
    # the bridge would refuse the sale (max cost): this run is about secrets, so it allows it.
    with session_scope(sandbox.runtime.engine) as session:
        [choice] = session.exec(
            sqlmodel_select(MappingChoice).where(MappingChoice.variation_id == CANVA)
        ).all()
        assert choice.id is not None
        edit_choice(session, choice.id, actor=SYSTEM, max_cost=150_000)
    order_id = sandbox.place_order(
        [{"variation_id": NETFLIX, "quantity": 2}, {"variation_id": CANVA, "quantity": 1}],
        bill_email=CUSTOMER_EMAIL,
    )
    lines = sandbox.wait_settled(order_id, lines=2)
    assert [line.state for line in lines] == [FulfilmentState.ANNOTATED] * 2
    credentials = all_credentials(sandbox)
    assert len(credentials) == 3
    assert all(c in sandbox.note(order_id) for c in credentials)
    sandbox.wait_for(lambda: quantity(sandbox, NETFLIX) == 48, what="the stock sync's push")
    assert sandbox.pancake.wait_idle(), "the echoes of the note and the stock were sent"
    return order_id


def events(sandbox: Sandbox, order_id: str) -> list[tuple[str, str]]:
    with sandbox.runtime.engine.connect() as conn:
        statement = select(WebhookEvent.kind, WebhookEvent.outcome).where(  # type: ignore[call-overload]
            (WebhookEvent.order_id == order_id) | (WebhookEvent.kind == "variations_warehouses")
        )
        return [tuple(row) for row in conn.execute(statement)]


def stored_encrypted(sandbox: Sandbox, order_id: str) -> tuple[str, str]:
    """The credentials and the order snapshot, decrypted: they are kept, under the key."""
    box = SecretBox(SECRET_KEY)
    with sandbox.runtime.engine.connect() as conn:
        credentials = conn.execute(
            select(Fulfilment.credentials_enc).where(Fulfilment.order_id == order_id)  # type: ignore[call-overload]
        ).scalars()
        snapshot = conn.execute(
            select(Order.snapshot_enc).where(Order.order_id == order_id)  # type: ignore[call-overload]
        ).scalar_one()
        return "".join(box.decrypt(c) for c in credentials), box.decrypt(snapshot)


def secrets_handed_out(sandbox: Sandbox) -> set[str]:
    credentials = all_credentials(sandbox)
    passwords = {c.rsplit("Pass: ", 1)[1] for c in credentials}
    keys = {DEMO_API_KEY, DEMO_API_SECRET, PANCAKE_API_KEY, sandbox.webhook_secret, SECRET_KEY}
    return set(credentials) | passwords | keys


def every_value(database_url: str) -> Iterator[tuple[str, str]]:
    """(table.column, value as text) for every column of every row of every table."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            for name in inspect(conn).get_table_names():
                for row in conn.execute(select(text("*")).select_from(table(name))).mappings():
                    for column, value in row.items():
                        yield f"{name}.{column}", str(value)
    finally:
        engine.dispose()


def test_no_credential_key_or_secret_is_left_in_clear_anywhere(
    backend: Backend, tmp_path: Path
) -> None:
    run_dir = tmp_path  # the SQLite backend keeps its database here too
    with logging_to(run_dir):
        sandbox = build_world(stock_sandbox(backend)).start()
        try:
            order_id = run_everything(sandbox)
            found = events(sandbox, order_id)
            credentials, snapshot = stored_encrypted(sandbox, order_id)
        finally:
            sandbox.stop()
    secrets = secrets_handed_out(sandbox)

    sent = [
        d.result for d in sandbox.pancake.deliveries if (d.type, d.ref_id) == ("orders", order_id)
    ]
    # Created, confirmed, then the echo of each note update, which carries the credentials.
    assert len(sent) >= 3
    assert set(sent) == {200}
    assert len([kind for kind, _ in found if kind == "orders"]) >= 3, "each one recorded"
    assert ("variations_warehouses", "stock:ours") in found, "and the stock echo"
    assert all(c in credentials for c in all_credentials(sandbox))
    assert CUSTOMER_EMAIL in snapshot
    in_tables = [
        (where, s)
        for where, value in every_value(backend.database_url)
        for s in secrets
        if s in value
    ]
    assert in_tables == []
    files = sorted(p for p in run_dir.rglob("*") if p.is_file())
    assert any(p.name == "bridge.log" and p.stat().st_size > 0 for p in files)
    logged = [json.loads(line) for line in (run_dir / "bridge.jsonl").read_text().splitlines()]
    assert any(e.get("fulfilment_id") for e in logged), "worker steps bind their line"
    assert any(e.get("request_id") for e in logged), "web requests bind their id"
    in_files = [(p.name, s) for p in files for s in secrets if s.encode() in p.read_bytes()]
    assert in_files == []
