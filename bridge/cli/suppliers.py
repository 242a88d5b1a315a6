"""``bridge suppliers``: the Shop API v1 supplier shops the bridge buys from."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app, exits
from bridge.cli.output import JsonOption, print_json, print_table, say
from bridge.cli.support import (
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

if TYPE_CHECKING:
    from bridge.settings import Settings
    from bridge.supplier.budget import Budgets
    from mappings.admin import SupplierFailure, SupplierProbe

# Columns of a supplier that are never printed.
SECRET_COLUMNS = {"api_key_enc", "api_secret_enc"}
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
) -> None:
    """Add or update a supplier.

    Before saving, one read of the account balance checks that the URL is the API root
    (a redirect is refused, naming the URL it points to) and that the keys are accepted.
    Running it again for the same name replaces its URL and keys and enables it.

    \b
    Example:
      pancake-bridge suppliers add caoshop --base-url https://caoshop.net/api/v1 \\
          --api-key - --api-secret - < caoshop-keys   # two lines: the key, the secret
    """
    from mappings import admin

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
        from bridge.supplier.budget import Budgets

        # Before the write transaction, which must not wait on the network. The request counts
        # against the key's budget, which workers buying with the same key share.
        budgets = Budgets.from_settings(current)
        try:
            check = admin.check_supplier(
                base_url,
                api_key,
                api_secret,
                timeout_seconds=current.supplier_timeout_seconds,
                budget=budgets.for_key(api_key),
            )
        finally:
            budgets.close()
        checked, clock = f"checked, balance {check.balance:,.0f}", check.clock
    with writing(current) as session:
        admin.add_supplier(
            session,
            box,
            name,
            base_url=base_url,
            api_key=api_key,
            api_secret=api_secret,
            clock=clock,
        )
    say(f"supplier {name} saved ({checked})")


@suppliers.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the suppliers: limits, key expiry, clock (never keys).

    The clock is the supplier's as measured against ours: "+300 s ± 1 s" runs five minutes
    ahead; "-" is not measured yet. The limits are the key's own as account/info tells them
    (read hourly), "default (60)" until read or when the supplier does not tell them.

    \b
    Example:
      pancake-bridge suppliers list --json
    """
    from bridge.supplier.clock import stored_clock
    from mappings import admin

    current = settings()
    with reading(current) as session:
        suppliers = admin.list_suppliers(session)
        records = [supplier.model_dump(exclude=SECRET_COLUMNS) for supplier in suppliers]
        clocks = [stored_clock(supplier) for supplier in suppliers]
    if as_json:
        print_json(records)
        return
    print_table(
        ["supplier", "base_url", "enabled", "per minute", "per day", "key expires", "clock"],
        [
            [
                r["name"],
                r["base_url"],
                "yes" if r["enabled"] else "no",
                _limit(r["rate_limit"], current.supplier_rate_limit),
                _limit(r["daily_limit"], current.supplier_daily_limit),
                r["key_expires_at"].strftime("%Y-%m-%d %H:%M UTC") if r["key_expires_at"] else "-",
                c.describe() if c else "-",
            ]
            for r, c in zip(records, clocks, strict=True)
        ],
    )


def _limit(told: int | None, default: int) -> str:
    return str(told) if told is not None else f"default ({default})"


# A check's status; only PROBLEM fails the command.
OK, PROBLEM, SKIPPED, UNKNOWN = "ok", "PROBLEM", "skipped", "unknown"


@dataclass(frozen=True)
class Line:
    check: str
    status: str
    detail: str


@dataclass
class Checked:
    """What `suppliers check` found of one supplier: a line per check, and the values read."""

    supplier: str
    lines: list[Line] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(line.status != PROBLEM for line in self.lines)

    def add(self, check: str, status: str, detail: str) -> None:
        self.lines.append(Line(check, status, detail))


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
    from mappings import admin

    current = settings()
    box = secret_box(current)
    with reading(current) as session:
        chosen = [admin.get_supplier(session, name)] if name else admin.list_suppliers(session)
        targets = [
            (supplier, box.decrypt(supplier.api_key_enc), box.decrypt(supplier.api_secret_enc))
            for supplier in chosen
        ]
    with key_budgets(current) as budgets:
        found = []
        for supplier, key, secret in targets:
            probe = admin.probe_supplier(
                supplier.base_url,
                key,
                secret,
                timeout_seconds=current.supplier_timeout_seconds,
                budget=budgets.for_key(
                    key, rate_limit=supplier.rate_limit, daily_limit=supplier.daily_limit
                ),
                name=supplier.name,
            )
            found.append(describe_probe(supplier.name, probe, supplier.enabled, current))
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


@contextmanager
def key_budgets(current: Settings) -> Iterator[Budgets]:
    """Each key's shared budget (the workers spend from the same ones), for one command."""
    from bridge.supplier.budget import Budgets

    budgets = Budgets.from_settings(current)
    try:
        yield budgets
    finally:
        budgets.close()


def failure_text(failure: SupplierFailure) -> str:
    """A refusal for a person: its code, what the supplier said, what it means, what to do."""
    said = ": ".join(part for part in (_status(failure.status), failure.said) if part)
    return (
        f"{failure.code}{f' ({said})' if said else ''}: {failure.advice.meaning}. "
        f"Next: {failure.advice.next_step}."
    )


