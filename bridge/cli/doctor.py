"""``bridge doctor`` (is this installation sound?) and ``bridge secrets rotate`` (the key's upkeep).

The doctor only reads: it migrates nothing, stores no key check and creates no SQLite file, so it
can be pointed at a database to see what a start would find there. Beyond this host it reads too:
each shop's Pancake key and webhook (two GETs) and each enabled supplier's balance (one GET, from
the key's shared budget).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import typer

from bridge.cli import app, exits
from bridge.cli.output import JsonOption, print_json, print_table, say
from bridge.cli.support import open_engine, settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bridge.pancake.client import PancakeClient
    from bridge.pancake.schemas import Warehouse
    from bridge.secrets import SecretBox
    from bridge.settings import Settings

# How long the doctor waits for Redis before calling it unreachable.
REDIS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str
    # Could not be checked either way (Pancake does not show a shop's webhook): not a failure.
    unknown: bool = False


@dataclass
class Diagnosis:
    database: str
    findings: list[Finding] = field(default_factory=list)
    shops: int | None = None
    suppliers: int | None = None

    @property
    def ok(self) -> bool:
        return all(finding.ok for finding in self.findings)

    def add(self, check: str, ok: bool, detail: str, *, unknown: bool = False) -> None:
        self.findings.append(Finding(check, ok, detail, unknown))


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the database, Redis, secret key, shops and suppliers.

    Prints the database location, whether it is reachable and at the newest migration, whether
    Redis is reachable (or not configured), whether BRIDGE_SECRET_KEY is acceptable and opens the
    stored secrets, BRIDGE_PUBLIC_URL, and for each shop whether Pancake accepts its key and its
    webhook points here (<public URL>/webhooks/pancake/SHOP_ID), and for each enabled supplier
    whether account/balance answers. One line per check, with what to do when it fails; a
    webhook Pancake does not show, or whose URL has no token (it then relies on a header
    Pancake may not send), is UNKNOWN, not a failure. Changes nothing. Exit status 0
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
            [[f.check, _status(f), f.detail] for f in found.findings],
        )
        say(f"shops: {_count(found.shops)}  suppliers: {_count(found.suppliers)}")
    if not found.ok:
        raise typer.Exit(exits.FAILED)


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _status(finding: Finding) -> str:
    if finding.unknown:
        return "UNKNOWN"
    return "ok" if finding.ok else "PROBLEM"


def diagnose(current: Settings) -> Diagnosis:
    from bridge.db import describe_database

    found = Diagnosis(describe_database(current.database_url))
    engine = _reachable_database(current, found)
    try:
        at_head = engine is not None and _schema(engine, found)
        _redis(current, found)
        _alerts(current, found)
        box = _secret_key(current, engine if at_head else None, found)
        if engine is not None and at_head:
            _counts(engine, found)
            public = _public_url(current, found)
            if box is not None:
                _shops(current, engine, box, public, found)
                _suppliers(current, engine, box, found)
    finally:
        if engine is not None:
            engine.dispose()
    return found


def _alerts(current: Settings, found: Diagnosis) -> None:
    """Whether anyone is told when something needs them; not configured is no failure."""
    from workers.alerts.notify import channels, usable

    listed = channels(current)
    if not listed:
        found.add(
            "alerts",
            True,
            "not configured: alerts are only recorded (`bridge alerts list`); set "
            "BRIDGE_ALERT_URLS, e.g. tgram://BOT_TOKEN/CHAT_ID",
            unknown=True,
        )
        return
    refused = [channel.label for channel in listed if not usable(channel)]
    if refused:
        found.add(
            "alerts",
            False,
            f"apprise cannot use {', '.join(refused)} of BRIDGE_ALERT_URLS: check "
            "those URLs (scheme, token, chat id)",
        )
        return
    names = ", ".join(channel.label for channel in listed)
    found.add("alerts", True, f"{names}; `bridge alerts test` sends a message now")


def _reachable_database(current: Settings, found: Diagnosis) -> Engine | None:
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from bridge.db import make_engine, sqlite_path
    from bridge.errors import SettingsError
    from bridge.runtime.startup import check_database_url

    try:
        check_database_url(current.database_url)  # a URL that names no usable database
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


def _secret_key(current: Settings, engine: Engine | None, found: Diagnosis) -> SecretBox | None:
    """The box, when the key is acceptable and opens this database's secrets."""
    from bridge.errors import SettingsError
    from bridge.secrets import KeyProof, SecretBox, check_key

    try:
        box = SecretBox.for_settings(current)
    except SettingsError as exc:
        found.add("secret key", False, str(exc))
        return None
    if engine is None:
        found.add("secret key", True, "acceptable; not proved (the database is not usable)")
        return None
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
    return None if proof is KeyProof.WRONG else box


