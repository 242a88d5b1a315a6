"""``bridge stock``: Pancake stock follows supplier stock; run and inspect the sync, set policies.

bridge stock sync [--dry-run] [--changed]   sync now and print what changed and why
bridge stock status                          the latest syncs: when, what changed, errors
bridge stock set --shop S --variation V [--no-sync | --sync] [--manual-quantity N]
bridge stock buffer --shop S N               keep N of every synced variation back
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from bridge.cli import app, output
from bridge.cli.output import (
    JsonOption,
    ProgressMode,
    ProgressOption,
    error,
    print_json,
    print_table,
    say,
    when,
)
from bridge.cli.support import open_engine, read_connection, secret_box, settings, writing
from bridge.errors import Failed

if TYPE_CHECKING:
    from workers.stock.report import StockRow, SyncReport

stock = typer.Typer(
    help=(
        "Pancake stock follows supplier stock.\n\n"
        "The sellable quantity of every synced variation follows what its suppliers can "
        "deliver.\n\n"
        "\b\nExample:\n  pancake-bridge stock sync --dry-run --changed"
    ),
    no_args_is_help=True,
)
app.add_typer(stock, name="stock")


@stock.command("sync")
def sync(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compute and print the plan; change nothing.")
    ] = False,
    changed: Annotated[
        bool, typer.Option("--changed", help="List only the variations that change.")
    ] = False,
    progress: ProgressOption = ProgressMode.AUTO,
    as_json: JsonOption = False,
) -> None:
    """Sync stock now and say what changed and why.

    Reads the suppliers' stock and pushes to Pancake what changed, less what Pancake holds
    for open orders. Exits 1 when a supplier or Pancake failed, or a plan has gone unread past
    BRIDGE_STOCK_STALE_HOURS (each is named on stderr), or another sync is running.

    \b
    Example:
      pancake-bridge stock sync --dry-run --changed
    """
    from bridge.supplier.budget import Budgets
    from workers.queue.context import Context
    from workers.stock.sync import run_exclusive, run_sync
    from workers.stock.sync_lease import SyncBusy

    current = settings()
    box = secret_box(current)  # refuses a missing key before the database is touched
    ctx = Context(current, open_engine(current), box, Budgets.from_settings(current))
    bar = output.progress_bar(progress)
    try:
        if dry_run:
            report = run_sync(ctx, trigger="cli", dry_run=True, progress=bar)
        else:
            report = run_exclusive(ctx, trigger="cli", progress=bar)
    except SyncBusy as exc:
        raise Failed(str(exc)) from None
    finally:
        bar.finish()
        ctx.close()
        ctx.engine.dispose()
    rows = sorted(report.rows, key=lambda r: (r.shop_id, r.variation_id))
    shown = [row for row in rows if row.push or not changed]
    if as_json:
        print_json(_report_record(report, shown))
    else:
        _print_report(report, shown)
    for message in [*report.errors, *report.stale]:
        error(message)
    if report.errors or report.stale:
        raise typer.Exit(1)


def _would_change(report: SyncReport) -> int:
    return sum(1 for row in report.rows if row.push) if report.dry_run else report.changed


def _report_record(report: SyncReport, rows: list[StockRow]) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "run_id": report.run_id,
        "variations": len(report.rows),
        "changed": _would_change(report),
        "skipped": report.skipped,
        "supplier_calls": report.supplier_calls,
        "pancake_calls": report.pancake_calls,
        "errors": list(report.errors),
        # Plans unread past BRIDGE_STOCK_STALE_HOURS: their Pancake stock counts 0.
        "stale": list(report.stale),
        "rows": rows,
    }


def _print_report(report: SyncReport, rows: list[StockRow]) -> None:
    one_shop = len({row.shop_id for row in report.rows}) == 1
    # A shop whose stock goes to several warehouses (or leaves one) names them on each row.
    several = {
        shop_id
        for shop_id in {row.shop_id for row in report.rows}
        if len({row.warehouse_id for row in report.rows if row.shop_id == shop_id}) > 1
    }

    def label(row: StockRow) -> str:
        name = row.variation_id if one_shop else f"{row.shop_id}/{row.variation_id}"
        return f"{name} @ {row.warehouse_id}" if row.shop_id in several else name

    print_table(
        ["variation", "supplier stock", "pancake", "new", "why"],
        [
            [
                label(row),
                row.supplier_stock,
                _number(row.pancake),
                _number(row.new),
                row.why + (f"; {row.error}" if row.error else ""),
            ]
            for row in rows
        ],
    )
    verb = "would change" if report.dry_run else "changed"
    say(
        f"\n{len(report.rows)} variations: {_would_change(report)} {verb}, "
        f"{report.skipped} left alone; "
        f"{report.supplier_calls} supplier calls, {report.pancake_calls} Pancake calls"
        + (" (dry run: nothing was changed)" if report.dry_run else "")
    )


@stock.command("status")
def status(as_json: JsonOption = False) -> None:
    """Show the latest syncs and their errors.

    Also whether the automatic sync is on and whether a sync is requested or running.

    \b
    Example:
      pancake-bridge stock status
    """
    from bridge.cli import reads

    current = settings()
    with read_connection(current) as conn:
        state = reads.stock_status(conn)
    control, runs = state.control, state.runs
    if as_json:
        print_json(
            {
                "automatic": current.stock_sync_enabled,
                "interval_seconds": current.stock_sync_interval_seconds,
                "control": reads.record(control) if control is not None else None,
                "runs": [reads.record(run) for run in runs],
            }
        )
        return
    automatic = "on" if current.stock_sync_enabled else "off (only `bridge stock sync` runs)"
    say(f"automatic stock sync: {automatic}; every {current.stock_sync_interval_seconds:g}s")
    if control is not None:
        say(
            f"requested: {when(control.requested_at)} ({control.trigger or '-'}); "
            f"running until: {when(control.running_until)}; "
            f"failures in a row: {control.failures}"
        )
    print_table(
        ["run", "trigger", "started", "seconds", "variations", "changed", "left", "calls"]
        + ["errors"],
        [
            [
                run.id,
                run.trigger,
                when(run.started_at),
                f"{(run.finished_at - run.started_at).total_seconds():.1f}"
                if run.finished_at
                else "running",
                run.variations,
                run.changed,
                run.skipped,
                f"{run.supplier_calls} supplier, {run.pancake_calls} Pancake",
                (run.errors or "").splitlines()[0][:80] if run.errors else "",
            ]
            for run in runs
        ],
    )


@stock.command("set")
def set_policy(
    shop: Annotated[str, typer.Option("--shop", help="The Pancake shop id.")],
    variation: Annotated[str, typer.Option("--variation", help="The Pancake variation id.")],
    sync: Annotated[
        bool | None,
        typer.Option(
            "--sync/--no-sync",
            help="--no-sync leaves the variation's Pancake stock to staff; --sync hands it back.",
            show_default=False,
        ),
    ] = None,
    manual_quantity: Annotated[
        int | None,
        typer.Option(
            "--manual-quantity",
            help="Fixed sellable quantity for manual (non-instant) plans.",
        ),
    ] = None,
    no_manual_quantity: Annotated[
        bool,
        typer.Option(
            "--no-manual-quantity",
            help="Don't sync a variation served by a manual plan (the default).",
        ),
    ] = False,
) -> None:
    """Set the stock-sync policy of a variation.

    The policy holds for all of the variation's choices (mappings).

    \b
    Example:
      pancake-bridge stock set --shop 4 --variation v-1 --manual-quantity 5
    """
    from workers.stock import policy

    if manual_quantity is not None and no_manual_quantity:
        raise typer.BadParameter(
            "give --manual-quantity or --no-manual-quantity, not both",
            param_hint="'--manual-quantity' / '--no-manual-quantity'",
        )
    if sync is None and manual_quantity is None and not no_manual_quantity:
        from bridge.errors import ConfigError

        raise ConfigError("nothing to set: give --sync/--no-sync or a manual quantity")
    with writing(settings()) as session:
        rows = policy.set_stock_policy(
            session,
            shop_id=shop,
            variation_id=variation,
            stock_sync=sync,
            manual_stock=manual_quantity,
            clear_manual_stock=no_manual_quantity,
        )
        first = rows[0]
        manual = "don't sync" if first.manual_stock is None else str(first.manual_stock)
        say(
            f"variation {variation}: stock sync {'on' if first.stock_sync else 'off'}, "
            f"manual plans: {manual} ({len(rows)} choice(s))"
        )


@stock.command("buffer")
def buffer(
    shop: Annotated[str, typer.Option("--shop", help="The Pancake shop id.")],
    quantity: Annotated[
        int,
        typer.Argument(
            metavar="QUANTITY", help="How many of every synced variation are kept back from sale."
        ),
    ],
) -> None:
    """Keep a safety buffer back from sale.

    Pancake then sells that many fewer of every synced variation than the suppliers can
    deliver.

    \b
    Example:
      pancake-bridge stock buffer --shop 4 2
    """
    from workers.stock import policy

    with writing(settings()) as session:
        policy.set_stock_buffer(session, shop, quantity)
    say(f"shop {shop}: {quantity} of every synced variation kept back")


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)
