"""Encryption at rest for API keys and delivered credentials, keyed hashes for webhook secrets,
and the proof that ``BRIDGE_SECRET_KEY`` is the key the database was written with.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from
``BRIDGE_SECRET_KEY``. Webhook secrets are only ever compared, so they are stored as an HMAC
digest instead: a stolen database cannot replay them against the endpoint.

Rotation: a box holds the current key and any previous ones (``BRIDGE_SECRET_KEY_PREVIOUS``).
It writes with the current key only and reads with each in turn (cryptography's MultiFernet);
``rotate_stored_secrets`` re-encrypts every stored token under the current key.

The key check: the first start stores a Fernet token of a fixed marker (``secret_key_check``);
every later start opens it before doing anything else, so a wrong key stops the process with one
sentence instead of failing every step that decrypts. A database from before the check proves the
key against a secret already stored in it before the check is written.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from bridge.errors import SecretKeyMismatch, SettingsError

# SQLAlchemy is imported by the functions that read the database: `orders show` and
# `fulfilments show` open a box to read a customer's name without it (bridge/cli/driver.py).
if TYPE_CHECKING:
    from cryptography.fernet import Fernet, MultiFernet
    from sqlalchemy import Column, Table
    from sqlalchemy.engine import Connection, Engine

    from bridge.settings import Settings

# What the stored check decrypts to; changing it would refuse every existing database.
CHECK_MARKER = "pancake-bridge secret key check v1"
CHECK_ROW_ID = 1
# Encrypted columns are named ``*_enc`` (bridge.models): the one convention rotation relies on.
ENCRYPTED_SUFFIX = "_enc"
MISMATCH = (
    "BRIDGE_SECRET_KEY is not the key this database's secrets were stored with (nor is "
    "BRIDGE_SECRET_KEY_PREVIOUS, if set): set the key it was created with, or put the old one "
    "in BRIDGE_SECRET_KEY_PREVIOUS and run `bridge secrets rotate`."
)


def _derive(purpose: bytes, secret_key: str) -> bytes:
    return hashlib.sha256(b"pancake-bridge/" + purpose + b"\0" + secret_key.encode()).digest()


class SecretBox:
    """Encrypts with ``secret_key``; decrypts and matches with it, then each of ``previous``."""

    def __init__(self, secret_key: str, *previous: str) -> None:
        # Imported with the first box, not with the module: the list commands import this
        # module (through the shop and supplier queries) and never open a secret.
        from cryptography.fernet import Fernet, MultiFernet

        keys = (secret_key, *previous)
        self._fernets: list[Fernet] = [
            Fernet(base64.urlsafe_b64encode(_derive(b"fernet", k))) for k in keys
        ]
        self._multi: MultiFernet = MultiFernet(self._fernets)
        self._hmac_keys = [_derive(b"hmac", k) for k in keys]

    @classmethod
    def for_settings(cls, settings: Settings, *, secret_key: str | None = None) -> SecretBox:
        """The box for BRIDGE_SECRET_KEY (or ``secret_key``) and BRIDGE_SECRET_KEY_PREVIOUS.

        A missing, placeholder or weak BRIDGE_SECRET_KEY is refused here, before the database is
        touched; ``secret_key`` (the demo, tests) is taken as given.
        """
        return cls(secret_key or settings.require_secret_key(), *settings.previous_secret_keys())

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        from cryptography.fernet import InvalidToken

        try:
            return self._multi.decrypt(token.encode()).decode()
        except InvalidToken:
            # Never echo the token: say what is wrong and how to fix it.
            raise SecretKeyMismatch(MISMATCH) from None

    def opened_by(self, token: str) -> int | None:
        """Which key opens ``token``: 0 the current one, 1.. a previous one, None none of them."""
        from cryptography.fernet import InvalidToken

        for index, fernet in enumerate(self._fernets):
            try:
                fernet.decrypt(token.encode())
            except InvalidToken:
                continue
            return index
        return None

    def rotate(self, token: str) -> str:
        """``token`` re-encrypted under the current key (its original timestamp kept)."""
        from cryptography.fernet import InvalidToken

        try:
            return self._multi.rotate(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyMismatch(MISMATCH) from None

    def digest(self, value: str) -> str:
        return hmac.new(self._hmac_keys[0], value.encode(), hashlib.sha256).hexdigest()

    def matches(self, value: str, stored_digest: str) -> bool:
        """Constant-time check of a presented secret against its stored digest.

        A digest stored under a previous key still matches, so webhooks keep working while a
        key is rotated (a digest cannot be re-keyed without the secret it was made from).
        """
        return any(
            hmac.compare_digest(
                hmac.new(key, value.encode(), hashlib.sha256).hexdigest(), stored_digest
            )
            for key in self._hmac_keys
        )


class KeyProof(StrEnum):
    CURRENT = "current"  # the stored secrets open with BRIDGE_SECRET_KEY
    PREVIOUS = "previous"  # only with BRIDGE_SECRET_KEY_PREVIOUS: `bridge secrets rotate`
    NEW = "new"  # nothing stored yet: any key will do, and the first start stores the check
    WRONG = "wrong"


@dataclass(frozen=True)
class KeyCheck:
    proof: KeyProof
    stored: bool  # whether the check row exists (start-up writes it when it does not)


def _check_table() -> Table:
    # Imported here: `orders show` and `fulfilments show` open a box to read the customer's
    # name without the models (bridge/cli/reads.py).
    from sqlalchemy import Table

    from bridge.models import SecretKeyCheck

    table = SecretKeyCheck.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _encrypted_columns(conn: Connection) -> list[tuple[Table, Column[str]]]:
    """Every ``*_enc`` column of the database's tables, the key check last.

    Read from the database itself, not from the models this process imported: each room keeps
    its tables in its own ``models.py``, and a command that never imported a room must still
    rotate (and prove the key against) that room's secrets.
    """
    from sqlalchemy import MetaData

    found = MetaData()
    found.reflect(conn)
    check = _check_table().name
    tables = sorted(found.tables.values(), key=lambda table: (table.name == check, table.name))
    return [
        (table, column)
        for table in tables
        for column in table.columns
        if column.name.endswith(ENCRYPTED_SUFFIX)
    ]


def _proof(index: int | None) -> KeyProof:
    if index is None:
        return KeyProof.WRONG
    return KeyProof.CURRENT if index == 0 else KeyProof.PREVIOUS


def check_key(engine: Engine, box: SecretBox) -> KeyCheck:
    """How ``box``'s keys fare against the database, without writing anything."""
    from sqlalchemy import inspect, select

    table = _check_table()
    with engine.connect().execution_options(bridge_read_only=True) as conn:
        if not inspect(conn).has_table(table.name):
            raise SettingsError(
                "the database has no secret key check yet: run `bridge db upgrade` "
                "(or leave BRIDGE_AUTO_MIGRATE on)."
            )
        token = conn.execute(
            select(table.c.marker_enc).where(table.c.id == CHECK_ROW_ID)
        ).scalar_one_or_none()
        if token is not None:
            opened = box.opened_by(token)
            if opened is not None and box.decrypt(token) != CHECK_MARKER:
                opened = None
            return KeyCheck(_proof(opened), stored=True)
        sample = _any_stored_secret(conn)
    return KeyCheck(KeyProof.NEW if sample is None else _proof(box.opened_by(sample)), False)


