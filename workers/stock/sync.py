"""stock.sync: Pancake's sellable quantity follows what the suppliers can deliver.

One sync covers every shop: each supplier used by a synced variation is read once (balance, then
``products/list`` at 100 a page following ``has_more``), the sellable quantity of every variation
is computed (``mappings.stock``), and only the values that differ from the last successful push —
or that Pancake reported differently since (a staff edit, a sale) — are sent, in batches, with
``POST /shops/<id>/variations/update_quantity``. A second sync with nothing changed makes no
Pancake call at all.

Triggers, all funnelled through ``request_stock_sync`` so that a burst causes one sync: the
scheduler (every ``stock_sync_interval_seconds``, from the one lease holder), a purchase of a
synced plan, and ``variations_warehouses`` webhooks that disagree with what the bridge pushed. One
row (``StockSyncControl``) holds the pending request and the lease of the running sync, so at most
one sync runs at a time across every process and host.

Failures leave Pancake's last values in place: a supplier that cannot be read leaves its
variations untouched, a Pancake failure stops the pushes for that shop. Either way the run
records the error (``bridge stock status``) and a retry is requested with backoff.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from bridge.db import insert_ignore, session_scope
from bridge.logs import event
from bridge.models import Fulfilment, PancakeShop, PurchaseAttempt, Supplier
from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.schemas import QuantityUpdate
from bridge.settings import Settings
from bridge.states import BUYING, AttemptOutcome, FulfilmentState
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.errors import SupplierError
from mappings.models import Mapping
from workers.context import Context
from workers.dispatch import STOCK_SYNC, Send
from workers.fulfilment.breaker import is_paused
from workers.stock.models import StockLevel, StockShop, StockSyncControl, StockSyncRun
from workers.stock.sellable import Choice, PlanKey, PlanStock, Sellable, SupplierSnapshot, sellable

CONTROL_ID = 1
CATALOGUE_PAGE_SIZE = 100
# Lines that may have taken supplier stock, whatever the catalogue says.
_DELETE_CHUNK = 500
# Statuses with which Pancake refuses a batch because of its entries (HTTP 200 with
# "success": false is how it says "variation not found").
ENTRY_REFUSALS = frozenset({200, 400, 422})

# progress(phase, done, total or None when unknown)
Progress = Callable[[str, int, int | None], None]


def _no_progress(phase: str, done: int, total: int | None) -> None:
    return None


# -- requests and the debounce --------------------------------------------------------------------


def request_stock_sync(
    conn: Connection, now: datetime, *, trigger: str, delay: float, stale_after: float
) -> list[Send]:
    """Ask for a sync in ``delay`` seconds, inside the caller's transaction.

    Send what this returns once the transaction committed. Only the first request sends a
    message: until that sync starts, later requests (the rest of a burst) find ``requested_at``
    set and send nothing. A request older than ``stale_after`` seconds counts as lost (its
    message died with a worker) and is sent again.
    """
    table = StockSyncControl.__table__  # type: ignore[attr-defined]
    claimed = conn.execute(
        update(table)
        .where(table.c.id == CONTROL_ID)
        .where(
            or_(
                table.c.requested_at.is_(None),
                table.c.requested_at < now - timedelta(seconds=stale_after),
            )
        )
        .values(requested_at=now, trigger=trigger)
    )
    if claimed.rowcount != 1:
        # Already requested, or the very first request ever: the row does not exist yet.
        first = insert_ignore(
            conn,
            table,
            {"id": CONTROL_ID, "requested_at": now, "trigger": trigger, "failures": 0},
            ["id"],
        )
        if first is None:
            return []
    return [Send(STOCK_SYNC, CONTROL_ID, delay)]


def stock_sync_after_purchase(
    ctx: Context, session: Session, *, supplier_name: str, plan_ids: Collection[int]
) -> list[Send]:
    """A debounced sync after a purchase from plans of which at least one is mapped by a synced
    variation. Call it inside the purchase's transaction; send what it returns after the commit.
    """
    if not ctx.settings.stock_sync_enabled or not plan_ids:
        return []
    mapped = session.exec(
        select(Mapping.id)
        .where(Mapping.supplier_name == supplier_name, col(Mapping.plan_id).in_(plan_ids))
        .where(col(Mapping.enabled).is_(True), col(Mapping.stock_sync).is_(True))
        .limit(1)
    ).first()
    if mapped is None:
        return []
    return request_stock_sync(
        session.connection(),
        ctx.clock(),
        trigger="purchase",
        delay=ctx.settings.stock_debounce_seconds,
        stale_after=ctx.settings.lease_seconds,
    )


def periodic_stock_sync(ctx: Context) -> list[Send]:
    """The scheduler's trigger: a sync when none started within the interval."""
    settings = ctx.settings
    if not settings.stock_sync_enabled:
        return []
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
        if control is not None and control.last_started_at is not None:
            interval = max(settings.stock_sync_interval_seconds, control.spacing_seconds)
            if control.last_started_at > now - timedelta(seconds=interval):
                return []
        synced = session.exec(
            select(Mapping.id).where(col(Mapping.stock_sync).is_(True)).limit(1)
        ).first()
        if synced is None:
            return []
        return request_stock_sync(
            session.connection(),
            now,
            trigger="periodic",
            delay=0.0,
            stale_after=settings.lease_seconds,
        )