def _counts(engine: Engine, found: Diagnosis) -> None:
    from sqlalchemy import func, select

    from bridge.pancake.models import PancakeShop
    from bridge.supplier.models import Supplier

    with engine.connect().execution_options(bridge_read_only=True) as conn:
        found.shops = conn.execute(select(func.count()).select_from(PancakeShop)).scalar_one()
        found.suppliers = conn.execute(select(func.count()).select_from(Supplier)).scalar_one()


def _public_url(current: Settings, found: Diagnosis) -> str | None:
    """BRIDGE_PUBLIC_URL when usable: each shop's webhook should point below it."""
    from bridge.errors import ConfigError
    from bridge.pancake.connect import public_url

    if not current.public_url:
        if found.shops:
            found.add(
                "public url",
                False,
                "BRIDGE_PUBLIC_URL is not set: set it to the address Pancake reaches this bridge "
                "at (e.g. https://bridge.example.com), for `bridge shops connect` and the "
                "webhook checks",
            )
        else:
            found.add("public url", True, "BRIDGE_PUBLIC_URL not set (needed once a shop is added)")
        return None
    try:
        url = public_url(current.public_url)
    except ConfigError as exc:
        found.add("public url", False, f"BRIDGE_PUBLIC_URL: {exc}")
        return None
    found.add("public url", True, url)
    return url


def _shops(
    current: Settings, engine: Engine, box: SecretBox, public: str | None, found: Diagnosis
) -> None:
    """Each shop: a cheap read with its key (its warehouses), then its webhook."""
    from sqlmodel import Session

    from bridge.cli.shops import pancake_client
    from bridge.db import READ_ONLY
    from bridge.errors import SecretKeyMismatch
    from bridge.pancake.shops import list_shops

    with Session(engine) as session:
        session.connection(execution_options={READ_ONLY: True})
        listed = list_shops(session)
        shops = [
            (shop.shop_id, shop.api_key_enc, shop.webhook_secret_digest, shop.webhook_token_digest)
            for shop in listed
        ]
        # The warehouse set for each shop's stock (`shops add --warehouse-id`), if any.
        configured = {shop.shop_id: shop.warehouse_id for shop in listed}
        disabled = {shop.shop_id for shop in listed if not shop.enabled}
    for shop_id, key_enc, digest, token_digest in shops:
        if shop_id in disabled:
            # Not called, as the workers do not call it: a disabled shop may be the mistake.
            detail = f"disabled: not checked, nothing is bought (`bridge shops enable {shop_id}`)"
            found.add(f"shop {shop_id} key", True, detail, unknown=True)
            continue
        try:
            api_key = box.decrypt(key_enc)
        except SecretKeyMismatch:
            found.add(
                f"shop {shop_id} key",
                False,
                "its stored key does not open: save it again (bridge shops add)",
            )
            continue
        # One attempt each: the doctor reports, it does not wait out an outage.
        with pancake_client(current, api_key, attempts=1) as client:
            warehouses = _shop_key(client, shop_id, found)
            if warehouses is not None and (warehouse := configured.get(shop_id)):
                _shop_warehouse(shop_id, warehouse, warehouses, found)
            if warehouses is not None and public is not None:
                _shop_webhook(
                    client,
                    shop_id,
                    public,
                    partial(_matches, box, digest),
                    partial(_token_matches, box, digest, token_digest),
                    found,
                )


def _matches(box: SecretBox, digest: str, secret: str) -> bool:
    return box.matches(secret, digest)


def _token_matches(box: SecretBox, digest: str, token_digest: str | None, token: str) -> bool:
    from bridge.pancake.webhook_tokens import token_matches

    return token_matches(box, token, digest, token_digest)


def _shop_key(client: PancakeClient, shop_id: str, found: Diagnosis) -> list[Warehouse] | None:
    """The shop's warehouses, read with its key; None when Pancake refused or did not answer."""
    from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable

    check = f"shop {shop_id} key"
    try:
        warehouses = client.list_warehouses(shop_id)
    except PancakeRequestError as exc:
        if exc.status in (401, 403):
            detail = (
                f"Pancake refused it (HTTP {exc.status}): save the shop's key from Pancake "
                f"(Cấu hình → Cấu hình ứng dụng → API KEY) with `bridge shops add {shop_id} "
                "--api-key -`"
            )
        else:
            detail = f"Pancake refused a read ({exc}): check the shop id and the key"
        found.add(check, False, detail)
        return None
    except PancakeUnavailable as exc:
        found.add(
            check,
            False,
            f"Pancake did not answer ({exc}): check BRIDGE_PANCAKE_BASE_URL and the network",
        )
        return None
    found.add(check, True, f"accepted ({len(warehouses)} warehouse(s))")
    return warehouses


