"""``bridge suppliers``: the Shop API v1 supplier shops the bridge buys from."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli import app, exits
from bridge.cli.output import JsonOption, print_json, print_table, say
from bridge.cli.support import (
    key_budgets,
    read_connection,
    reading,
    secret_box,
    secret_option,
    secret_value,
    settings,
    writing,
)

suppliers = typer.Typer(
    help=(
        "Supplier shops (Shop API v1) the bridge buys from.\n\n"
        "\b\nExample:\n  pancake-bridge suppliers add caoshop "
        "--base-url https://caoshop.net/api/v1 \\\n      --api-key - --api-secret - < caoshop-keys"
    ),
    no_args_is_help=True,
)
app.add_typer(suppliers, name="suppliers")

API_KEY_ENV = "BRIDGE_SUPPLIER_API_KEY"
API_SECRET_ENV = "BRIDGE_SUPPLIER_API_SECRET"


@suppliers.command("add")
def add(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="A name for the supplier, e.g. caoshop.")
    ],
    base_url: Annotated[
        str,
        typer.Option(
            "--base-url", metavar="URL", help="The API root, e.g. https://caoshop.net/api/v1."
        ),
    ],
    api_key: Annotated[
        str | None,
        secret_option("--api-key", API_KEY_ENV, "The supplier API key (stored encrypted)."),
    ] = None,
    api_secret: Annotated[
        str | None,
        secret_option(
            "--api-secret", API_SECRET_ENV, "The supplier API secret (stored encrypted)."
        ),
    ] = None,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline", help="Save without checking the URL and keys against the supplier."
        ),
    ] = False,
    timezone: Annotated[
        str | None,
        typer.Option(
            "--timezone",
            metavar="OFFSET",
            help=(
                "The UTC offset the supplier prints its times in, e.g. +07:00; auto: learn it "
                "from its orders (the default for a new supplier). Omitted: kept as it was."
            ),
        ),
    ] = None,
) -> None:
    """Add or update a supplier.

    Before saving, one read of the account balance checks that the URL is the API root
    (a redirect is refused, naming the URL it points to) and that the keys are accepted.
    Running it again for the same name replaces its URL and keys and enables it.

    Its orders' times are printed in its own zone: the bridge learns the zone from the first
    order it buys (full dialect), or takes --timezone; until then it looks in every zone such
    a shop plausibly runs in (+07:00, +08:00, UTC) when it settles a purchase whose answer was
    lost.

    \b
    Example:
      pancake-bridge suppliers add caoshop --base-url https://caoshop.net/api/v1 \\
          --api-key - --api-secret - < caoshop-keys   # two lines: the key, the secret
      pancake-bridge suppliers add shopkey --base-url https://shopkey.appstoreviet.com/api/v1 \\
          --timezone +07:00 --api-key - --api-secret - < shopkey-keys
    """
    from bridge.supplier.probe import check_supplier
    from bridge.supplier.suppliers import add_supplier, zone_setting

    zone_setting(timezone)  # refused before any request, not after
    current = settings()
    box = secret_box(current)
    api_key = secret_value(api_key, flag="--api-key", envvar=API_KEY_ENV, prompt="API key")
    api_secret = secret_value(
        api_secret, flag="--api-secret", envvar=API_SECRET_ENV, prompt="API secret"
    )
    # Needed, so each was given, read or asked for (or the command was refused).
    assert api_key is not None
    assert api_secret is not None
    checked, clock = "not checked: --offline", None
    if not offline:
        # Before the write transaction, which must not wait on the network. The request counts
        # against the key's budget, which workers buying with the same key share.
        with key_budgets(current) as budgets:
            check = check_supplier(
                base_url,
                api_key,
                api_secret,
                timeout_seconds=current.supplier_timeout_seconds,
                budget=budgets.for_key(api_key),
            )
        checked, clock = f"checked, balance {check.balance:,.0f}", check.clock
    with writing(current) as session:
        add_supplier(
            session,
            box,
            name,
            base_url=base_url,
            api_key=api_key,
            api_secret=api_secret,
            clock=clock,
            timezone=timezone,
        )
    say(f"supplier {name} saved ({checked})")


@suppliers.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List suppliers: limits, key expiry, zone, clock (no keys).

    The zone is the one its times are printed in: "+07:00 (set)" by --timezone, "+08:00
    (learned)" from its orders, "-" not known yet. The clock is the supplier's as measured
    against ours: "+300 s ± 1 s" runs five minutes ahead; "-" is not measured yet (always for
    a shop whose answers carry no timestamp). The limits are the key's own as account/info
    tells them (read hourly), "default (60)" until read or when the supplier does not tell them.

    \b
    Example:
      pancake-bridge suppliers list --json
    """
    from bridge.cli import reads
    from bridge.supplier.clock import describe_zone, stored_clock

    current = settings()
    with read_connection(current) as conn:
        listed = reads.suppliers(conn)
        records = [reads.record(supplier) for supplier in listed]
        clocks = [stored_clock(supplier) for supplier in listed]
        zones = [describe_zone(supplier) for supplier in listed]
    if as_json:
        print_json(records)
        return
    print_table(
        [
            "supplier",
            "base_url",
            "enabled",
            "per minute",
            "per day",
            "key expires",
            "zone",
            "clock",
        ],
        [
            [
                r["name"],
                r["base_url"],
                "yes" if r["enabled"] else "no",
                _limit(r["rate_limit"], current.supplier_rate_limit),
                _limit(r["daily_limit"], current.supplier_daily_limit),
                r["key_expires_at"].strftime("%Y-%m-%d %H:%M UTC") if r["key_expires_at"] else "-",
                zone,
                c.describe() if c else "-",
            ]
            for r, c, zone in zip(records, clocks, zones, strict=True)
        ],
    )


