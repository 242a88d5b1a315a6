"""BRIDGE_SECRET_KEY: weak keys are refused, a wrong key stops every start, a previous key reads.

The key check lives in the database (``secret_key_check``), so the start-up tests run on SQLite
and on PostgreSQL alike, and look at the rows themselves.
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine, text

from bridge.db import session_scope
from bridge.errors import SecretKeyMismatch, SettingsError
from bridge.pancake import shops
from bridge.runtime.wiring import Runtime
from bridge.secrets import CHECK_MARKER, KeyProof, SecretBox, rotate_stored_secrets
from bridge.settings import Settings
from tests.conftest import bridge_cli, clean_environment, fast_settings

ROOT = Path(__file__).resolve().parents[1]
GOOD_KEY_HINT = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


@pytest.fixture
def database_url(empty_url: str) -> str:
    """Each backend, empty: the first start stores the key's check."""
    return empty_url


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql))]
    finally:
        engine.dispose()


def by_shop(url: str, column: str) -> dict[str, str]:
    found = rows(url, f"SELECT shop_id, {column} FROM pancake_shops")
    return {str(shop): str(value) for shop, value in found}


def start(url: str, key: str, *, previous: str | None = None) -> Runtime:
    settings = fast_settings(url)
    if previous is not None:
        settings = settings.model_copy(update={"secret_key_previous": SecretStr(previous)})
    return Runtime(settings, secret_key=key)


def proof(url: str, key: str, *, previous: str | None = None) -> KeyProof:
    """How ``key`` proves at a start (the runtime is stopped again at once)."""
    runtime = start(url, key, previous=previous)
    runtime.stop()
    return runtime.key_proof


def add_shop(runtime: Runtime, shop_id: str, api_key: str, webhook_secret: str) -> None:
    with session_scope(runtime.engine) as session:
        shops.add_shop(
            session, runtime.box, shop_id, api_key=api_key, webhook_secret=webhook_secret
        )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("changeme", "placeholder"),
        ("your-secret-key-here", "placeholder"),
        ("Your_Secret_Key_Here", "placeholder"),
        ("changeme-changeme-changeme-changeme", "placeholder"),
        ("a" * 40, "repeats characters"),
        ("0" * 40, "repeats characters"),
        ("ab" * 30, "repeats characters"),
        ("short-key", "too weak"),
        ("Xk9#mP2qL7vR4tZ1", "too weak"),  # every class, but 16 characters hold ~105 bits
        ("correcthorsebattery", "too weak"),
    ],
)
def test_weak_keys_are_refused_with_one_sentence_that_says_how_to_make_one(
    value: str | None, why: str
) -> None:
    settings = Settings(secret_key=SecretStr(value) if value is not None else None)
    with pytest.raises(SettingsError) as caught:
        settings.require_secret_key()
    message = str(caught.value)
    assert why in message
    assert message.startswith("BRIDGE_SECRET_KEY ")
    assert GOOD_KEY_HINT in message
    assert "\n" not in message
    if value:
        assert value not in message, "the refused key is never echoed"


@pytest.mark.parametrize(
    "value",
    [
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(16),
        secrets.token_hex(16),
        "a-test-secret-key-that-is-long-enough",  # the tests' own keys stay usable
        "stock-tests-secret-key-0123456789",
    ],
)
def test_random_keys_are_accepted(value: str) -> None:
    assert Settings(secret_key=SecretStr(value)).require_secret_key() == value