def _status(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else ""


def describe_probe(name: str, probe: SupplierProbe, enabled: bool, current: Settings) -> Checked:
    """The lines of `suppliers check` for what ``probe_supplier`` read."""
    from bridge.db import utcnow
    from bridge.supplier.vocabulary import AUTH_CODES, ErrorCode
    from mappings.admin import Step
    from workers.fulfilment.accounts import KEY_EXPIRING, KEY_PERMISSIONS, account_alerts

    found = Checked(name)
    found.add("base URL", OK, probe.base_url + ("" if enabled else " (disabled: not bought from)"))
    balance_failed = probe.failures.get(Step.BALANCE)
    key_refused = balance_failed is not None and (
        balance_failed.stops_everything
        or balance_failed.code in AUTH_CODES | {"NO_ANSWER", ErrorCode.UNKNOWN}
    )
    if key_refused:
        assert balance_failed is not None
        found.add("auth", PROBLEM, failure_text(balance_failed))
    elif balance_failed is not None:
        found.add("auth", UNKNOWN, "not proved: account/balance was refused for another reason")
    else:
        found.add("auth", OK, "the key and secret are accepted")
    if balance_failed is not None and not key_refused:
        found.add("balance", PROBLEM, failure_text(balance_failed))
    elif probe.balance is not None:
        found.add("balance", OK, f"{probe.balance:,.0f}")
    else:
        found.add("balance", SKIPPED, "-")
    found.values["balance"] = probe.balance

    account_failed = probe.failures.get(Step.ACCOUNT)
    info = probe.account
    account_lines = ("limits", "usage today", "permissions", "key expiry")
    defaults = (
        f"the bridge keeps {current.supplier_rate_limit} a minute, "
        f"{current.supplier_daily_limit:,} a day (BRIDGE_SUPPLIER_RATE_LIMIT, "
        "BRIDGE_SUPPLIER_DAILY_LIMIT)"
    )
    if account_failed is not None:
        found.add("limits", PROBLEM, failure_text(account_failed))
        for line in account_lines[1:]:
            found.add(line, SKIPPED, "-")
    elif not probe.made(Step.ACCOUNT):
        for line in account_lines:
            found.add(line, SKIPPED, "-")
    elif info is None:
        found.add("limits", OK, f"this shop has no account/info: {defaults}")
        for line in account_lines[1:]:
            found.add(line, OK, "not told")
    else:
        found.values.update(
            rate_limit=info.rate_limit,
            daily_limit=info.daily_limit,
            used_today=info.used_today,
            permissions=sorted(info.permissions) if info.permissions is not None else None,
            key_expires_at=info.expires_at,
        )
        alerts = dict(account_alerts(name, info, utcnow()))
        if info.rate_limit is None and info.daily_limit is None:
            found.add("limits", OK, f"not told: {defaults}")
        else:
            rate = f"{info.rate_limit} a minute" if info.rate_limit else "rate not told"
            daily = f"{info.daily_limit:,} a day" if info.daily_limit else "daily limit not told"
            found.add("limits", OK, f"{rate}, {daily}")
        _usage(found, info.used_today, info.daily_limit or current.supplier_daily_limit)
        if KEY_PERMISSIONS in alerts:
            found.add(
                "permissions",
                PROBLEM,
                f"{alerts[KEY_PERMISSIONS]}. Next: grant them on the supplier's API page.",
            )
        elif info.permissions is None:
            found.add("permissions", OK, "not told")
        else:
            found.add("permissions", OK, "every one the bridge needs")
        if KEY_EXPIRING in alerts:
            found.add("key expiry", PROBLEM, alerts[KEY_EXPIRING])
        elif info.expires_at is None:
            found.add("key expiry", OK, "no expiry told")
        else:
            found.add("key expiry", OK, f"expires {_utc(info.expires_at)}")

    catalogue_failed = probe.failures.get(Step.CATALOGUE)
    if catalogue_failed is not None:
        found.add("catalogue", PROBLEM, failure_text(catalogue_failed))
    elif probe.catalogue is None:
        found.add("catalogue", SKIPPED, "-")
    else:
        plans = probe.catalogue.values()
        products = len({plan.product_name for plan in plans})
        instant = sum(1 for plan in plans if plan.is_instant)
        found.add(
            "catalogue",
            OK,
            f"{len(probe.catalogue)} plans ({instant} instant) in {products} products",
        )
        found.values.update(plans=len(probe.catalogue), products=products)
    found.values["failures"] = {
        step.value: {
            "code": failure.code,
            "status": failure.status,
            "said": failure.said,
            "meaning": failure.advice.meaning,
            "next_step": failure.advice.next_step,
        }
        for step, failure in probe.failures.items()
    }
    return found


def _usage(found: Checked, used: int | None, daily: int) -> None:
    if used is None:
        found.add("usage today", OK, "not told")
    elif used >= daily:
        found.add(
            "usage today",
            PROBLEM,
            f"{used:,} of {daily:,} requests: the day's limit is spent. Next: purchases wait "
            "until the supplier's day turns (midnight, UTC+7), or ask for a higher limit.",
        )
    else:
        found.add("usage today", OK, f"{used:,} of {daily:,} requests")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
