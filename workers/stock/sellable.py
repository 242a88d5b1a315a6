"""How many of a variation the shop may sell, from what its suppliers can deliver right now.

Pure functions over a snapshot (catalogues, balances, reservations); ``workers.stock`` reads the
snapshot and pushes the result. For one variation::

    sellable = max(0, Σ over its enabled choices of contribution(choice)
                      - POS items of its lines waiting to be bought
                      - POS items Pancake holds for open orders the bridge has no line for
                      - shop buffer)

(a line waiting to be bought has no supplier yet: the choice is made when buying; an order
Pancake created holds its units from status 0 on, before it reaches a trigger), and a choice
contributes

* 0 when its supplier is disabled or paused, its plan left the catalogue or is out of stock, or
  the supplier balance cannot pay for one POS item (``final_price × units``);
* for an instant plan ``floor((stock_count - reserved units) / units)``, where reserved units
  are lines being bought, or bought, that the catalogue may not show yet
  (``workers.stock.reservations``);
* for a manual plan (no stock count) the mapping's fixed ``manual_stock``;

either way capped at the POS items the balance can pay for. A variation is left alone (``None``,
Pancake keeps its last value) when a choice's plan could not be read this cycle — a guess would
either oversell or hide stock — or when a manual choice has no fixed quantity ("don't sync").
An unread plan keeps that last value only until it is stale (``stock_stale_hours`` after its
last good reading): then it contributes 0.

Two variations mapped to one plan each see the plan's whole stock: the catalogue is shared, and
the supplier refuses a purchase that would overdraw it (the line then falls back to its next
choice, or needs attention).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

PlanKey = tuple[str, int]  # (supplier name, plan id)
UNLIMITED = 1 << 62


class PlanStock(NamedTuple):
    """One plan as ``products/list`` showed it (a NamedTuple: ``Plans`` keeps its fields as a
    plain tuple and makes this of them when looked up)."""

    is_instant: bool
    stock_count: int
    in_stock: bool
    final_price: float


class Plans(Mapping[int, PlanStock]):
    """A supplier's plans as a sync holds them until it ends, each a ``PlanStock`` when looked
    up. Kept as plain tuples of atomic values, which CPython's garbage collector stops tracking
    the first time it sees them: at 100,000 plans, as objects, every full collection walked them
    all again (see ``workers.stock.sync``)."""

    __slots__ = ("_plans",)

    def __init__(self, plans: Iterable[tuple[int, PlanStock]] = ()) -> None:
        self._plans = {plan_id: tuple(plan) for plan_id, plan in plans}

    def __getitem__(self, plan_id: int) -> PlanStock:
        return PlanStock._make(self._plans[plan_id])

    def __iter__(self) -> Iterator[int]:
        return iter(self._plans)

    def __len__(self) -> int:
        return len(self._plans)


@dataclass(frozen=True, slots=True)
class SupplierSnapshot:
    """A supplier as one sync cycle saw it.

    ``error`` set: some of its plans could not be read this cycle, those in ``unread``, or all
    of them when ``unread`` is None. ``stale``: the unread plans whose last good reading is too
    old to stand for today's stock, each with what the report says of it ("unread since ...");
    ``manual``: unread plans last read as manual.
    """

    name: str
    paused: bool = False
    error: str | None = None
    balance: float = 0.0
    balance_at: datetime | None = None  # when the balance was read (before the catalogue)
    plans: Mapping[int, PlanStock] = field(default_factory=dict)
    unread: frozenset[int] | None = None
    stale: Mapping[int, str] = field(default_factory=dict)
    # Unread plans that were manual (no stock count) at their last reading.
    manual: frozenset[int] = frozenset()

    def is_unread(self, plan_id: int) -> bool:
        return self.error is not None and (self.unread is None or plan_id in self.unread)

    @property
    def balance_read(self) -> bool:
        """The read got as far as the balance (a catalogue read in part still has it)."""
        return not self.paused and (self.error is None or self.unread is not None)


class Choice(NamedTuple):
    """One mapping choice of a variation (a NamedTuple: the sync keeps each as a plain tuple,
    see ``workers.stock.sync``, and makes this of it where it is used)."""

    supplier_name: str
    plan_id: int
    units: int = 1
    manual_stock: int | None = None


@dataclass(frozen=True, slots=True)
class Sellable:
    """The outcome for one variation: ``quantity`` None means "leave Pancake's value alone"."""

    quantity: int | None
    why: str
    # Per choice, what the supplier shows, e.g. "caoshop/319: 50 (2 reserved)".
    supplier_stock: str


@dataclass(frozen=True, slots=True)
class _Part:
    units: int | None  # POS items this choice can serve; None: unknown or not synced
    stock: str
    note: str


def sellable(
    choices: Sequence[Choice],
    suppliers: Mapping[str, SupplierSnapshot],
    reserved: Mapping[PlanKey, int],
    *,
    pending: int = 0,
    held: int = 0,
    buffer: int = 0,
) -> Sellable:
    """The sellable quantity of one variation from its enabled choices (see the module doc).

    ``reserved``: supplier units per plan already taken; ``pending``: POS items of this
    variation's lines not yet bought; ``held``: POS items Pancake holds for open orders the
    bridge has no line for; ``buffer``: the shop's safety buffer.
    """
    parts = [_contribution(c, suppliers.get(c.supplier_name), reserved) for c in choices]
    stock = "; ".join(part.stock for part in parts) or "-"
    unknown = [part.note for part in parts if part.units is None]
    if not choices:
        return Sellable(None, "no enabled choice", stock)
    if unknown:
        return Sellable(None, "; ".join(unknown), stock)
    total = sum(part.units or 0 for part in parts)
    quantity = max(0, total - pending - held - buffer)
    why = " + ".join(part.note for part in parts)
    if pending:
        why += f" - {pending} pending"
    if held:
        why += f" - {held} held by open orders"
    if buffer:
        why += f" - buffer {buffer}"
    return Sellable(quantity, why, stock)


def _contribution(
    choice: Choice, supplier: SupplierSnapshot | None, reserved: Mapping[PlanKey, int]
) -> _Part:
    label = f"{choice.supplier_name}/{choice.plan_id}"
    if supplier is None or supplier.paused:
        return _Part(0, f"{label}: paused", f"{label} paused: 0")
    if supplier.is_unread(choice.plan_id):
        if choice.plan_id in supplier.manual and choice.manual_stock is None:
            return _manual_not_synced(label)
        since = supplier.stale.get(choice.plan_id)
        if since is not None:
            return _Part(0, f"{label}: unread", f"{label} {since}: 0")
        if supplier.unread is None:
            note = f"{choice.supplier_name} unavailable ({supplier.error}): last value kept"
            return _Part(None, f"{label}: ?", note)
        return _Part(
            None, f"{label}: unread", f"{label} unread ({supplier.error}): last value kept"
        )
    plan = supplier.plans.get(choice.plan_id)
    if plan is None:
        return _Part(0, f"{label}: not listed", f"{label} not listed: 0")
    if plan.is_instant:
        held = reserved.get((choice.supplier_name, choice.plan_id), 0)
        stock = f"{label}: {plan.stock_count}" + (f" ({held} reserved)" if held else "")
        base = max(plan.stock_count - held, 0) // choice.units
        formula = f"({plan.stock_count}-{held})" if held else str(plan.stock_count)
        note = f"{label} {formula}" + (f"/{choice.units}" if choice.units > 1 else "")
    elif choice.manual_stock is None:
        return _manual_not_synced(label)
    else:
        base = choice.manual_stock
        stock, note = f"{label}: manual", f"{label} manual {choice.manual_stock}"
    if not plan.in_stock:
        return _Part(0, stock, f"{label} out of stock: 0")
    affordable = _affordable(supplier.balance, plan.final_price * choice.units)
    if affordable == 0:
        return _Part(0, stock, f"{label} balance too low: 0")
    if affordable < base:
        return _Part(affordable, stock, f"{note} capped by balance = {affordable}")
    return _Part(base, stock, f"{note} = {base}")


def _manual_not_synced(label: str) -> _Part:
    """A manual plan with no fixed quantity: the variation's Pancake stock is the staff's."""
    return _Part(None, f"{label}: manual", f"{label} manual, no fixed quantity: not synced")


def _affordable(balance: float, cost: float) -> int:
    """POS items the balance pays for; a free plan is never limited by the balance."""
    if cost <= 0:
        return UNLIMITED
    # A hair of tolerance: balances and prices are decimal amounts carried in floats.
    return max(0, math.floor(balance / cost + 1e-9))
