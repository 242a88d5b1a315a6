"""``bridge shops``: the Pancake shops whose orders the bridge fulfils."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, dash, is_terminal, print_json, print_table, say, when
from bridge.cli.support import (
    read_connection,
    reading,
    secret_box,
    secret_option,
    secret_value,
    settings,
    writing,
)
from bridge.errors import Failed
from bridge.pancake.vocabulary import NoteDelivery

if TYPE_CHECKING:
    from bridge.pancake.client import PancakeClient
    from bridge.pancake.connect import CurrentWebhook
    from bridge.pancake.schemas import ShopWebhook
    from bridge.secrets import SecretBox
    from bridge.settings import Settings

shops = typer.Typer(
    help=(
        "Pancake shops the bridge fulfils orders for.\n\n"
        "Each shop has its Pancake API key, the secret its webhooks carry and the order "
        "statuses that start fulfilment.\n\n"
        "\b\nExample:\n  pancake-bridge shops add 4 --api-key - --webhook-secret - < secrets.txt"
    ),
    no_args_is_help=True,
)
app.add_typer(shops, name="shops")


def parse_statuses(values: list[str] | None) -> list[int] | None:
    """``--trigger-status 1 --trigger-status 20`` and ``--trigger-status 1,20`` alike."""
    if not values:
        return None
    statuses: list[int] = []
    for value in values:
        for word in value.split(","):
            word = word.strip()
            if not word:
                continue
            try:
                statuses.append(int(word))
            except ValueError:
                raise typer.BadParameter(
                    f"{word!r} is not a Pancake order status number (e.g. 1 or 1,20)",
                    param_hint="'--trigger-status'",
                ) from None
    return statuses or None


def parse_moment(value: str | None, flag: str) -> datetime | None:
    """An ISO 8601 moment; one without a zone is UTC, as Pancake's times are."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not an ISO time (e.g. 2026-12-01T00:00:00+07:00)",
            param_hint=f"'{flag}'",
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# How `shops add` says where a shop's credentials go.
_NOTE_FIELDS = {
    NoteDelivery.NOTE: "note (internal)",
    NoteDelivery.NOTE_PRINT: "note_print (printed, seen by the customer)",
    NoteDelivery.BOTH: "note and note_print",
}

ShopIdArgument = Annotated[
    str, typer.Argument(metavar="SHOP_ID", help="The Pancake shop id, e.g. 4.")
]
PANCAKE_KEY_ENV = "BRIDGE_PANCAKE_API_KEY"
WEBHOOK_SECRET_ENV = "BRIDGE_WEBHOOK_SECRET"


