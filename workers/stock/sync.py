"""stock.sync: Pancake's sellable quantity follows what the suppliers can deliver.

One sync covers every shop: each supplier used by a synced variation is read once (balance, then
its catalogue: ``products/list`` at 100 a page, or around a listing that ignores paging, see
``bridge.supplier.catalogue``), the sellable quantity of every variation
is computed (``sellable``, less what Pancake holds for open orders: ``holds``) for each warehouse
that gets the shop's stock (``warehouses``), and only the values that differ from the last
successful push — or that Pancake reported differently since (a staff edit, a sale) and does not
already show — are sent, in batches, with ``POST /shops/<id>/variations/update_quantity``
(``push``). A second sync with nothing changed makes no Pancake call at all.

What triggers a sync is in ``triggers``; one sync at a time across hosts is ``sync_lease``; the
bookkeeping of pushed values is ``levels``; what a sync saw and did is ``report``.

Failures leave Pancake's last values in place: a supplier that cannot be read leaves its
variations untouched until its plans are stale (``staleness``: then they count 0), a Pancake
failure stops the pushes for that shop. Either way the run records the error (``bridge stock
status``) and a retry is requested with backoff."""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import NamedTuple

from sqlalchemy import select as select_columns
from sqlmodel import col, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.supplier.breaker import is_paused
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.catalogue import read_catalogue
from bridge.supplier.errors import SupplierError
from bridge.supplier.models import Supplier
from bridge.supplier.shelf import record_shelves
from mappings.models import MappingChoice
from mappings.repository import disabled_variations
from workers.queue.context import Context
from workers.queue.dispatch import STOCK_SYNC, Send
from workers.stock import warehouses
from workers.stock.holds import prune, warehouses_in_use
from workers.stock.levels import LevelKeys, forget, mark_pushed
from workers.stock.models import StockLevel, StockShop
from workers.stock.push import push
from workers.stock.report import StockRow, SyncReport, close_run, open_run
from workers.stock.reservations import Reservations, reservations
from workers.stock.sellable import (
    Choice,
    PlanKey,
    Plans,
    PlanStock,
    Sellable,
    SupplierSnapshot,
    sellable,
)
from workers.stock.staleness import last_readings, stale_plans
from workers.stock.sync_lease import SyncBusy, TooSoon, claim, release, renew
from workers.suppliers.balance import note_balance

Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


def sync_stock(ctx: Context, control_id: int) -> list[Send]:
    """The ``stock.sync`` step: run the requested sync unless another one is running."""
    try:
        trigger = claim(ctx, require_request=True, spaced=True)
    except SyncBusy:
        # The request stays set, so no other message carries it: come back after this one.
        return [Send(STOCK_SYNC, control_id, ctx.settings.stock_debounce_seconds)]
    except TooSoon as exc:
        return [Send(STOCK_SYNC, control_id, exc.wait)]
    if trigger is None:
        return []  # a duplicate message: its request was served already
    report: SyncReport | None = None
    try:
        report = run_sync(ctx, trigger=trigger)
    except Exception as exc:  # noqa: BLE001 - recorded on the run; retried with backoff
        event("stock.sync.crashed", logging.ERROR, error=type(exc).__name__, detail=str(exc)[:200])
    return release(ctx, report, retry=True)


def run_exclusive(ctx: Context, *, trigger: str, progress: Progress = _no_progress) -> SyncReport:
    """A sync now, holding the lease (`bridge stock sync`); ``SyncBusy`` if one is running."""
    claim(ctx, require_request=False, spaced=False)
    report: SyncReport | None = None
    try:
        report = run_sync(ctx, trigger=trigger, progress=progress)
    finally:
        release(ctx, report, retry=False)
    return report


class _Level(NamedTuple):
    """A stock level as a sync reads it: the columns it uses, not an ORM object (a sync of
    100,000 variations reads 100,000 levels and 100,000 mappings: as objects they cost the
    stock bench ~180 MB more at its peak and ~8 s more of a no-change sync)."""

    id: int
    pushed_quantity: int | None
    pushing_quantity: int | None
    pancake_quantity: int | None
    reported_at: datetime | None


