"""stock.sync: Pancake's sellable quantity follows what the suppliers can deliver.

One sync covers every shop: each supplier used by a synced variation is read once (balance, then
``products/list`` at 100 a page following ``has_more``), the sellable quantity of every variation
is computed (``sellable``), and only the values that differ from the last successful push —
or that Pancake reported differently since (a staff edit, a sale) — are sent, in batches, with
``POST /shops/<id>/variations/update_quantity``. A second sync with nothing changed makes no
Pancake call at all.

What triggers a sync is in ``triggers``; one sync at a time across hosts is ``sync_lease``; the
bookkeeping of pushed values is ``levels``; what a sync saw and did is ``report``.

Failures leave Pancake's last values in place: a supplier that cannot be read leaves its
variations untouched, a Pancake failure stops the pushes for that shop. Either way the run
records the error (``bridge stock status``) and a retry is requested with backoff."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import col, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import QuantityUpdate
from bridge.supplier.breaker import is_paused
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import SupplierError
from bridge.supplier.models import Supplier
from mappings.models import MappingChoice
from mappings.repository import disabled_variations
from workers.alerts.store import raise_alert
from workers.queue.context import Context
from workers.queue.dispatch import STOCK_SYNC, Send
from workers.stock.levels import LevelKeys, clear_pushing, forget, mark_pushed, mark_pushing
from workers.stock.models import StockLevel, StockShop
from workers.stock.report import StockRow, SyncReport, close_run, open_run
from workers.stock.reservations import reservations
from workers.stock.sellable import Choice, PlanStock, Sellable, SupplierSnapshot, sellable
from workers.stock.sync_lease import SyncBusy, TooSoon, claim, release, renew
from workers.suppliers.balance import note_balance

CATALOGUE_PAGE_SIZE = 100


# How often a remembered warehouse is checked against Pancake's list (one call per shop).
RECHECK = timedelta(hours=1)
WAREHOUSE_GONE = "stock_warehouse_gone"
ENTRY_REFUSALS = frozenset({200, 400, 422})


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


@dataclass
class _World:
    """What a sync reads from the database, in one transaction, before any API call."""

    shops: dict[str, PancakeShop]
    variations: dict[tuple[str, str], list[Choice]]  # (shop, variation) -> choices, best first
    suppliers: dict[str, Supplier]
    levels: dict[tuple[str, str, str], StockLevel]
    # The warehouse found per shop (StockShop), and when Pancake last listed it.
    warehouses: dict[str, tuple[str, datetime]]
    read_at: datetime
    resolved: dict[str, str] = field(default_factory=dict)  # the warehouse each shop used

    def stale_levels(self) -> list[int]:
        """Levels of variations no longer synced, or of a warehouse no longer used. Shops
        whose warehouse could not be resolved this time keep theirs."""
        return [
            level.id
            for (shop_id, variation_id, warehouse), level in self.levels.items()
            if level.id is not None
            and (
                (shop_id, variation_id) not in self.variations
                or self.resolved.get(shop_id, warehouse) != warehouse
            )
        ]


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
        by_shop: dict[str, list[tuple[str, Sellable]]] = defaultdict(list)
        for key, choices in world.variations.items():
            shop_id, variation_id = key
            result = sellable(
                choices,
                snapshots,
                reserved.units,
                pending=reserved.items.get(key, 0),
                buffer=world.shops[shop_id].stock_buffer,
            )
            by_shop[shop_id].append((variation_id, result))
        for shop_id in sorted(by_shop):
            _sync_shop(ctx, world, shop_id, by_shop[shop_id], report, progress)
        if not dry_run:
            forget(ctx, world.stale_levels())
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
    )
    return report


def _load(ctx: Context, now: datetime) -> _World:
    with session_scope(ctx.engine) as session:
        mappings = session.exec(
            select(MappingChoice)
            .where(col(MappingChoice.enabled).is_(True))
            .order_by(col(MappingChoice.shop_id), col(MappingChoice.variation_id))
            .order_by(col(MappingChoice.priority), col(MappingChoice.id))
        ).all()
        # A mapping disabled as a whole is neither bought nor synced: staff keep its stock.
        disabled = disabled_variations(session)
        shops = {shop.shop_id: shop for shop in session.exec(select(PancakeShop))}
        suppliers = {supplier.name: supplier for supplier in session.exec(select(Supplier))}
        levels = {
            (level.shop_id, level.variation_id, level.warehouse_id): level
            for level in session.exec(select(StockLevel))
        }
        warehouses = {
            row.shop_id: (row.warehouse_id, row.updated_at)
            for row in session.exec(select(StockShop))
        }
    grouped: dict[tuple[str, str], list[MappingChoice]] = defaultdict(list)
    for mapping in mappings:
        key = (mapping.shop_id, mapping.variation_id)
        # A removed shop cannot be pushed to.
        if mapping.shop_id in shops and key not in disabled:
            grouped[key].append(mapping)
    variations = {
        key: [Choice(m.supplier_name, m.plan_id, m.units, m.manual_stock) for m in rows]
        for key, rows in grouped.items()
        if all(m.stock_sync for m in rows)
    }
    return _World(shops, variations, suppliers, levels, warehouses, now)


def _read_suppliers(
    ctx: Context, world: _World, report: SyncReport, progress: Progress
) -> dict[str, SupplierSnapshot]:
    """Each supplier once: balance, then the whole catalogue. Paused ones are not called."""
    wanted = sorted({c.supplier_name for choices in world.variations.values() for c in choices})
    snapshots: dict[str, SupplierSnapshot] = {}
    for name in wanted:
        supplier = world.suppliers.get(name)
        if supplier is None or is_paused(supplier, world.read_at):
            snapshots[name] = SupplierSnapshot(name, paused=True)
            continue
        snapshots[name] = _read_catalogue(ctx, supplier, report, progress)
        if not report.dry_run:
            _note_balance(ctx, snapshots[name])
            renew(ctx)
    return snapshots


def _note_balance(ctx: Context, snapshot: SupplierSnapshot) -> None:
    """The balance just read raises or resolves the supplier's low-balance alert."""
    threshold = ctx.settings.alert_balance_threshold
    if snapshot.error is None and threshold is not None:
        with session_scope(ctx.engine) as session:
            note_balance(session, snapshot.name, snapshot.balance, threshold, ctx.clock())


