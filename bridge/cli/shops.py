"""``bridge shops``: the Pancake shops whose orders the bridge fulfils."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, dash, print_json, print_table, say, when
from bridge.cli.support import (
    reading,
    secret_box,
    secret_option,
    secret_value,
    settings,
    writing,
)

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

# Columns of a shop that are never printed.
SECRET_COLUMNS = {"api_key_enc", "webhook_secret_digest"}


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


PANCAKE_KEY_ENV = "BRIDGE_PANCAKE_API_KEY"
WEBHOOK_SECRET_ENV = "BRIDGE_WEBHOOK_SECRET"


@shops.command("add")
def add(
    shop_id: Annotated[str, typer.Argument(metavar="SHOP_ID", help="The Pancake shop id, e.g. 4.")],
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
) -> None:
    """Add a Pancake shop, or change what is given of one.

    A new shop needs its API key and webhook secret. For a shop already added, only the
    options given change: rotating a key keeps the warehouse and trigger statuses. Orders
    that failed on a refused Pancake key are retried when the key changes. Point the shop's
    webhook at <bridge URL>/webhooks/pancake/SHOP_ID with the secret in X-Bridge-Secret.

    \b
    Example:
      read -rs BRIDGE_PANCAKE_API_KEY && export BRIDGE_PANCAKE_API_KEY
      pancake-bridge shops add 4 --webhook-secret - --trigger-status 1,20 < webhook-secret
    """
    from bridge.db import utcnow
    from mappings import admin
    from workers.fulfilment.redrive import retry_orders_failed_on_key

    statuses = parse_statuses(trigger_status)
    current = settings()
    box = secret_box(current)
    with reading(current) as session:
        new = not admin.shop_exists(session, shop_id)
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
    with writing(current) as session:
        saved = admin.add_shop(
            session,
            box,
            shop_id,
            api_key=key,
            webhook_secret=secret,
            warehouse_id=warehouse_id,
            trigger_statuses=statuses,
        )
        retried = (
            retry_orders_failed_on_key(session, shop_id, utcnow()) if saved.key_changed else []
        )
    say(f"shop {shop_id} saved; webhook URL: <bridge URL>/webhooks/pancake/{shop_id}")
    if retried:
        say(f"{len(retried)} order(s) that failed on the old key will be read again")


@shops.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the shops (never their keys).

    "caught up until": every order Pancake updated before this moment has been read from its
    order list, whether or not its webhook came (the catch-up for missed webhooks).

    \b
    Example:
      pancake-bridge shops list --json
    """
    from mappings import admin
    from workers.fulfilment.queries import catchup_states

    with reading(settings()) as session:
        catchups = catchup_states(session)
        records = []
        for shop in admin.list_shops(session):
            catchup = catchups.get(shop.shop_id)
            records.append(
                shop.model_dump(exclude=SECRET_COLUMNS)
                | {
                    "caught_up_until": catchup.caught_up_until if catchup else None,
                    "catchup_error": catchup.last_error if catchup else None,
                }
            )
    if as_json:
        print_json(records)
        return
    print_table(
        ["shop", "warehouse", "triggers", "caught up until", "catch-up error"],
        [
            [
                r["shop_id"],
                dash(r["warehouse_id"]),
                ",".join(map(str, r["trigger_statuses"])),
                when(r["caught_up_until"]),
                dash(r["catchup_error"]),
            ]
            for r in records
        ],
    )