def _any_stored_secret(conn: Connection) -> str | None:
    """One encrypted value already in the database (from before the check existed), if any."""
    from sqlalchemy import select

    for table, column in _encrypted_columns(conn):
        if table.name == _check_table().name:
            continue
        token = conn.execute(
            select(column).where(column.is_not(None), column != "").limit(1)
        ).scalar_one_or_none()
        if token is not None:
            return str(token)
    return None


def prove_key(engine: Engine, box: SecretBox) -> KeyProof:
    """Refuse a key the database was not written with; store the check on a first start.

    Returns how the key proved (``NEW`` on a first start of an empty database).

    Two processes starting at once on a new database may both try to store it: the insert
    skips an existing row and the check is read again, so the loser proves against the winner.
    """
    from bridge.db import insert_ignore

    found = check_key(engine, box)
    if found.proof is KeyProof.WRONG:
        raise SecretKeyMismatch(MISMATCH)
    if found.stored:
        return found.proof
    with engine.begin() as conn:
        insert_ignore(
            conn,
            _check_table(),
            {"id": CHECK_ROW_ID, "marker_enc": box.encrypt(CHECK_MARKER)},
            ["id"],
        )
    if check_key(engine, box).proof is KeyProof.WRONG:
        raise SecretKeyMismatch(MISMATCH)
    return found.proof


def rotate_stored_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the current key; returns how many were rewritten.

    Each row is rewritten only if it still holds the token that was read (compare-and-set), so
    a worker writing the same column meanwhile is never overwritten with an older value.
    """
    from sqlalchemy import select, update

    from bridge.db import utcnow

    prove_key(engine, box)
    rewritten = 0
    with engine.connect().execution_options(bridge_read_only=True) as conn:
        columns = _encrypted_columns(conn)
    for table, column in columns:
        key = list(table.primary_key.columns)
        with engine.connect().execution_options(bridge_read_only=True) as conn:
            rows = conn.execute(select(*key, column).where(column.is_not(None), column != "")).all()
        for row in rows:
            *ids, token = row
            if box.opened_by(token) == 0:
                continue
            fresh = box.rotate(token)
            where = [k == v for k, v in zip(key, ids, strict=True)] + [column == token]
            values: dict[str, object] = {column.name: fresh}
            if table.name == _check_table().name:
                values["rotated_at"] = utcnow()
            with engine.begin() as conn:
                rewritten += conn.execute(update(table).where(*where).values(values)).rowcount
    return rewritten