def _read_catalogue(
    ctx: Context, supplier: Supplier, report: SyncReport, progress: Progress
) -> SupplierSnapshot:
    client = ctx.supplier(supplier)
    plans: dict[int, PlanStock] = {}
    try:
        report.calls_by_supplier[supplier.name] += 1
        balance = client.balance()
        metrics.supplier_balance(supplier.name, balance)
        pages = client.iter_product_pages(limit=CATALOGUE_PAGE_SIZE)
        for number, result in enumerate(pages, start=1):
            report.calls_by_supplier[supplier.name] += 1
            for product in result.products:
                for plan in product.plans:
                    plans[plan.id] = PlanStock(
                        plan.is_instant, plan.stock_count, plan.in_stock, plan.final_price
                    )
            progress(f"reading {supplier.name}", number, None)
    except (SupplierError, BudgetExhausted) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        report.errors.append(f"supplier {supplier.name}: {detail}")
        event("stock.supplier.unreadable", logging.WARNING, supplier=supplier.name, error=detail)
        return SupplierSnapshot(supplier.name, error=type(exc).__name__)
    return SupplierSnapshot(supplier.name, balance=balance, plans=plans)


def _sync_shop(
    ctx: Context,
    world: _World,
    shop_id: str,
    results: list[tuple[str, Sellable]],
    report: SyncReport,
    progress: Progress,
) -> None:
    shop = world.shops[shop_id]
    try:
        warehouse = _warehouse(ctx, world, shop, report)
    except (PancakeUnavailable, PancakeRequestError, LookupError) as exc:
        report.errors.append(f"shop {shop_id}: no warehouse: {exc}")
        report.rows.extend(
            StockRow(shop_id, variation_id, result.supplier_stock, None, None, "no warehouse")
            for variation_id, result in results
        )
        return
    world.resolved[shop_id] = warehouse
    rows = [
        _decide(shop_id, variation_id, result, world.levels.get((shop_id, variation_id, warehouse)))
        for variation_id, result in results
    ]
    report.rows.extend(rows)
    changes = [row for row in rows if row.push]
    if changes and not report.dry_run:
        _push(ctx, world, shop, warehouse, changes, report, progress)


def _decide(
    shop_id: str, variation_id: str, result: Sellable, level: StockLevel | None
) -> StockRow:
    known = _known_value(level)
    row = StockRow(shop_id, variation_id, result.supplier_stock, known, result.quantity)
    if result.quantity is None:
        row.why = result.why
    elif level is None or level.pushed_quantity is None:
        row.push, row.why = True, f"{result.why}; first push"
    elif level.reported_at is not None:
        row.push, row.why = True, f"{result.why}; Pancake changed it to {known}"
    elif level.pushed_quantity != result.quantity:
        row.push, row.why = True, f"{result.why}; was {level.pushed_quantity}"
    else:
        row.why = f"{result.why}; unchanged"
    return row


