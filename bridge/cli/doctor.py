"""``bridge doctor`` (is this installation sound?) and ``bridge secrets rotate`` (the key's upkeep).

The doctor only reads: it migrates nothing, stores no key check and creates no SQLite file, so it
can be pointed at a database to see what a start would find there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import typer

from bridge.cli import app, exits
from bridge.cli.output import JsonOption, print_json, print_table, say
from bridge.cli.support import open_engine, settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bridge.settings import Settings

# How long the doctor waits for Redis before calling it unreachable.
REDIS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


@dataclass
class Diagnosis:
    database: str
    findings: list[Finding] = field(default_factory=list)
    shops: int | None = None
    suppliers: int | None = None

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    def add(self, check: str, ok: bool, detail: str) -> None:
        self.findings.append(Finding(check, ok, detail))


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the database, Redis and the secret key.

    Prints the database location, whether it is reachable and at the newest migration, whether
    Redis is reachable (or not configured), whether BRIDGE_SECRET_KEY is acceptable and opens the
    stored secrets, and how many shops and suppliers there are. Changes nothing. Exit status 0
    when every check passes, 1 when one does not.

    \b
    Example:
      pancake-bridge doctor --json | jq .ok
    """
    found = diagnose(settings())
    if as_json:
        print_json(
            {
                "ok": found.ok,
                "database": found.database,
                "checks": found.findings,
                "shops": found.shops,
                "suppliers": found.suppliers,
            }
        )
    else:
        say(f"database: {found.database}")
        print_table(
            ["check", "status", "detail"],
            [[f.check, "ok" if f.ok else "PROBLEM", f.detail] for f in found.findings],
        )
        say(f"shops: {_count(found.shops)}  suppliers: {_count(found.suppliers)}")
    if not found.ok:
        raise typer.Exit(exits.FAILED)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def diagnose(current: Settings) -> Diagnosis:
    from bridge.db import describe_database

    found = Diagnosis(describe_database(current.database_url))
    engine = _reachable_database(current, found)
    try:
        at_head = engine is not None and _schema(engine, found)
        _redis(current, found)
        _secret_key(current, engine if at_head else None, found)
        if engine is not None and at_head:
            _counts(engine, found)
    finally:
        if engine is not None:
            engine.dispose()
    return found


def _reachable_database(current: Settings, found: Diagnosis) -> Engine | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.db import make_engine, sqlite_path
    from bridge.errors import SettingsError

    try:
        path = sqlite_path(current.database_url)
        if path is not None and not path.is_file():
            found.add("database", False, "no database file yet: `bridge db upgrade` creates it")
            return None
        engine = make_engine(current.database_url)
    except SettingsError as exc:
        found.add("database", False, str(exc))
        return None
    try:
        with engine.connect().execution_options(bridge_read_only=True) as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        # The driver's first line names the cause (refused, unknown host, bad password).
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        found.add("database", False, f"not reachable: {reason}")
        return None
    found.add("database", True, "reachable")
    return engine


def _schema(engine: Engine, found: Diagnosis) -> bool:
    from bridge.migrate import HEAD, current_revisions

    revisions = current_revisions(engine)
    if revisions == {HEAD}:
        found.add("schema", True, f"at the newest migration ({HEAD})")
        return True
    seen = ", ".join(sorted(revisions)) if revisions else "no migration applied"
    found.add("schema", False, f"{seen}, newest is {HEAD}: run `bridge db upgrade`")
    return False


def _redis(current: Settings, found: Diagnosis) -> None:
    if not current.redis_url:
        found.add(
            "redis", True, "not configured: the embedded broker (web and workers in one process)"
        )
        return
    import redis

    shown = _without_password(current.redis_url)
    try:
        client = redis.Redis.from_url(
            current.redis_url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()
    except (redis.RedisError, ValueError) as exc:
        found.add("redis", False, f"{shown} not reachable: {exc}")
        return
    found.add("redis", True, f"{shown} reachable")


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _secret_key(current: Settings, engine: Engine | None, found: Diagnosis) -> None:
    from bridge.errors import SettingsError
    from bridge.secrets import KeyProof, SecretBox, check_key

    try:
        box = SecretBox.for_settings(current)
    except SettingsError as exc:
        found.add("secret key", False, str(exc))
        return
    if engine is None:
        found.add("secret key", True, "acceptable; not proved (the database is not usable)")
        return
    proof = check_key(engine, box).proof
    details = {
        KeyProof.CURRENT: "proves against the stored check",
        KeyProof.PREVIOUS: (
            "proves only with BRIDGE_SECRET_KEY_PREVIOUS: run `bridge secrets rotate`"
        ),
        KeyProof.NEW: "acceptable; nothing is stored yet (the first start stores the check)",
        KeyProof.WRONG: "does not open this database's secrets (nor BRIDGE_SECRET_KEY_PREVIOUS)",
    }
    found.add("secret key", proof is not KeyProof.WRONG, details[proof])


def _counts(engine: Engine, found: Diagnosis) -> None:
    from sqlalchemy import func, select

    from bridge.models import PancakeShop, Supplier

    with engine.connect().execution_options(bridge_read_only=True) as conn:
        found.shops = conn.execute(select(func.count()).select_from(PancakeShop)).scalar_one()
        found.suppliers = conn.execute(select(func.count()).select_from(Supplier)).scalar_one()


secrets = typer.Typer(
    help="The secret key's upkeep.\n\n\b\nExample:\n  pancake-bridge secrets rotate",
    no_args_is_help=True,
)
app.add_typer(secrets, name="secrets")


@secrets.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored secret under BRIDGE_SECRET_KEY.

    Set the new key in BRIDGE_SECRET_KEY and the old one in BRIDGE_SECRET_KEY_PREVIOUS first
    (every process, restarted). Safe while the bridge runs and safe to run again.

    \b
    Example:
      BRIDGE_SECRET_KEY_PREVIOUS="$OLD" BRIDGE_SECRET_KEY="$NEW" pancake-bridge secrets rotate
    """
    from bridge.secrets import SecretBox, rotate_stored_secrets

    current = settings()
    box = SecretBox.for_settings(current)
    engine = open_engine(current)
    try:
        count = rotate_stored_secrets(engine, box)
    finally:
        engine.dispose()
    say(f"{count} stored secret(s) re-encrypted under BRIDGE_SECRET_KEY")