# What a sync keeps per variation and per level lives until the sync ends: at 100,000
# variations some 300,000 records. They are kept as plain tuples of ints, strings, datetimes and
# None, which CPython's garbage collector stops tracking the first time it sees them. A
# NamedTuple, a dataclass or a list stays tracked, and every full collection walks them all again,
# more of them and more collections the bigger the catalogue: the full sync grew faster than
# linearly. Each record takes its named form (``_Level``, ``Choice``) only where it is used.
_LevelRow = tuple[int, int | None, int | None, int | None, datetime | None]  # _Level's fields
_ChoiceRow = tuple[str, int, int, int | None]  # Choice's fields


def _level(row: _LevelRow | None) -> _Level | None:
    return _Level._make(row) if row is not None else None


_LEVEL_COLUMNS = ("shop_id", "variation_id", "warehouse_id", *_Level._fields)


class _Mapped(NamedTuple):
    """A mapping choice as a sync reads it (see ``_Level``)."""

    shop_id: str
    variation_id: str
    supplier_name: str
    plan_id: int
    units: int
    manual_stock: int | None
    stock_sync: bool
    created_at: datetime


@dataclass
class _World:
    """What a sync reads from the database, in one transaction, before any API call."""

    shops: dict[str, PancakeShop]
    # (shop, variation) -> choices, best first
    variations: dict[tuple[str, str], tuple[_ChoiceRow, ...]]
    suppliers: dict[str, Supplier]
    levels: dict[tuple[str, str, str], _LevelRow]
    listings: dict[str, StockShop]  # each shop's remembered warehouse listing
    in_use: dict[str, set[str]]  # per shop, the warehouses open orders hold stock in
    mapped_at: dict[PlanKey, datetime]  # when each synced plan was first mapped
    read_at: datetime
    # Levels to drop once the pushes are done: a warehouse no longer used, a retired one.
    dropped: list[int] = field(default_factory=list)

    def unsynced_levels(self) -> list[int]:
        """Levels of variations no longer synced: staff keep their stock, and turning sync on
        again pushes afresh."""
        return [
            level_id
            for (shop_id, variation_id, _), (level_id, *_) in self.levels.items()
            if level_id is not None and (shop_id, variation_id) not in self.variations
        ]

    def level_id(self, row: StockRow) -> int | None:
        level = _level(self.levels.get((row.shop_id, row.variation_id, row.warehouse_id)))
        return level.id if level is not None else None