@dataclass(frozen=True, slots=True)
class TrackedLevel:
    id: int
    pushed_quantity: int | None
    pushing_quantity: int | None

    def is_ours(self, reported: int) -> bool:
        """The value we pushed, or the one we are pushing (Pancake echoes our own pushes)."""
        return reported in (self.pushed_quantity, self.pushing_quantity)


def tracked_level(
    conn: Connection, shop_id: str, variation_id: str, warehouse_id: str
) -> TrackedLevel | None:
    """The bridge's record of a synced variation's quantity: one read by its unique key."""
    table = StockLevel.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        sa_select(table.c.id, table.c.pushed_quantity, table.c.pushing_quantity).where(
            table.c.shop_id == shop_id,
            table.c.variation_id == variation_id,
            table.c.warehouse_id == warehouse_id,
        )
    ).first()
    return TrackedLevel(row.id, row.pushed_quantity, row.pushing_quantity) if row else None


def mark_level_reported(conn: Connection, level_id: int, reported: int, now: datetime) -> None:
    """Pancake reported a quantity other than ours: the next sync pushes this variation."""
    table = StockLevel.__table__  # type: ignore[attr-defined]
    conn.execute(
        update(table)
        .where(table.c.id == level_id)
        .values(pancake_quantity=reported, reported_at=now, updated_at=now)
    )


# -- the actor and the lease ----------------------------------------------------------------------


class SyncBusy(RuntimeError):
    """Another stock sync is running (in a worker, or another `bridge stock sync`)."""