@shops.command("add")
def add(
    shop_id: ShopIdArgument,
    api_key: Annotated[
        str | None,
        secret_option(
            "--api-key", PANCAKE_KEY_ENV, "The shop's Pancake API key (stored encrypted)."
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        secret_option(
            "--webhook-secret",
            WEBHOOK_SECRET_ENV,
            "The value Pancake sends in X-Bridge-Secret (16 characters or more).",
        ),
    ] = None,
    warehouse_id: Annotated[
        str | None,
        typer.Option(
            "--warehouse-id",
            metavar="ID",
            help='Warehouse whose stock the bridge sets (new shop: the first; "" goes back '
            "to the first).",
        ),
    ] = None,
    trigger_status: Annotated[
        list[str] | None,
        typer.Option(
            "--trigger-status",
            metavar="STATUS[,STATUS...]",
            help="Order status that starts fulfilment; repeat it or separate with commas "
            "(new shop: confirmed or beyond).",
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            metavar="ISO-TIME",
            help="Fulfil orders created in Pancake from this moment on, e.g. "
            "2026-12-01T00:00:00+07:00 (no zone: UTC). New shop: the moment it is added.",
        ),
    ] = None,
    deliver_to: Annotated[
        NoteDelivery | None,
        typer.Option(
            "--deliver-to",
            help="Which note of the order gets the credentials: note (internal, for staff), "
            "note_print (printed: the customer sees it) or both. The delay notice goes where "
            "the customer looks. New shop: note.",
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            help="Save without reading the shop from Pancake with the key (e.g. Pancake is down).",
        ),
    ] = False,
) -> None:
    """Add a Pancake shop, or change what is given of one.

    A new shop needs its API key and webhook secret. For a shop already added, only the
    options given change: rotating a key keeps the warehouse and trigger statuses. Orders
    that failed on a refused Pancake key are retried when the key changes. Point the shop's
    webhook at <bridge URL>/webhooks/pancake/SHOP_ID with the secret in X-Bridge-Secret, which
    `bridge shops connect SHOP_ID` does.

    A key given is checked first: one read of the shop from Pancake with it (its warehouses).
    A key Pancake refuses, or a shop id it does not open, is refused and nothing is saved (a
    working key stays stored); --offline saves without the read.

    Only new sales are bought: an order Pancake says was created before the shop was added is
    its history (delivered by hand) and is skipped, whatever status staff move it to later.
    --since moves that moment: earlier, and the orders skipped as older that are not are read
    again (and bought if in a trigger status); `orders fulfil` buys a single older order.

    Credentials go into the order's internal note unless --deliver-to says note_print (the
    printed note the customer sees) or both; a line counts as annotated only once Pancake shows
    them there and the order otherwise as it was.

    \b
    Example:
      read -rs BRIDGE_PANCAKE_API_KEY && export BRIDGE_PANCAKE_API_KEY
      pancake-bridge shops add 4 --webhook-secret - --trigger-status 1,20 < webhook-secret
    """
    from bridge.db import utcnow
    from bridge.pancake.shops import add_shop, check_shop_values, read_shop, shop_exists
    from workers.fulfilment.redrive import reread_window, retry_orders_failed_on_key

    statuses = parse_statuses(trigger_status)
    fulfil_from = parse_moment(since, "--since")
    current = settings()
    box = secret_box(current)
    with reading(current) as session:
        new = not shop_exists(session, shop_id)
    # Prompts (if any) come before the write transaction, which must not wait on a person.
    key = secret_value(
        api_key, flag="--api-key", envvar=PANCAKE_KEY_ENV, prompt="Pancake API key", needed=new
    )
    secret = secret_value(
        webhook_secret,
        flag="--webhook-secret",
        envvar=WEBHOOK_SECRET_ENV,
        prompt="Webhook secret",
        needed=new,
    )
    check_shop_values(
        api_key=key, webhook_secret=secret, trigger_statuses=statuses, fulfil_from=fulfil_from
    )
    checked = "not checked: --offline"
    if key is not None and not offline:
        # Before the write transaction, which must not wait on the network.
        with pancake_client(current, key) as client:
            checked = f"checked: {read_shop(client, shop_id)} warehouse(s)"
    elif key is None:
        checked = "key unchanged"
    with writing(current) as session:
        saved = add_shop(
            session,
            box,
            shop_id,
            api_key=key,
            webhook_secret=secret,
            warehouse_id=warehouse_id,
            trigger_statuses=statuses,
            fulfil_from=fulfil_from,
            deliver_to=deliver_to,
        )
        retried = (
            retry_orders_failed_on_key(session, shop_id, utcnow()) if saved.key_changed else []
        )
        reread = (
            reread_window(session, shop_id, fulfil_from, utcnow())
            if fulfil_from is not None
            else []
        )
        fulfils_from = saved.shop.fulfil_from
        delivers_to = saved.shop.deliver_to
    say(
        f"shop {shop_id} saved ({checked}); webhook URL: <bridge URL>/webhooks/pancake/{shop_id} "
        f"(bridge shops connect {shop_id} sets it in Pancake)"
    )
    if retried:
        say(f"{len(retried)} order(s) that failed on the old key will be read again")
    say(f"orders created from {when(fulfils_from)} are fulfilled")
    say(f"credentials are written to the order's {_NOTE_FIELDS[NoteDelivery(delivers_to)]}")
    if reread:
        say(f"{len(reread)} order(s) skipped as older than that are not: they will be read again")


@shops.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the shops (never their keys).

    "enabled": a disabled shop's orders are recorded, not bought. "in flight": its lines
    bought or being bought whose credentials are on their way. "fulfils from": orders created
    in Pancake before this moment are not bought (`shops add --since` moves it, `orders fulfil`
    buys one). "caught up until": every order Pancake
    updated before this moment has been read from its order list, whether or not its webhook
    came (the catch-up for missed webhooks).

    \b
    Example:
      pancake-bridge shops list --json
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        catchups = reads.catchups(conn)
        records = []
        for shop in reads.shops(conn):
            catchup = catchups.get(shop.shop_id)
            records.append(
                reads.record(shop)
                | {
                    "caught_up_until": catchup.caught_up_until if catchup else None,
                    "catchup_error": catchup.last_error if catchup else None,
                    "in_flight": reads.lines_in_flight(conn, shop.shop_id),
                }
            )
    if as_json:
        print_json(records)
        return
    print_table(
        [
            "shop",
            "enabled",
            "in flight",
            "warehouse",
            "triggers",
            "fulfils from",
            "credentials to",
            "caught up until",
            "catch-up error",
        ],
        [
            [
                r["shop_id"],
                "yes" if r["enabled"] else f"no (since {when(r['disabled_at'])})",
                r["in_flight"],
                dash(r["warehouse_id"]),
                ",".join(map(str, r["trigger_statuses"])),
                when(r["fulfil_from"]),
                r["deliver_to"],
                when(r["caught_up_until"]),
                dash(r["catchup_error"]),
            ]
            for r in records
        ],
    )


@shops.command("disable")
def disable(shop_id: ShopIdArgument) -> None:
    """Stop buying for a shop, keeping it.

    Its webhooks are still taken in and stored, and each order is recorded as skipped ("the
    shop is disabled"), visible in `bridge orders list`, but nothing is bought and Pancake is
    not called for it: no catch-up, no stock sync. Lines taken in before go on (they were
    accepted, some already bought): their credentials still reach the orders. `enable` buys
    the orders skipped meanwhile.

    \b
    Example:
      pancake-bridge shops disable 4
    """
    from bridge.db import utcnow
    from bridge.pancake.shops import lines_in_flight, set_shop_enabled

    with writing(settings()) as session:
        done = set_shop_enabled(session, shop_id, False, utcnow())
        moving = lines_in_flight(session, shop_id)
    if not done.changed:
        say(f"shop {shop_id}: already disabled (since {when(done.disabled_at)})")
        return
    say(f"shop {shop_id}: disabled; its orders are recorded, not bought")
    if moving:
        say(f"{moving} line(s) taken in before go on: their credentials still reach the orders")


@shops.command("enable")
def enable(shop_id: ShopIdArgument) -> None:
    """Buy for a disabled shop again.

    The orders skipped while it was disabled are read again from Pancake and bought if they are
    still in a trigger status (each line once); the catch-up takes up from where it stopped.
    Not wanted (e.g. staff delivered them by hand)? Move the shop's start first: `bridge shops
    add SHOP_ID --since <now>` makes them history.

    \b
    Example:
      pancake-bridge shops enable 4
    """
    from bridge.db import utcnow
    from bridge.pancake.shops import set_shop_enabled
    from workers.fulfilment.redrive import reread_held

    with writing(settings()) as session:
        now = utcnow()
        done = set_shop_enabled(session, shop_id, True, now)
        held = (
            reread_held(session, shop_id, done.disabled_at, now)
            if done.changed and done.disabled_at is not None
            else []
        )
    if not done.changed:
        say(f"shop {shop_id}: already enabled")
        return
    say(f"shop {shop_id}: enabled")
    if held:
        say(f"{len(held)} order(s) skipped while it was disabled will be read again and bought")


@shops.command("remove")
def remove(shop_id: ShopIdArgument) -> None:
    """Remove a shop: its key, webhook secret and settings.

    Its orders, lines, purchase records, stored webhooks and mappings are kept (add the shop
    again and its mappings serve it). Refused while it has lines in flight (bought or being
    bought): only its key can write their credentials into the orders; disable it, and remove
    it once `shops list` shows none in flight. Point its webhook elsewhere in Pancake too:
    webhooks for a shop the bridge does not know are refused.

    \b
    Example:
      pancake-bridge shops disable 4 && pancake-bridge shops remove 4
    """
    from bridge.pancake.shops import remove_shop

    with writing(settings()) as session:
        remove_shop(session, shop_id)
    say(f"shop {shop_id} removed; its orders, purchase records and mappings are kept")


@shops.command("connect")
def connect(
    shop_id: ShopIdArgument,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url",
            metavar="URL",
            help="The bridge's address as Pancake reaches it, e.g. https://bridge.example.com "
            "(default: BRIDGE_PUBLIC_URL).",
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        secret_option(
            "--webhook-secret",
            WEBHOOK_SECRET_ENV,
            "The shop's webhook secret, as given to `shops add` (checked against the stored "
            "digest; the bridge does not keep the secret itself).",
        ),
    ] = None,
    new_secret: Annotated[
        bool,
        typer.Option(
            "--new-secret",
            help="Make a new random secret (and URL token) instead; they are stored once "
            "Pancake has taken them, and the old ones stop working.",
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Point the webhook here even if it goes to another URL now, or Pancake does "
            "not show where it goes.",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Print the request (secrets masked) and send nothing."),
    ] = False,
) -> None:
    """Point the shop's Pancake webhook at this bridge.

    Sends PUT /shops/SHOP_ID with webhook_enable, webhook_url
    (<public URL>/webhooks/pancake/SHOP_ID?token=TOKEN), webhook_types (orders,
    variations_warehouses) and webhook_headers (the secret in X-Bridge-Secret), keeping the
    shop's error e-mail address. Either the header or the URL's token lets a webhook in: some
    shops' Pancake sends no custom header. A shop has one webhook URL, so it first reads the
    current one from GET /shops: if it goes elsewhere, or Pancake does not show it, nothing is
    sent (exit 2) unless --replace is given. Then it checks that Pancake's answer shows what was
    sent (exit 1 if not). Nothing is ordered or bought. Safe to repeat: the token is made from
    the secret, so the URL is the same each time.

    The secret: --webhook-secret (or BRIDGE_WEBHOOK_SECRET, `-` for standard input, a prompt
    on a terminal) must be the one given to `shops add`; --new-secret makes a new one instead.
    Neither the secret nor the token is printed or kept in clear.

    \b
    Example:
      pancake-bridge shops connect 4 --public-url https://bridge.example.com --new-secret --dry-run
      pancake-bridge shops connect 4 --webhook-secret - < webhook-secret
    """
    from bridge.pancake.connect import (
        PANCAKE_WEBHOOK_PAGE,
        WEBHOOK_TYPES,
        Connecting,
        connect_shop,
        shown_url,
        webhook_url,
    )
    from bridge.pancake.connect import (
        public_url as checked_public_url,
    )
    from bridge.pancake.shops import add_shop, get_shop
    from bridge.pancake.webhook_tokens import store_token, url_token
    from bridge.routes import WEBHOOK_SECRET_HEADER

    current = settings()
    public = checked_public_url(public_url or current.public_url)
    box = secret_box(current)
    with reading(current) as session:
        shop = get_shop(session, shop_id)
        api_key, digest = box.decrypt(shop.api_key_enc), shop.webhook_secret_digest
    secret = _connect_secret(webhook_secret, new_secret, box, digest, shop_id)
    token = url_token(secret, shop_id)
    url = webhook_url(public, shop_id, token)

    def show(plan: Connecting) -> None:
        say(f"shop {shop_id}'s webhook now: {describe_webhook(plan.found)}")
        if dry_run:
            _print_request(current.pancake_base_url, shop_id, plan.request)

    def store_before_sending(_: Connecting) -> None:
        # The stored secret's token: it lets in no one the secret does not, so it is stored
        # before Pancake can send it (its first webhook, the ping, finds it in place).
        if not new_secret:
            with writing(current) as session:
                store_token(session, box, shop_id, token)

    with pancake_client(current, api_key) as client:
        done = connect_shop(
            client,
            shop_id,
            url,
            secret,
            replace=replace,
            dry_run=dry_run,
            on_found=show,
            on_sending=store_before_sending,
        )
    if not done.sent:
        say("dry run: nothing sent")
        return
    if new_secret:
        # Stored only now that Pancake sends them: a refused PUT leaves the old ones working.
        with writing(current) as session:
            add_shop(session, box, shop_id, webhook_secret=secret)
            store_token(session, box, shop_id, token)
    if done.problems:
        raise Failed(
            f"Pancake took the webhook settings, but its answer shows {'; '.join(done.problems)}: "
            f"check the webhook in Pancake ({PANCAKE_WEBHOOK_PAGE})"
        )
    say(
        f"shop {shop_id}: Pancake sends {', '.join(WEBHOOK_TYPES)} webhooks to {shown_url(url)} "
        f"with the {'new ' if new_secret else ''}secret in {WEBHOOK_SECRET_HEADER} and a token "
        "in the URL"
    )


def _connect_secret(
    given: str | None,
    new_secret: bool,
    box: SecretBox,
    digest: str,
    shop_id: str,
) -> str:
    """The secret to send: a new one, or the one given, proved against the stored digest."""
    import os
    import secrets

    from bridge.errors import ConfigError

    if new_secret:
        # BRIDGE_WEBHOOK_SECRET may be set for `shops add`: only a secret given here conflicts.
        if given is not None and given != os.environ.get(WEBHOOK_SECRET_ENV):
            raise typer.BadParameter(
                "give --webhook-secret or --new-secret, not both", param_hint="'--new-secret'"
            )
        return secrets.token_urlsafe(32)
    if given is None and not is_terminal(sys.stdin):
        raise typer.BadParameter(
            f"missing: give --webhook-secret - with the shop's webhook secret on standard input, "
            f"set {WEBHOOK_SECRET_ENV}, or make a new one with --new-secret",
            param_hint="'--webhook-secret'",
        )
    secret = secret_value(
        given, flag="--webhook-secret", envvar=WEBHOOK_SECRET_ENV, prompt="Webhook secret"
    )
    assert secret is not None  # needed: given, read or asked for
    if not box.matches(secret, digest):
        raise ConfigError(
            f"that is not shop {shop_id}'s webhook secret (the one given to `bridge shops add`): "
            "give that one, or make a new one with --new-secret"
        )
    return secret


def describe_webhook(found: CurrentWebhook) -> str:
    """A shop's webhook as read from Pancake, for a person."""
    from bridge.pancake.connect import WebhookOwner

    if found.owner is WebhookOwner.NONE:
        return "none set"
    if found.owner is WebhookOwner.HERE:
        return f"points here ({found.url})"
    if found.owner is WebhookOwner.ELSEWHERE:
        return f"goes to {found.url}"
    return f"cannot tell ({found.reason})"


def _print_request(base_url: str, shop_id: str, request: ShopWebhook) -> None:
    import json
    from urllib.parse import quote

    from bridge.logs import MASK
    from bridge.pancake.connect import shown_url

    body = request.to_api()
    body["webhook_headers"] = dict.fromkeys(body.get("webhook_headers") or {}, MASK)
    body["webhook_url"] = shown_url(body.get("webhook_url") or "")  # its token masked
    say("request (not sent: --dry-run):")
    say(f"  PUT {shown_url(base_url).rstrip('/')}/shops/{quote(shop_id, safe='')}?api_key={MASK}")
    say("  Content-Type: application/json")
    for line in json.dumps({"shop": body}, ensure_ascii=False, indent=2).splitlines():
        say(f"  {line}")


@contextmanager
def pancake_client(
    current: Settings, api_key: str, *, attempts: int = 3
) -> Iterator[PancakeClient]:
    """A Pancake client on the shop's key for one command."""
    import httpx

    from bridge.pancake.client import PancakeClient

    timeout = httpx.Timeout(current.pancake_timeout_seconds, connect=5.0)
    with PancakeClient(
        current.pancake_base_url, api_key, timeout=timeout, attempts=attempts
    ) as client:
        yield client