def run_sync(
    ctx: Context, *, trigger: str, dry_run: bool = False, progress: Progress = _no_progress
) -> SyncReport:
    """One sync of every shop. ``dry_run`` reads and computes but writes nothing anywhere."""
    report = SyncReport(trigger=trigger, dry_run=dry_run)
    started = ctx.clock()
    if not dry_run:
        report.run_id = open_run(ctx, trigger, started)
    try:
        world = _load(ctx, started)
        snapshots = _read_suppliers(ctx, world, report, progress)
        with session_scope(ctx.engine) as session:
            reserved = reservations(session, since=started)
        by_shop: dict[str, list[str]] = defaultdict(list)
        for shop_id, variation_id in world.variations:
            by_shop[shop_id].append(variation_id)
        for shop_id in sorted(by_shop):
            results = _sellables(world, snapshots, reserved, shop_id, by_shop[shop_id])
            _sync_shop(ctx, world, shop_id, results, report, progress)
        if not dry_run:
            forget(ctx, sorted({*world.unsynced_levels(), *world.dropped}))
            with session_scope(ctx.engine) as session:
                prune(session, started)
    except Exception as exc:
        report.errors.append(f"sync stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        if report.run_id is not None:
            close_run(ctx, report)
    event(
        "stock.sync.done",
        logging.WARNING if report.errors else logging.INFO,
        trigger=trigger,
        dry_run=dry_run,
        variations=len(report.rows),
        changed=report.changed,
        supplier_calls=report.supplier_calls,
        pancake_calls=report.pancake_calls,
        errors=len(report.errors),
        stale=len(report.stale),
    )
    return report


def _load(ctx: Context, now: datetime) -> _World:
    with session_scope(ctx.engine) as session:
        # A disabled shop is left to its staff: nothing is pushed to it.
        shops = {
            shop.shop_id: shop
            for shop in session.exec(select(PancakeShop).where(col(PancakeShop.enabled).is_(True)))
        }
        # A mapping disabled as a whole is neither bought nor synced: staff keep its stock.
        disabled = disabled_variations(session)
        suppliers = {supplier.name: supplier for supplier in session.exec(select(Supplier))}
        variations: dict[tuple[str, str], tuple[_ChoiceRow, ...]] = {}
        mapped_at: dict[PlanKey, datetime] = {}
        mappings = session.connection().execute(
            select_columns(*(col(getattr(MappingChoice, name)) for name in _Mapped._fields))
            .where(col(MappingChoice.enabled).is_(True))
            .order_by(col(MappingChoice.shop_id), col(MappingChoice.variation_id))
            .order_by(col(MappingChoice.priority), col(MappingChoice.id))
        )
        # Grouped as the rows stream in (ordered by variation), not held as a list first.
        for (shop_id, variation_id), group in groupby(map(_Mapped._make, mappings), _variation):
            # A removed (or disabled) shop is not pushed to.
            if shop_id not in shops or (shop_id, variation_id) in disabled:
                continue
            rows = list(group)
            if not all(m.stock_sync for m in rows):
                continue
            # The driver makes a new string of every row's shop, supplier and warehouse name:
            # interned, one of each is kept (100,000 copies of one were ~5 MB).
            choices = tuple(
                (sys.intern(m.supplier_name), m.plan_id, m.units, m.manual_stock) for m in rows
            )
            variations[(sys.intern(shop_id), variation_id)] = choices
            for (supplier_name, plan_id, *_), m in zip(choices, rows, strict=True):
                plan = (supplier_name, plan_id)
                mapped_at[plan] = min(mapped_at.get(plan, m.created_at), m.created_at)
        levels = {
            (
                sys.intern(row.shop_id),
                row.variation_id,
                sys.intern(row.warehouse_id),
            ): (
                row.id,
                row.pushed_quantity,
                row.pushing_quantity,
                row.pancake_quantity,
                row.reported_at,
            )
            for row in session.connection().execute(
                select_columns(*(col(getattr(StockLevel, name)) for name in _LEVEL_COLUMNS))
            )
        }
        listings = {row.shop_id: row for row in session.exec(select(StockShop))}
        in_use = warehouses_in_use(session)
    return _World(shops, variations, suppliers, levels, listings, in_use, mapped_at, now)


def _variation(mapping: _Mapped) -> tuple[str, str]:
    return mapping.shop_id, mapping.variation_id


def _read_suppliers(
    ctx: Context, world: _World, report: SyncReport, progress: Progress
) -> dict[str, SupplierSnapshot]:
    """Each supplier once: balance, then the whole catalogue. Paused ones are not called."""
    wanted = sorted({name for choices in world.variations.values() for name, *_ in choices})
    snapshots: dict[str, SupplierSnapshot] = {}
    for name in wanted:
        supplier = world.suppliers.get(name)
        if supplier is None or is_paused(supplier, world.read_at):
            snapshots[name] = SupplierSnapshot(name, paused=True)
            continue
        snapshot = _read_catalogue(ctx, world, supplier, report, progress)
        snapshots[name] = _with_staleness(ctx, world, snapshot, report)
        if not report.dry_run:
            _note_balance(ctx, snapshots[name])
            renew(ctx)
    return snapshots


def _note_balance(ctx: Context, snapshot: SupplierSnapshot) -> None:
    """The balance just read raises or resolves the supplier's low-balance alert."""
    threshold = ctx.settings.alert_balance_threshold
    if snapshot.balance_read and threshold is not None:
        with session_scope(ctx.engine) as session:
            read_at = snapshot.balance_at or ctx.clock()
            note_balance(session, snapshot.name, snapshot.balance, threshold, read_at)


def _read_catalogue(
    ctx: Context, world: _World, supplier: Supplier, report: SyncReport, progress: Progress
) -> SupplierSnapshot:
    """The supplier's balance and catalogue (``read_catalogue``: whole, or around a listing
    that ignores paging, looking for the plans the synced variations use). A failure before any
    product was read leaves every plan of the supplier unread; a catalogue read only in part
    leaves unread the wanted plans it did not find, and the report says so."""
    client = ctx.supplier(supplier)
    name = supplier.name
    wanted = sorted({plan for (owner, plan) in world.mapped_at if owner == name})
    before = client.calls
    try:
        balance_at = ctx.clock()
        balance = client.balance()
        metrics.supplier_balance(name, balance)
        catalogue = read_catalogue(client, name=name, wanted=wanted, progress=progress)
    except (SupplierError, BudgetExhausted) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        report.errors.append(f"supplier {name}: {detail}")
        event("stock.supplier.unreadable", logging.WARNING, supplier=name, error=detail)
        return SupplierSnapshot(name, error=type(exc).__name__)
    finally:
        report.calls_by_supplier[name] += client.calls - before
    plans = Plans(
        (plan_id, PlanStock(plan.is_instant, plan.stock_count, plan.in_stock, plan.final_price))
        for plan_id, plan in catalogue.items()
    )
    if not report.dry_run:
        # Kept per plan: a purchase tries a choice that read sold out after the others. A read
        # in part replaces only what it read: the plans it missed keep their last good reading,
        # which says how long they may keep their last value (``staleness``).
        with session_scope(ctx.engine) as session:
            record_shelves(session, name, plans, ctx.clock(), whole=catalogue.complete)
    if catalogue.unread:
        # Only the synced variations' plans are looked for: a gap elsewhere is no concern here.
        unread = ", ".join(str(plan) for plan in sorted(catalogue.unread))
        report.errors.append(
            f"supplier {name}: catalogue read in part ({catalogue.describe()}); plans unread: "
            f"{unread}"
        )
        event("stock.supplier.read_in_part", logging.WARNING, supplier=name, unread=unread)
        return SupplierSnapshot(
            name,
            error="read in part",
            balance=balance,
            balance_at=balance_at,
            plans=plans,
            unread=catalogue.unread,
        )
    return SupplierSnapshot(name, balance=balance, balance_at=balance_at, plans=plans)


def _with_staleness(
    ctx: Context, world: _World, snapshot: SupplierSnapshot, report: SyncReport
) -> SupplierSnapshot:
    """An unread plan whose last good reading is older than ``stock_stale_hours`` counts 0
    from now on, and the report names it."""
    if snapshot.error is None:
        return snapshot
    name = snapshot.name
    mapped = {plan: at for (supplier, plan), at in world.mapped_at.items() if supplier == name}
    unread = [plan for plan in mapped if snapshot.is_unread(plan)]
    with session_scope(ctx.engine) as session:
        readings = last_readings(session, name, unread)
    stale = stale_plans(unread, readings, mapped, world.read_at, ctx.settings.stock_stale_hours)
    manual = frozenset(plan for plan, reading in readings.items() if not reading.is_instant)
    # A manual plan counts only where a fixed quantity stands in for it; elsewhere it is not
    # synced at all, stale or not.
    counted = {
        plan_id
        for choices in world.variations.values()
        for supplier_name, plan_id, _, manual_stock in choices
        if supplier_name == name and (plan_id not in manual or manual_stock is not None)
    }
    for plan_id, since in stale.items():
        if plan_id in counted:
            report.stale.append(f"plan {name}/{plan_id} {since}: its Pancake stock counts 0")
    return replace(snapshot, stale=stale, manual=manual)


def _sellables(
    world: _World,
    snapshots: Mapping[str, SupplierSnapshot],
    reserved: Reservations,
    shop_id: str,
    variation_ids: Iterable[str],
) -> Iterator[tuple[str, Sellable]]:
    """Each of the shop's synced variations with its sellable quantity, computed as its row is
    made rather than all held first (100,000 outcomes with their sentences were ~30 MB)."""
    buffer = world.shops[shop_id].stock_buffer
    for variation_id in variation_ids:
        key = (shop_id, variation_id)
        yield (
            variation_id,
            sellable(
                [Choice._make(choice) for choice in world.variations[key]],
                snapshots,
                reserved.units,
                pending=reserved.items.get(key, 0),
                held=reserved.held.get(key, 0),
                buffer=buffer,
            ),
        )


def _sync_shop(
    ctx: Context,
    world: _World,
    shop_id: str,
    results: Iterable[tuple[str, Sellable]],
    report: SyncReport,
    progress: Progress,
) -> None:
    shop = world.shops[shop_id]
    try:
        targets = _targets(ctx, world, shop, report)
    except (PancakeUnavailable, PancakeRequestError, LookupError) as exc:
        report.errors.append(f"shop {shop_id}: no warehouse: {exc}")
        report.rows.extend(
            StockRow(shop_id, variation_id, result.supplier_stock, None, None, "no warehouse")
            for variation_id, result in results
        )
        return
    rows = [
        _decide(
            shop_id,
            variation_id,
            warehouse,
            result,
            _level(world.levels.get((shop_id, variation_id, warehouse))),
        )
        for variation_id, result in results
        for warehouse in targets.warehouses
    ]
    rows += _retirements(world, shop_id, targets)
    report.rows.extend(rows)
    if report.dry_run:
        return
    # Pancake's own reservations brought these where they belong: recorded, no call.
    with session_scope(ctx.engine) as session:
        confirmed = [row for row in rows if row.confirm]
        mark_pushed(session.connection(), LevelKeys(shop_id), confirmed, ctx.clock(), world.read_at)
    changes = [row for row in rows if row.push]
    if changes:
        push(ctx, shop, changes, report, progress, world.read_at)
    # A retired warehouse is forgotten once it shows 0, or once Pancake refused it (gone).
    world.dropped += [
        level_id
        for row in changes
        if row.retire and (row.error is None or row.error.startswith("Pancake refused"))
        if (level_id := world.level_id(row)) is not None
    ]


def _targets(
    ctx: Context, world: _World, shop: PancakeShop, report: SyncReport
) -> warehouses.Targets:
    """Where the shop's stock goes (``warehouses``): the remembered listing, or one call."""
    configured = warehouses.configured(shop)
    if configured is not None:
        return configured
    in_use = world.in_use.get(shop.shop_id, set())
    listing = warehouses.remembered(world.listings.get(shop.shop_id), world.read_at)
    if listing is not None:
        return warehouses.choose(listing, in_use)
    report.pancake_calls += 1
    listing = warehouses.read_listing(ctx, shop)
    targets = warehouses.choose(listing, in_use)
    if not report.dry_run:
        stocked = {w for (s, _, w) in world.levels if s == shop.shop_id}
        warehouses.remember(ctx, shop, listing, targets, stocked)
    return targets


def _decide(
    shop_id: str, variation_id: str, warehouse: str, result: Sellable, level: _Level | None
) -> StockRow:
    """What one (variation, warehouse) needs: a push, a confirmation without a call, or
    nothing."""
    known = _known_value(level)
    row = StockRow(
        shop_id, variation_id, result.supplier_stock, known, result.quantity, warehouse_id=warehouse
    )
    if result.quantity is None:
        row.why = result.why
    elif level is None or level.pushed_quantity is None:
        row.push, row.why = True, f"{result.why}; first push"
    elif level.reported_at is not None and level.pancake_quantity == result.quantity:
        # An order's reservation (or a staff edit) took Pancake to the very value due.
        row.confirm, row.why = True, f"{result.why}; Pancake already shows it"
    elif level.reported_at is not None:
        row.push, row.why = True, f"{result.why}; Pancake changed it to {known}"
    elif level.pushed_quantity != result.quantity:
        row.push, row.why = True, f"{result.why}; was {level.pushed_quantity}"
    else:
        row.why = f"{result.why}; unchanged"
    return row


def _retirements(world: _World, shop_id: str, targets: warehouses.Targets) -> list[StockRow]:
    """Synced variations' levels in warehouses that no longer get the stock: set to 0 where
    the bridge left units and the warehouse is still there; otherwise just forgotten."""
    rows: list[StockRow] = []
    for (level_shop, variation_id, warehouse), row in world.levels.items():
        if level_shop != shop_id or warehouse in targets.warehouses:
            continue
        level = _Level._make(row)
        if level.id is None:
            continue
        if (shop_id, variation_id) not in world.variations:
            continue  # no longer synced: unsynced_levels drops it, staff keep the stock
        gone = targets.listed is not None and warehouse not in targets.listed
        left = max(level.pushed_quantity or 0, level.pushing_quantity or 0)
        if gone or left <= 0:
            world.dropped.append(level.id)
            continue
        rows.append(
            StockRow(
                shop_id,
                variation_id,
                "-",
                _known_value(level),
                0,
                f"warehouse {warehouse} no longer gets stock (now {targets.why}): 0",
                push=True,
                warehouse_id=warehouse,
                retire=True,
            )
        )
    return rows


def _known_value(level: _Level | None) -> int | None:
    if level is None:
        return None
    if level.reported_at is not None and level.pancake_quantity is not None:
        return level.pancake_quantity
    return level.pushed_quantity