class TooSoon(RuntimeError):
    """The last sync started too recently for the suppliers' daily budget; wait ``wait`` s."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the next automatic stock sync may start in {wait:.0f}s")
        self.wait = wait


def sync_stock(ctx: Context, control_id: int) -> list[Send]:
    """The ``stock.sync`` step: run the requested sync unless another one is running."""
    try:
        trigger = _claim(ctx, require_request=True, spaced=True)
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
    return _release(ctx, report, retry=True)


def run_exclusive(ctx: Context, *, trigger: str, progress: Progress = _no_progress) -> SyncReport:
    """A sync now, holding the lease (`bridge stock sync`); ``SyncBusy`` if one is running."""
    _claim(ctx, require_request=False, spaced=False)
    report: SyncReport | None = None
    try:
        report = run_sync(ctx, trigger=trigger, progress=progress)
    finally:
        _release(ctx, report, retry=False)
    return report


def _claim(ctx: Context, *, require_request: bool, spaced: bool) -> str | None:
    """Take the lease; returns the trigger, or None when nothing was requested.

    Raises ``SyncBusy`` while another sync holds the lease and, when ``spaced``, ``TooSoon``
    until ``spacing_seconds`` passed since the last sync started.
    """
    now = ctx.clock()
    lease = now + timedelta(seconds=ctx.settings.lease_seconds)
    table = StockSyncControl.__table__  # type: ignore[attr-defined]
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        insert_ignore(
            conn, table, {"id": CONTROL_ID, "failures": 0, "spacing_seconds": 0.0}, ["id"]
        )
        row = conn.execute(sa_select(table).where(table.c.id == CONTROL_ID)).one()
        if require_request and row.requested_at is None:
            return None
        if spaced and row.last_started_at is not None:
            wait = (row.last_started_at - now).total_seconds() + row.spacing_seconds
            if wait > 0:
                raise TooSoon(wait)
        taken = conn.execute(
            update(table)
            .where(table.c.id == CONTROL_ID)
            .where(or_(table.c.running_until.is_(None), table.c.running_until < now))
            .values(running_until=lease, last_started_at=now, requested_at=None, trigger=None)
        )
        if taken.rowcount != 1:
            raise SyncBusy("a stock sync is running; try again when it has finished")
        return str(row.trigger or "manual")


def _renew(ctx: Context) -> None:
    lease = ctx.clock() + timedelta(seconds=ctx.settings.lease_seconds)
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(StockSyncControl)
            .where(col(StockSyncControl.id) == CONTROL_ID)
            .values(running_until=lease)
        )


def _release(ctx: Context, report: SyncReport | None, *, retry: bool) -> list[Send]:
    """Free the lease and note the spacing the catalogues need; after a failed run, ask for a
    retry with backoff. ``report`` None: the run crashed."""
    failed = report is None or bool(report.errors)
    with session_scope(ctx.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
        if control is None:
            return []
        control.running_until = None
        control.failures = control.failures + 1 if failed else 0
        if report is not None:
            spacing = budget_spacing(ctx.settings, report)
            # A run that could not read every supplier saw only part of the catalogues.
            control.spacing_seconds = max(spacing, control.spacing_seconds) if failed else spacing
        session.add(control)
        if not (failed and retry) or control.failures > ctx.settings.max_step_failures:
            return []  # past the limit the periodic sync keeps trying; errors are on the runs
        return request_stock_sync(
            session.connection(),
            ctx.clock(),
            trigger="retry",
            delay=ctx.retry_delay(control.failures),
            stale_after=ctx.settings.lease_seconds,
        )


def budget_spacing(settings: Settings, report: SyncReport) -> float:
    """Seconds between syncs that keep the busiest supplier key's catalogue reads within
    ``stock_sync_daily_budget_share`` of its daily limit."""
    busiest = max(report.calls_by_supplier.values(), default=0)
    share = settings.supplier_daily_limit * settings.stock_sync_daily_budget_share
    return busiest * 86_400 / share


# -- the sync -----------------------------------------------------------------------------------


@dataclass
class StockRow:
    """One variation in one sync: what was known, what it should be, and why."""

    shop_id: str
    variation_id: str
    supplier_stock: str
    pancake: int | None  # what the bridge last pushed, or what Pancake reported since
    new: int | None  # None: left alone
    why: str = ""
    push: bool = False
    error: str | None = None


@dataclass
class SyncReport:
    trigger: str
    dry_run: bool
    rows: list[StockRow] = field(default_factory=list)
    # Requests made, per supplier (the API clients' own retries not included).
    calls_by_supplier: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    pancake_calls: int = 0
    errors: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def supplier_calls(self) -> int:
        return sum(self.calls_by_supplier.values())

    @property
    def changed(self) -> int:
        return sum(1 for row in self.rows if row.push and row.error is None)

    @property
    def skipped(self) -> int:
        return sum(1 for row in self.rows if row.new is None)


@dataclass
class _World:
    """What a sync reads from the database, in one transaction, before any API call."""

    shops: dict[str, PancakeShop]
    variations: dict[tuple[str, str], list[Choice]]  # (shop, variation) -> choices, best first
    suppliers: dict[str, Supplier]
    levels: dict[tuple[str, str, str], StockLevel]
    warehouses: dict[str, str]  # discovered warehouse per shop (StockShop)
    read_at: datetime
    resolved: dict[str, str] = field(default_factory=dict)  # the warehouse each shop used


def run_sync(
    ctx: Context, *, trigger: str, dry_run: bool = False, progress: Progress = _no_progress
) -> SyncReport:
    """One sync of every shop. ``dry_run`` reads and computes but writes nothing anywhere."""
    report = SyncReport(trigger=trigger, dry_run=dry_run)
    started = ctx.clock()
    if not dry_run:
        report.run_id = _open_run(ctx, trigger, started)
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
            _forget(ctx, world)
    except Exception as exc:
        report.errors.append(f"sync stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        if report.run_id is not None:
            _close_run(ctx, report)
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


@dataclass(frozen=True, slots=True)
class Reservations:
    """What the bridge sold that a catalogue read may not show as sold yet."""

    units: dict[PlanKey, int]  # supplier units per (supplier, plan): being bought or just bought
    items: dict[tuple[str, str], int]  # POS items per (shop, variation): waiting to be bought


def reservations(session: Session, *, since: datetime) -> Reservations:
    """Lines sold by the bridge that a catalogue read started at ``since`` may not reflect.

    * ``pending`` lines wait to be bought and have no supplier yet (the choice is made when
      buying, with fallbacks): their POS items come off their variation.
    * ``purchasing`` and ``purchase_unknown`` lines are being bought, or were bought without our
      knowing: their supplier units come off the chosen plan, whatever the catalogue says. If
      the supplier did sell before the read they count twice until settled, which undersells a
      little for a while; not counting them would oversell.
    * Purchases recorded as bought whose answer came at or after ``since``: the supplier
      committed the sale somewhere between our request and its answer, so it may postdate the
      read. A purchase answered before ``since`` is in the stock count already.

    The purchase attempt, not the line's ``created_at``, dates the sale: a line can wait a long
    time before it is bought. Both times come from the bridge's clock, never the supplier's;
    hosts are assumed NTP-synced, as the scheduler lease already assumes.
    """
    conn = session.connection()
    lines = Fulfilment.__table__  # type: ignore[attr-defined]
    attempts = PurchaseAttempt.__table__  # type: ignore[attr-defined]
    waiting = conn.execute(
        sa_select(lines.c.shop_id, lines.c.variation_id, func.sum(lines.c.quantity))
        .where(lines.c.state == FulfilmentState.PENDING, lines.c.variation_id.is_not(None))
        .group_by(lines.c.shop_id, lines.c.variation_id)
    ).all()
    buying = conn.execute(
        sa_select(lines.c.supplier_name, lines.c.plan_id, func.sum(lines.c.supplier_quantity))
        .where(lines.c.state.in_(BUYING))
        .where(lines.c.supplier_name.is_not(None), lines.c.plan_id.is_not(None))
        .group_by(lines.c.supplier_name, lines.c.plan_id)
    ).all()
    bought = conn.execute(
        sa_select(attempts.c.supplier_name, attempts.c.plan_id, func.sum(attempts.c.quantity))
        .where(attempts.c.outcome == AttemptOutcome.BOUGHT, attempts.c.finished_at >= since)
        .group_by(attempts.c.supplier_name, attempts.c.plan_id)
    ).all()
    units: dict[PlanKey, int] = defaultdict(int)
    for supplier_name, plan_id, count in [*buying, *bought]:
        units[(supplier_name, plan_id)] += int(count or 0)
    items = {(shop_id, variation_id): int(count or 0) for shop_id, variation_id, count in waiting}
    return Reservations(dict(units), items)


def _load(ctx: Context, now: datetime) -> _World:
    with session_scope(ctx.engine) as session:
        mappings = session.exec(
            select(Mapping)
            .where(col(Mapping.enabled).is_(True))
            .order_by(col(Mapping.shop_id), col(Mapping.variation_id))
            .order_by(col(Mapping.priority), col(Mapping.id))
        ).all()
        shops = {shop.shop_id: shop for shop in session.exec(select(PancakeShop))}
        suppliers = {supplier.name: supplier for supplier in session.exec(select(Supplier))}
        levels = {
            (level.shop_id, level.variation_id, level.warehouse_id): level
            for level in session.exec(select(StockLevel))
        }
        warehouses = {row.shop_id: row.warehouse_id for row in session.exec(select(StockShop))}
    grouped: dict[tuple[str, str], list[Mapping]] = defaultdict(list)
    for mapping in mappings:
        if mapping.shop_id in shops:  # a removed shop cannot be pushed to
            grouped[(mapping.shop_id, mapping.variation_id)].append(mapping)
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
            _renew(ctx)
    return snapshots


def _read_catalogue(
    ctx: Context, supplier: Supplier, report: SyncReport, progress: Progress
) -> SupplierSnapshot:
    client = ctx.supplier(supplier)
    plans: dict[int, PlanStock] = {}
    try:
        report.calls_by_supplier[supplier.name] += 1
        balance = client.balance()
        page = 1
        while True:
            report.calls_by_supplier[supplier.name] += 1
            result = client.list_products(page=page, limit=CATALOGUE_PAGE_SIZE)
            for product in result.products:
                for plan in product.plans:
                    plans[plan.id] = PlanStock(
                        plan.is_instant, plan.stock_count, plan.in_stock, plan.final_price
                    )
            progress(f"reading {supplier.name}", page, None)
            # An empty page that claims more would loop forever: trust the emptiness.
            if not result.has_more or not result.products:
                break
            page += 1
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
    """The configured warehouse, else the one found before, else Pancake's first (remembered)."""
    if shop.warehouse_id:
        return shop.warehouse_id
    known = world.warehouses.get(shop.shop_id)
    if known:
        return known
    report.pancake_calls += 1
    warehouses = ctx.pancake(shop).list_warehouses(shop.shop_id)
    if not warehouses:
        raise LookupError("Pancake lists no warehouse for this shop")
    chosen = warehouses[0].id
    if not report.dry_run:
        with session_scope(ctx.engine) as session:
            row = session.get(StockShop, shop.shop_id) or StockShop(
                shop_id=shop.shop_id, warehouse_id=chosen
            )
            row.warehouse_id, row.updated_at = chosen, ctx.clock()
            session.add(row)
    world.warehouses[shop.shop_id] = chosen
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
    key = _LevelKeys(shop.shop_id, warehouse)
    size = ctx.settings.stock_push_batch_size
    for start in range(0, len(changes), size):
        batch = changes[start : start + size]
        _mark_pushing(ctx, key, batch)
        try:
            _send(client, key, batch, report)
        except (PancakeUnavailable, PancakeRequestError) as exc:
            _clear_pushing(ctx, key, batch)
            kept = changes[start:]
            what = "unavailable" if isinstance(exc, PancakeUnavailable) else "refused"
            for row in kept:
                row.error = f"Pancake {what}; last value kept"
            report.errors.append(
                f"shop {shop.shop_id}: Pancake {what}, {len(kept)} not pushed "
                f"(last values kept): {exc}"
            )
            return
        _mark_pushed(ctx, key, [row for row in batch if row.error is None], world.read_at)
        _clear_pushing(ctx, key, [row for row in batch if row.error is not None])
        progress(f"pushing to {shop.shop_id}", start + len(batch), len(changes))
        _renew(ctx)


