"""``bridge mappings export|import|check``: the mappings as a CSV file, and checked against the
live catalogues. The same ``mappings`` group as the editing commands (``bridge/cli/mappings.py``);
what they do is in ``mappings.transfer`` and ``mappings.check``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bridge.cli import output
from bridge.cli.mappings import (
    ACTOR,
    AllowLossOption,
    OfflineOption,
    catalogues_of,
    mappings,
    supplier_clients,
    value_text,
    variations_of,
)
from bridge.cli.output import (
    JsonOption,
    ProgressMode,
    ProgressOption,
    error,
    note,
    print_json,
    print_table,
    say,
)
from bridge.cli.support import reading, settings, writing
from bridge.errors import Failed

if TYPE_CHECKING:
    from mappings.check import CheckReport
    from mappings.transfer import ImportPlan


@mappings.command("export")
def export(
    file: Annotated[
        str, typer.Argument(metavar="FILE.csv", help="Where to write it; - for stdout.")
    ],
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's mappings.")] = None,
    bom: Annotated[
        bool,
        typer.Option("--bom", help="Start with a UTF-8 BOM, which some spreadsheets need."),
    ] = False,
) -> None:
    """Write the mappings to a CSV file, one row per choice.

    UTF-8, with the columns `import` reads. Importing the file again changes nothing; edit it
    in a spreadsheet and `import` it.

    \b
    Example:
      pancake-bridge mappings export mappings.csv --shop 4
    """
    from mappings import transfer

    with reading(settings()) as session:
        rows = transfer.export_rows(session, shop_id=shop)
    text = transfer.to_csv(rows, bom=bom)
    if file == "-":
        sys.stdout.write(text)
        return
    Path(file).write_text(text, encoding="utf-8", newline="")
    variations = len({(row["shop_id"], row["variation_id"]) for row in rows})
    say(f"{len(rows)} choice(s) of {variations} mapping(s) written to {file}")


@mappings.command("import")
def import_(
    file: Annotated[Path, typer.Argument(metavar="FILE.csv", help="A file as `export` writes it.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing.")
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="Also remove mappings of the file's shops that the file leaves out."
        ),
    ] = False,
    offline: OfflineOption = False,
    allow_loss: AllowLossOption = False,
) -> None:
    """Make the mappings what a CSV file says, all or nothing.

    For each variation in the file, its choices become the file's rows: new rows are added,
    changed ones edited, left-out ones removed. Every row is checked first, new or changed ones
    as `add` checks them (placeholders; unless --offline, the variation in Pancake and the plan
    in the catalogue; a loss unless --allow-loss); one bad row refuses the whole file, and
    each bad row is printed with its line number. A BOM and ; separators are accepted.

    \b
    Example:
      pancake-bridge mappings import mappings.csv --dry-run
    """
    from mappings import transfer

    try:
        text = file.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        from bridge.errors import ConfigError

        raise ConfigError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        from bridge.errors import ConfigError

        raise ConfigError(
            f"{file} is not UTF-8 (byte {exc.start}): save it as CSV UTF-8 from the spreadsheet"
        ) from None
    current = settings()
    try:
        rows, form_errors = transfer.read_csv(text)
        catalogues = variations = None
        if not offline:
            catalogues = catalogues_of(current, sorted({row.supplier for row in rows}))
            variations = variations_of(current, sorted({row.shop_id for row in rows}))
        with writing(current) as session:
            plan = transfer.plan_import(
                session,
                rows,
                form_errors,
                catalogues=catalogues,
                prune=prune,
                variations=variations,
                allow_loss=allow_loss,
            )
            if not dry_run:
                transfer.apply_import(session, plan, actor=ACTOR, source=f"import {file.name}")
    except transfer.ImportRejected as rejected:
        for bad in rejected.errors:
            error(f"line {bad.line}: {bad.reason}")
        raise
    _print_plan(plan, dry_run)


def _print_plan(plan: ImportPlan, dry_run: bool) -> None:
    from mappings.audit import Action

    print_table(
        ["line", "action", "shop", "variation", "choice", "change"],
        [
            [
                change.line or "-",
                change.action,
                change.shop_id,
                change.variation_id,
                (
                    f"{change.supplier} plan {change.plan_id}"
                    + (f" (#{change.choice_id})" if change.choice_id else "")
                    if change.supplier
                    else "mapping"
                ),
                "; ".join(
                    f"{key}: {value_text((change.before or {}).get(key))} -> {value_text(value)}"
                    for key, value in (change.after or {}).items()
                    if change.before is None or change.before.get(key) != value
                ),
            ]
            for change in plan.changes
        ],
    )
    counts = ", ".join(f"{plan.count(action)} {action}" for action in Action if plan.count(action))
    verb = "would change" if dry_run else "changed"
    say(
        f"\n{plan.rows} row(s): {counts or 'nothing to change'}"
        + (f" ({verb})" if counts else "")
        + (" (dry run: nothing was changed)" if dry_run else "")
    )


@mappings.command("check")
def check(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's mappings.")] = None,
    supplier: Annotated[
        str | None, typer.Option("--supplier", help="Only the choices of this supplier.")
    ] = None,
    progress: ProgressOption = ProgressMode.AUTO,
    as_json: JsonOption = False,
) -> None:
    """Check every mapping against the live catalogues.

    For each choice: the variation exists in Pancake, the plan exists at the supplier and its
    required fields are in the template; prints price, stock and margin (Pancake retail
    price - supplier price x units). A shop that ignores paging is read per category and by
    search; a plan not found in what could be read is "not in what could be read of the
    catalogue", not vanished. Exits 1 when an enabled choice has a negative margin, a
    vanished or unread plan, a missing variation, uncovered fields, or could not be checked.

    \b
    Example:
      pancake-bridge mappings check --shop 4
    """
    from mappings import check as checking

    current = settings()
    with reading(current) as session:
        given = checking.load(session, shop_id=shop, supplier_name=supplier)
        session.expunge_all()
    bar = output.progress_bar(progress)
    try:
        with supplier_clients(current) as ctx:
            report = checking.check(
                given,
                supplier_clients=ctx.supplier,
                pancake_clients=ctx.pancake,
                progress=bar,
            )
    finally:
        bar.finish()
    if as_json:
        print_json(_check_record(report))
    else:
        _print_check(report)
    for where, reason in sorted(report.unreadable.items()):
        error(f"{where} could not be read: {reason}")
    for name, gap in sorted(report.gaps.items()):
        unread = sum(1 for row in report.unread if row.supplier_name == name)
        found = f"{unread} mapped plan(s) not found" if unread else "every mapped plan found"
        note(f"supplier {name}'s catalogue could be read only in part ({found}): {gap}")
    if report.failing or report.unreadable:
        raise Failed(f"{len(report.failing)} choice(s) need attention")


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _check_record(report: CheckReport) -> dict[str, Any]:
    return {
        "rows": [
            output.plain(row) | {"cost": row.cost, "margin": row.margin, "failing": row.failing}
            for row in report.rows
        ],
        "failing": len(report.failing),
        "unreadable": report.unreadable,
        "catalogue_gaps": report.gaps,
        "supplier_calls": report.supplier_calls,
        "pancake_calls": report.pancake_calls,
    }


def _print_check(report: CheckReport) -> None:
    from mappings.check import Problem

    print_table(
        ["choice", "shop", "variation", "name", "price", "supplier", "plan", "units", "cost"]
        + ["margin", "stock", "problems"],
        [
            [
                row.choice_id,
                row.shop_id,
                row.variation_id,
                row.variation_name or row.name or "-",
                _money(row.retail_price),
                row.supplier_name,
                row.plan_id,
                row.units,
                _money(row.cost),
                _money(row.margin),
                _stock(row.stock, row.in_stock, row.is_instant),
                ("; ".join(row.details) or "ok")
                + ("" if row.active or not row.details else " (disabled: not failing)"),
            ]
            for row in report.rows
        ],
    )
    found = {
        "negative margin": report.count(Problem.NEGATIVE_MARGIN),
        "vanished plan": report.count(Problem.PLAN_VANISHED),
        "unread plan": report.count(Problem.PLAN_UNREAD),
        "uncovered fields": report.count(Problem.FIELDS_UNCOVERED),
        "missing variation": report.count(Problem.VARIATION_MISSING),
        "bad placeholder": report.count(Problem.BAD_PLACEHOLDER),
        "not checked": report.count(Problem.UNREADABLE),
    }
    problems = ", ".join(f"{count} {what}" for what, count in found.items() if count)
    calls = sum(report.supplier_calls.values())
    say(
        f"\n{len(report.rows)} choice(s) checked: {problems or 'no problem found'}; "
        f"{calls} supplier calls, {report.pancake_calls} Pancake calls"
    )


def _stock(stock: int | None, in_stock: bool | None, is_instant: bool | None) -> str:
    if in_stock is None:
        return "-"
    if not is_instant:
        return "manual" if in_stock else "manual, closed"
    return str(stock)