def _limit(told: int | None, default: int) -> str:
    return str(told) if told is not None else f"default ({default})"


@suppliers.command("check")
def check(
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="The supplier to check (default: every one)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check each supplier's keys, balance, limits and catalogue.

    For each supplier: its base URL, whether the key and secret are accepted, the balance, the
    key's rate and daily limits and today's usage, its permissions and expiry (account/info,
    where the shop's dialect tells them), and the catalogue's size. A refusal is named by its
    error code, with what it means and what to do. Reads only (a few requests from each key's
    budget, nothing bought, nothing stored). Exit status 1 when a check finds a problem.

    \b
    Example:
      pancake-bridge suppliers check caoshop
    """
    from bridge.db import utcnow
    from bridge.supplier.probe import probe_supplier
    from bridge.supplier.suppliers import get_supplier, list_suppliers
    from bridge.supplier.verdicts import Limits, judge_probe

    current = settings()
    box = secret_box(current)
    limits = Limits(current.supplier_rate_limit, current.supplier_daily_limit)
    with reading(current) as session:
        chosen = [get_supplier(session, name)] if name else list_suppliers(session)
        targets = [
            (supplier, box.decrypt(supplier.api_key_enc), box.decrypt(supplier.api_secret_enc))
            for supplier in chosen
        ]
    with key_budgets(current) as budgets:
        found = []
        for supplier, key, secret in targets:
            probe = probe_supplier(
                supplier.base_url,
                key,
                secret,
                timeout_seconds=current.supplier_timeout_seconds,
                budget=budgets.for_key(
                    key, rate_limit=supplier.rate_limit, daily_limit=supplier.daily_limit
                ),
                name=supplier.name,
            )
            found.append(
                judge_probe(
                    supplier.name, probe, enabled=supplier.enabled, limits=limits, now=utcnow()
                )
            )
    if as_json:
        print_json(
            [{"supplier": c.supplier, "ok": c.ok, "checks": c.lines, **c.values} for c in found]
        )
    else:
        print_table(
            ["supplier", "check", "status", "detail"],
            [[c.supplier, line.check, line.status, line.detail] for c in found for line in c.lines],
        )
    if not all(c.ok for c in found):
        raise typer.Exit(exits.FAILED)