def _send(
    client: PancakeClient, key: _LevelKeys, batch: Sequence[StockRow], report: SyncReport
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
    except PancakeRequestError as exc:
        if exc.status not in ENTRY_REFUSALS:
            raise
        if len(batch) == 1:
            batch[0].error = f"Pancake refused: {exc}"
            report.errors.append(f"shop {key.shop} variation {batch[0].variation_id}: {exc}")
            return
        middle = len(batch) // 2
        _send(client, key, batch[:middle], report)
        _send(client, key, batch[middle:], report)


# -- stock level bookkeeping ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LevelKeys:
    """Executemany parameters addressing levels by their unique key (shop, variation, warehouse)."""

    shop: str
    warehouse: str

    def params(self, rows: Sequence[StockRow], *, with_value: bool = False) -> list[dict[str, Any]]:
        keyed: list[dict[str, Any]] = [
            {"k_shop": self.shop, "k_variation": row.variation_id, "k_warehouse": self.warehouse}
            for row in rows
        ]
        if with_value:
            for params, row in zip(keyed, rows, strict=True):
                params["q"] = row.new
        return keyed


def _levels() -> Any:
    return StockLevel.__table__  # type: ignore[attr-defined]


def _by_key() -> Any:
    table = _levels()
    return and_(
        table.c.shop_id == bindparam("k_shop"),
        table.c.variation_id == bindparam("k_variation"),
        table.c.warehouse_id == bindparam("k_warehouse"),
    )


def _mark_pushing(ctx: Context, key: _LevelKeys, rows: Sequence[StockRow]) -> None:
    """Before the call: Pancake echoes these values in webhooks; they are ours, not staff's."""
    now = ctx.clock()
    table = _levels()
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        conn.execute(
            dialect_insert(table).on_conflict_do_nothing(
                index_elements=["shop_id", "variation_id", "warehouse_id"]
            ),
            [
                {
                    "shop_id": key.shop,
                    "variation_id": row.variation_id,
                    "warehouse_id": key.warehouse,
                    "pushing_quantity": row.new,
                    "updated_at": now,
                }
                for row in rows
            ],
        )
        conn.execute(
            update(table).where(_by_key()).values(pushing_quantity=bindparam("q"), updated_at=now),
            key.params(rows, with_value=True),
        )


def _mark_pushed(
    ctx: Context, key: _LevelKeys, rows: Sequence[StockRow], read_at: datetime
) -> None:
    """After a successful call. A report that came in after the sync read the levels stays: that
    change may be newer than our push, so the next sync pushes again."""
    if not rows:
        return
    now = ctx.clock()
    table = _levels()
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(table)
            .where(_by_key())
            .values(
                pushed_quantity=bindparam("q"),
                pushing_quantity=None,
                pushed_at=now,
                updated_at=now,
                reported_at=case((table.c.reported_at <= read_at, None), else_=table.c.reported_at),
            ),
            key.params(rows, with_value=True),
        )


