"""`bridge stock ...`: run and inspect the stock sync, and set its policies.

bridge stock sync [--dry-run] [--changed]   sync now and print what changed and why
bridge stock status                          the latest syncs: when, what changed, errors
bridge stock set --shop S --variation V [--no-sync | --sync] [--manual-quantity N]
bridge stock buffer --shop S N               keep N of every synced variation back
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from bridge.cli_support import open_engine, print_table, secret_box
from bridge.db import session_scope
from bridge.errors import ConfigError
from bridge.settings import Settings
from mappings import admin
from mappings import repository as mapping_repo

# Draw the progress bar only for runs that take longer than this.
PROGRESS_AFTER_SECONDS = 0.5
BAR_WIDTH = 30


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``stock`` command group to the ``bridge`` parser."""
    stock = subparsers.add_parser("stock", help="Pancake stock follows supplier stock")
    commands = stock.add_subparsers(dest="stock", required=True)

    sync = commands.add_parser("sync", help="sync now: read suppliers, push what changed")
    sync.add_argument("--dry-run", action="store_true", help="compute and print; change nothing")
    sync.add_argument("--changed", action="store_true", help="list only variations that change")
    sync.add_argument(
        "--progress",
        choices=["auto", "always", "never"],
        default="auto",
        help="progress bar on stderr (auto: when stderr is a terminal)",
    )
    sync.set_defaults(handler=_sync)

    commands.add_parser("status", help="the latest syncs and errors").set_defaults(handler=_status)

    policy = commands.add_parser("set", help="stock-sync policy of one mapped variation")
    policy.add_argument("--shop", required=True)
    policy.add_argument("--variation", required=True)
    policy.add_argument(
        "--sync",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="--no-sync leaves the variation's Pancake stock to staff",
    )
    manual = policy.add_mutually_exclusive_group()
    manual.add_argument(
        "--manual-quantity",
        type=int,
        help="fixed sellable quantity for manual (non-instant) plans",
    )
    manual.add_argument(
        "--no-manual-quantity",
        action="store_true",
        help="don't sync a variation served by a manual plan (the default)",
    )
    policy.set_defaults(handler=_set)

    buffer = commands.add_parser("buffer", help="safety buffer of a shop")
    buffer.add_argument("--shop", required=True)
    buffer.add_argument("quantity", type=int, help="kept back from every synced variation")
    buffer.set_defaults(handler=_buffer)


def _sync(args: argparse.Namespace, settings: Settings) -> int:
    from bridge.supplier.budget import Budgets
    from workers.context import Context
    from workers.stock.sync import SyncBusy, run_exclusive, run_sync

    ctx = Context(
        settings, open_engine(settings), secret_box(settings), Budgets.from_settings(settings)
    )
    show = args.progress == "always" or (args.progress == "auto" and sys.stderr.isatty())
    bar = ProgressBar(sys.stderr, enabled=show)
    try:
        if args.dry_run:
            report = run_sync(ctx, trigger="cli", dry_run=True, progress=bar)
        else:
            report = run_exclusive(ctx, trigger="cli", progress=bar)
    except SyncBusy as exc:
        _say(f"error: {exc}", stream=sys.stderr)
        return 1
    finally:
        bar.finish()
        ctx.close()
    shops = {row.shop_id for row in report.rows}
    rows = [
        [
            row.variation_id if len(shops) == 1 else f"{row.shop_id}/{row.variation_id}",
            row.supplier_stock,
            _number(row.pancake),
            _number(row.new),
            row.why + (f"; {row.error}" if row.error else ""),
        ]
        for row in sorted(report.rows, key=lambda r: (r.shop_id, r.variation_id))
        if row.push or not args.changed
    ]
    print_table(["variation", "supplier stock", "pancake", "new", "why"], rows)
    verb = "would change" if report.dry_run else "changed"
    changed = sum(1 for row in report.rows if row.push) if report.dry_run else report.changed
    _say(
        f"\n{len(report.rows)} variations: {changed} {verb}, {report.skipped} left alone; "
        f"{report.supplier_calls} supplier calls, {report.pancake_calls} Pancake calls"
        + (" (dry run: nothing was changed)" if report.dry_run else "")
    )
    for error in report.errors:
        _say(f"error: {error}", stream=sys.stderr)
    return 1 if report.errors else 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from workers.stock.models import StockSyncControl
    from workers.stock.sync import CONTROL_ID, latest_runs

    with session_scope(open_engine(settings)) as session:
        runs = latest_runs(session)
        control = session.get(StockSyncControl, CONTROL_ID)
    state = "on" if settings.stock_sync_enabled else "off (only `bridge stock sync` runs)"
    _say(f"automatic stock sync: {state}; every {settings.stock_sync_interval_seconds:g}s")
    if control is not None:
        _say(
            f"requested: {_when(control.requested_at)} ({control.trigger or '-'}); "
            f"running until: {_when(control.running_until)}; "
            f"failures in a row: {control.failures}"
        )
    print_table(
        [
            "run",
            "trigger",
            "started",
            "seconds",
            "variations",
            "changed",
            "left",
            "calls",
            "errors",
        ],
        [
            [
                run.id,
                run.trigger,
                _when(run.started_at),
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
    return 0


def _set(args: argparse.Namespace, settings: Settings) -> int:

    if args.sync is None and args.manual_quantity is None and not args.no_manual_quantity:
        raise ConfigError("nothing to set: give --sync/--no-sync or a manual quantity")
    with session_scope(open_engine(settings)) as session:
        rows = mapping_repo.set_stock_policy(
            session,
            shop_id=args.shop,
            variation_id=args.variation,
            stock_sync=args.sync,
            manual_stock=args.manual_quantity,
            clear_manual_stock=args.no_manual_quantity,
        )
        first = rows[0]
        manual = "don't sync" if first.manual_stock is None else str(first.manual_stock)
        _say(
            f"variation {args.variation}: stock sync {'on' if first.stock_sync else 'off'}, "
            f"manual plans: {manual} ({len(rows)} choice(s))"
        )
    return 0


def _buffer(args: argparse.Namespace, settings: Settings) -> int:

    with session_scope(open_engine(settings)) as session:
        admin.set_stock_buffer(session, args.shop, args.quantity)
    _say(f"shop {args.shop}: {args.quantity} of every synced variation kept back")
    return 0


class ProgressBar:
    """``progress(phase, done, total)`` drawn on one terminal line, once a run takes a while."""

    def __init__(
        self,
        stream: TextIO,
        *,
        enabled: bool,
        clock: Callable[[], float] = time.monotonic,
        after: float = PROGRESS_AFTER_SECONDS,
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._clock = clock
        self._start = clock()
        self._after = after
        self._drawn = False

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        if not self._enabled or self._clock() - self._start < self._after:
            return
        if total:
            filled = BAR_WIDTH * min(done, total) // total
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            line = f"{phase} [{bar}] {done}/{total}"
        else:
            line = f"{phase}: page {done}"
        self._stream.write(f"\r{line:<79}")
        self._stream.flush()
        self._drawn = True

    def finish(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False


def _number(value: int | None) -> str:
    return "-" if value is None else str(value)


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else "-"


def _say(text: str, *, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    out.write(text + "\n")
