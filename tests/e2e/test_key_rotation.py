"""Rotating ``BRIDGE_SECRET_KEY`` without downtime: the bridge restarted with the new key and the
old one as ``BRIDGE_SECRET_KEY_PREVIOUS`` reads what the old key wrote; ``bridge secrets rotate``
runs while orders flow; afterwards every stored secret, delivered credentials included, opens
with the new key alone, and the old key no longer opens the database."""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from bridge.dev.sandbox import Sandbox
from bridge.errors import SecretKeyMismatch
from bridge.secrets import SecretBox, _encrypted_columns, prove_key
from tests.conftest import bridge_cli, clean_environment, fast_settings, migrated_sqlite_url
from tests.e2e.world import CANVA, NETFLIX, all_credentials, build_world


def run_order(sandbox: Sandbox) -> list[str]:
    """One order from webhook to note; the credentials the suppliers handed out for it."""
    before = set(all_credentials(sandbox))
    order = sandbox.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 1}]
    )
    # Waited for in the note: the second sandbox's order ids repeat the first one's.
    sandbox.wait_for(
        lambda: (
            len(set(all_credentials(sandbox)) - before) == 2
            and all(c in sandbox.note(order) for c in set(all_credentials(sandbox)) - before)
        ),
        what="both credentials in the note",
    )
    return sorted(set(all_credentials(sandbox)) - before)


def stored(database_url: str, box: SecretBox) -> list[str]:
    """Every encrypted value of every table, opened with ``box`` (raises for one it cannot)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return [
                box.decrypt(str(token))
                for table, column in _encrypted_columns(conn)
                for (token,) in conn.execute(select(column).where(column.is_not(None)))
                if token
            ]
    finally:
        engine.dispose()


def test_rotation_while_orders_flow_then_the_old_key_can_go(tmp_path: Path) -> None:
    database_url = migrated_sqlite_url(tmp_path)
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)

    first = build_world(Sandbox(fast_settings(database_url), secret_key=old)).start()
    try:
        before_rotation = run_order(first)
    finally:
        first.stop()

    # Every process restarts with the new key, the old one still accepted for reading. (A
    # second shop: this Pancake simulator numbers its orders from 1 again.)
    both = fast_settings(database_url, secret_key_previous=old)
    second = build_world(Sandbox(both, secret_key=new, shop_id="5")).start()
    try:
        env = clean_environment() | {
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_SECRET_KEY": new,
            "BRIDGE_SECRET_KEY_PREVIOUS": old,
        }
        rotation = subprocess.Popen(
            bridge_cli("secrets", "rotate"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        during_rotation = run_order(second)  # the bridge keeps working meanwhile
        out, err = rotation.communicate(timeout=120)
        assert rotation.returncode == 0, out + err
        after_rotation = run_order(second)
    finally:
        second.stop()

    alone = SecretBox(new)
    opened = stored(database_url, alone)  # raises if anything was left under the old key
    for credential in [*before_rotation, *during_rotation, *after_rotation]:
        assert any(credential in value for value in opened), "every credential stays readable"
    engine = create_engine(database_url)
    try:
        prove_key(engine, alone)
        with pytest.raises(SecretKeyMismatch):
            prove_key(engine, SecretBox(old))
    finally:
        engine.dispose()