def _clear_pushing(ctx: Context, key: _LevelKeys, rows: Sequence[StockRow]) -> None:
    if not rows:
        return
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(_levels()).where(_by_key()).values(pushing_quantity=None), key.params(rows)
        )


def _forget(ctx: Context, world: _World) -> None:
    """Drop the levels of variations no longer synced, or of a warehouse no longer used.

    Shops whose warehouse could not be resolved this time keep theirs.
    """
    stale = [
        level.id
        for (shop_id, variation_id, warehouse), level in world.levels.items()
        if level.id is not None
        and (
            (shop_id, variation_id) not in world.variations
            or world.resolved.get(shop_id, warehouse) != warehouse
        )
    ]
    if not stale:
        return
    with session_scope(ctx.engine) as session:
        conn = session.connection()
        for start in range(0, len(stale), _DELETE_CHUNK):
            chunk = stale[start : start + _DELETE_CHUNK]
            conn.execute(delete(StockLevel).where(col(StockLevel.id).in_(chunk)))


# -- run records ---------------------------------------------------------------------------------


def _open_run(ctx: Context, trigger: str, started: datetime) -> int:
    with session_scope(ctx.engine) as session:
        run = StockSyncRun(trigger=trigger, started_at=started)
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def _close_run(ctx: Context, report: SyncReport) -> None:
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(StockSyncRun)
            .where(col(StockSyncRun.id) == report.run_id)
            .values(
                finished_at=ctx.clock(),
                variations=len(report.rows),
                changed=report.changed,
                skipped=report.skipped,
                supplier_calls=report.supplier_calls,
                pancake_calls=report.pancake_calls,
                errors="\n".join(report.errors)[:20_000] or None,
            )
        )


def latest_runs(session: Session, limit: int = 10) -> list[StockSyncRun]:
    statement = select(StockSyncRun).order_by(col(StockSyncRun.id).desc()).limit(limit)
    return list(session.exec(statement))