def test_a_weak_key_stops_a_command_before_the_database_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "bridge.db"
    env = clean_environment()
    env.update({"BRIDGE_DATABASE_URL": f"sqlite:///{db}", "BRIDGE_SECRET_KEY": "0" * 32})
    result = subprocess.run(
        bridge_cli("worker"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: BRIDGE_SECRET_KEY repeats characters")
    assert result.stderr.count("\n") == 1, result.stderr
    assert not db.exists()


def test_the_first_start_stores_a_check_and_a_wrong_key_is_refused_at_the_next(
    database_url: str,
) -> None:
    key, wrong = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    runtime = start(database_url, key)
    assert runtime.key_proof is KeyProof.NEW
    add_shop(runtime, "4", "pk-live-123", "w" * 24)
    runtime.stop()
    [(token,)] = rows(database_url, "SELECT marker_enc FROM secret_key_check")
    assert SecretBox(key).decrypt(str(token)) == CHECK_MARKER
    assert CHECK_MARKER not in str(token)

    assert proof(database_url, key) is KeyProof.CURRENT
    with pytest.raises(SecretKeyMismatch) as caught:
        proof(database_url, wrong)
    assert "BRIDGE_SECRET_KEY_PREVIOUS" in str(caught.value)
    assert "\n" not in str(caught.value)
    assert len(rows(database_url, "SELECT id FROM secret_key_check")) == 1


def test_a_database_from_before_the_check_proves_the_key_against_its_stored_secrets(
    database_url: str,
) -> None:
    key, wrong = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    runtime = start(database_url, key)
    add_shop(runtime, "4", "pk-live-123", "w" * 24)
    runtime.stop()
    engine = create_engine(database_url)
    with engine.begin() as conn:  # as a database migrated from 0010 finds itself
        conn.execute(text("DELETE FROM secret_key_check"))
    engine.dispose()

    with pytest.raises(SecretKeyMismatch):
        proof(database_url, wrong)
    assert rows(database_url, "SELECT id FROM secret_key_check") == [], "no wrong check stored"
    assert proof(database_url, key) is KeyProof.CURRENT
    assert len(rows(database_url, "SELECT id FROM secret_key_check")) == 1


def test_a_wrong_key_stops_the_worker_with_one_sentence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    start(url, secrets.token_urlsafe(32)).stop()
    env = clean_environment()
    env.update({"BRIDGE_DATABASE_URL": url, "BRIDGE_SECRET_KEY": secrets.token_urlsafe(32)})
    for command in (["worker"], ["serve"], ["run"], ["secrets", "rotate"]):
        result = subprocess.run(
            bridge_cli(*command),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.startswith(
            "error: BRIDGE_SECRET_KEY is not the key this database's secrets were stored with"
        ), (command, result.stderr)
        assert "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1


def test_a_previous_key_reads_new_writes_use_the_new_key_and_rotate_moves_everything(
    database_url: str,
) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    runtime = start(database_url, old)
    add_shop(runtime, "4", "pk-old-shop", "webhook-secret-of-shop-4")
    runtime.stop()

    runtime = start(database_url, new, previous=old)
    assert runtime.key_proof is KeyProof.PREVIOUS
    add_shop(runtime, "5", "pk-new-shop", "webhook-secret-of-shop-5")
    tokens = by_shop(database_url, "api_key_enc")
    assert SecretBox(new).decrypt(tokens["5"]) == "pk-new-shop", "new writes: new key"
    assert runtime.box.decrypt(tokens["4"]) == "pk-old-shop", "old rows still read"
    digests = by_shop(database_url, "webhook_secret_digest")
    assert runtime.box.matches("webhook-secret-of-shop-4", digests["4"])
    assert not runtime.box.matches("webhook-secret-of-shop-5", digests["4"])

    assert rotate_stored_secrets(runtime.engine, runtime.box) == 2  # shop 4's key, the check
    assert rotate_stored_secrets(runtime.engine, runtime.box) == 0, "a second run is a no-op"
    runtime.stop()
    alone = SecretBox(new)
    for (token,) in rows(database_url, "SELECT api_key_enc FROM pancake_shops"):
        assert alone.decrypt(str(token)).startswith("pk-")
    assert proof(database_url, new) is KeyProof.CURRENT
    with pytest.raises(SecretKeyMismatch):
        proof(database_url, old)