def _shop_warehouse(
    shop_id: str, configured: str, warehouses: list[Warehouse], found: Diagnosis
) -> None:
    """The warehouse configured for the shop's stock (`shops add --warehouse-id`): orders
    reserve and sell from a warehouse that takes them, so stock put anywhere else is never
    sold."""
    check = f"shop {shop_id} warehouse"
    fix = (
        f"set one that does (`bridge shops add {shop_id} --warehouse-id ID`), or none "
        "(`--warehouse-id ''`: every warehouse that takes orders)"
    )
    listed = {w.id: w for w in warehouses}
    taking = [w.id for w in warehouses if w.takes_orders]
    chosen = listed.get(configured)
    if chosen is None:
        found.add(
            check, False, f"{configured} is not listed by Pancake: stock cannot be pushed; {fix}"
        )
    elif not chosen.takes_orders:
        elsewhere = f"those that do: {', '.join(taking)}" if taking else "no warehouse takes orders"
        found.add(
            check,
            False,
            f"{configured} takes no orders (allow_create_order false): stock put there is never "
            f"sold ({elsewhere}); {fix}",
        )
    else:
        found.add(check, True, f"{configured} takes orders")


def _shop_webhook(
    client: PancakeClient,
    shop_id: str,
    public: str,
    secret_matches: Callable[[str], bool],
    token_matches: Callable[[str], bool],
    found: Diagnosis,
) -> None:
    from bridge.errors import ConfigError
    from bridge.pancake.connect import (
        PANCAKE_WEBHOOK_PAGE,
        WebhookOwner,
        lacks_token,
        read_webhook,
        webhook_problems,
        webhook_url,
    )
    from bridge.pancake.errors import PancakeUnavailable
    from bridge.routes import WEBHOOK_SECRET_HEADER

    check = f"shop {shop_id} webhook"
    wanted = webhook_url(public, shop_id)
    connect = f"run `bridge shops connect {shop_id}`"
    try:
        current = read_webhook(client, shop_id, wanted)
    except (ConfigError, PancakeUnavailable) as exc:
        found.add(check, False, f"cannot be read: {exc}")
        return
    if current.owner is WebhookOwner.HERE:
        problems = webhook_problems(current, secret_matches, token_matches, shop_id)
        if problems:
            what = "; ".join(problem for problem, _ in problems)
            fixes = " then ".join(dict.fromkeys(fix for _, fix in problems))
            found.add(check, False, f"points here, but {what}: run {fixes}")
        elif lacks_token(current):
            # Works if this shop's Pancake sends the header; some send none, and nothing here
            # can tell which (the URL with a token works either way).
            found.add(
                check,
                True,
                f"points here ({current.url}), without a token in the URL: its webhooks get in "
                f"only if Pancake sends the {WEBHOOK_SECRET_HEADER} header, which some shops' "
                f"does not; {connect} to add one",
                unknown=True,
            )
        else:
            found.add(check, True, f"points here ({current.url})")
    elif current.owner is WebhookOwner.NONE:
        found.add(check, False, f"none set: {connect}")
    elif current.owner is WebhookOwner.ELSEWHERE:
        found.add(
            check,
            False,
            f"goes to {current.url}, not {wanted}: run `bridge shops connect {shop_id} "
            "--replace` if this bridge should have it (a shop has one webhook URL)",
        )
    else:
        found.add(
            check,
            True,
            f"cannot tell ({current.reason}): check in Pancake ({PANCAKE_WEBHOOK_PAGE}) that it "
            f"is {wanted}, or {connect}",
            unknown=True,
        )


def _suppliers(current: Settings, engine: Engine, box: SecretBox, found: Diagnosis) -> None:
    """Each enabled supplier: one account/balance read, from its key's shared budget."""
    from sqlmodel import Session

    from bridge.cli.support import key_budgets
    from bridge.db import READ_ONLY
    from bridge.errors import SecretKeyMismatch
    from bridge.supplier.probe import Step, probe_supplier
    from bridge.supplier.suppliers import list_suppliers
    from bridge.supplier.verdicts import failure_text

    with Session(engine) as session:
        session.connection(execution_options={READ_ONLY: True})
        suppliers = list_suppliers(session)
        session.expunge_all()
    with key_budgets(current) as budgets:
        for supplier in suppliers:
            check = f"supplier {supplier.name}"
            if not supplier.enabled:
                found.add(check, True, "disabled: not checked")
                continue
            try:
                key, secret = (
                    box.decrypt(supplier.api_key_enc),
                    box.decrypt(supplier.api_secret_enc),
                )
            except SecretKeyMismatch:
                found.add(
                    check,
                    False,
                    "its stored keys do not open: save them again (bridge suppliers add)",
                )
                continue
            probe = probe_supplier(
                supplier.base_url,
                key,
                secret,
                steps=(Step.BALANCE,),
                timeout_seconds=min(current.supplier_timeout_seconds, 10.0),
                budget=budgets.for_key(
                    key, rate_limit=supplier.rate_limit, daily_limit=supplier.daily_limit
                ),
            )
            failure = probe.failures.get(Step.BALANCE)
            if failure is not None:
                found.add(check, False, failure_text(failure))
            else:
                balance = probe.balance or 0.0
                found.add(check, True, f"balance {balance:,.0f} ({supplier.base_url})")


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