def _known_value(level: StockLevel | None) -> int | None:
    if level is None:
        return None
    if level.reported_at is not None and level.pancake_quantity is not None:
        return level.pancake_quantity
    return level.pushed_quantity


def _warehouse(ctx: Context, world: _World, shop: PancakeShop, report: SyncReport) -> str:
    """The configured warehouse, else the one found before, else Pancake's first (remembered).

    A remembered warehouse is checked against Pancake's list once per ``RECHECK``:
    staff may have deleted it, and every push to it would then be refused. One that is gone is
    replaced by the first listed, with an alert.
    """
    if shop.warehouse_id:
        return shop.warehouse_id
    known, checked_at = world.warehouses.get(shop.shop_id, (None, None))
    if known is not None and checked_at is not None and world.read_at - checked_at < RECHECK:
        return known
    report.pancake_calls += 1
    listed = [w.id for w in ctx.pancake(shop).list_warehouses(shop.shop_id)]
    if not listed:
        raise LookupError("Pancake lists no warehouse for this shop")
    chosen = known if known in listed else listed[0]
    if not report.dry_run:
        now = ctx.clock()
        with session_scope(ctx.engine) as session:
            row = session.get(StockShop, shop.shop_id) or StockShop(
                shop_id=shop.shop_id, warehouse_id=chosen
            )
            if known is not None and known != chosen:
                raise_alert(
                    session,
                    WAREHOUSE_GONE,
                    shop.shop_id,
                    f"shop {shop.shop_id}: warehouse {known} is no longer listed by "
                    f"Pancake; stock now goes to {chosen}, its first warehouse (set another with "
                    "`bridge shops add --warehouse-id`)",
                    now,
                )
            row.warehouse_id, row.updated_at = chosen, now
            session.add(row)
    world.warehouses[shop.shop_id] = (chosen, world.read_at)
    return chosen


def _push(
    ctx: Context,
    world: _World,
    shop: PancakeShop,
    warehouse: str,
    changes: list[StockRow],
    report: SyncReport,
    progress: Progress,
) -> None:
    client = ctx.pancake(shop)
    key = LevelKeys(shop.shop_id, warehouse)
    size = ctx.settings.stock_push_batch_size
    for start in range(0, len(changes), size):
        batch = changes[start : start + size]
        mark_pushing(ctx, key, batch)
        try:
            _send(client, key, batch, report)
        except (PancakeUnavailable, PancakeRequestError) as exc:
            clear_pushing(ctx, key, batch)
            kept = changes[start:]
            what = "unavailable" if isinstance(exc, PancakeUnavailable) else "refused"
            for row in kept:
                row.error = f"Pancake {what}; last value kept"
            report.errors.append(
                f"shop {shop.shop_id}: Pancake {what}, {len(kept)} not pushed "
                f"(last values kept): {exc}"
            )
            return
        mark_pushed(ctx, key, [row for row in batch if row.error is None], world.read_at)
        clear_pushing(ctx, key, [row for row in batch if row.error is not None])
        progress(f"pushing to {shop.shop_id}", start + len(batch), len(changes))
        renew(ctx)


def _send(
    client: PancakeClient, key: LevelKeys, batch: Sequence[StockRow], report: SyncReport
) -> None:
    """One update_quantity call; a refused batch is halved until the refused entries are found.

    Pancake refuses a whole batch for one bad entry (e.g. a variation deleted in Pancake but still
    mapped); halving isolates it in about 2·log2(batch) calls instead of losing the batch. A
    refusal no entry can cause (a wrong API key, an unknown shop) stops the shop's pushes.
    """
    entries = [
        QuantityUpdate(
            variation_id=row.variation_id, warehouse_id=key.warehouse, remain_quantity=row.new or 0
        )
        for row in batch
    ]
    report.pancake_calls += 1
    try:
        client.update_quantities(key.shop, entries, is_actual_remain_quantity=False)
    except PancakeUnavailable:
        metrics.stock_push("unavailable")
        raise
    except PancakeRequestError as exc:
        metrics.stock_push("refused")
        if exc.status not in ENTRY_REFUSALS:
            raise
        if len(batch) == 1:
            batch[0].error = f"Pancake refused: {exc}"
            report.errors.append(f"shop {key.shop} variation {batch[0].variation_id}: {exc}")
            return
        middle = len(batch) // 2
        _send(client, key, batch[:middle], report)
        _send(client, key, batch[middle:], report)
    else:
        metrics.stock_push("ok")
