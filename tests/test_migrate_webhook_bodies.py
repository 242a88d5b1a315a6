"""Migration 0012: the webhook bodies older releases kept are gone, from the table and the file."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, text

from bridge import migrate

EVENTS = 200
ECHOED_NOTE = "Account: u1@plan319.example | Pass: kept-in-clear-by-0011"


def test_upgrading_drops_the_bodies_and_leaves_no_trace_in_the_sqlite_file(
    empty_url: str, tmp_path: Path
) -> None:
    config = migrate.alembic_config(empty_url)
    command.upgrade(config, "0011")
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO webhook_events (shop_id, kind, order_id, order_status, body_hash,"
                    " body, outcome, received_at) VALUES ('4', 'orders', :id, 1, :id, :body,"
                    " 'known', CURRENT_TIMESTAMP)"
                ),
                # Enough rows to fill many pages: freed pages the new table does not reuse.
                [
                    {"id": str(n), "body": json.dumps({"note": ECHOED_NOTE, "pad": "x" * 2000})}
                    for n in range(EVENTS)
                ],
            )

        command.upgrade(config, "head")

        with engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("webhook_events")}
            kept = conn.execute(text("SELECT order_id, outcome FROM webhook_events")).all()
    finally:
        engine.dispose()
    assert "body" not in columns
    assert sorted(tuple(row) for row in kept) == sorted((str(n), "known") for n in range(EVENTS))
    for path in tmp_path.rglob("*"):
        assert ECHOED_NOTE.encode() not in path.read_bytes(), path.name
