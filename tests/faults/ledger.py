"""The checks against the outside world, and the suite's summary of them.

Everything a fault test asserts comes from outside the bridge's own account of itself: the
suppliers' ledgers (what was really bought) and the Pancake notes (what the customer really got).
The bridge's database is read only to learn which supplier order each line claims.

The functions here read only what they are given (the lines and attempts from the bridge's
database, the supplier simulators, the notes); ``FaultWorld`` fetches those and calls them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import TERMINAL, FulfilmentState
from workers.fulfilment.notes import begin_marker

# Lines may end here in a fault test; anything else at the end (failed included) is a lost line.
ACCEPTABLE_ENDS = TERMINAL - {FulfilmentState.FAILED}

SupplierOrder = tuple[str, str]  # (supplier name, trans_id)


# -- what the ledgers say -----------------------------------------------------------------------


@dataclass
class LedgerCheck:
    """Every supplier order, matched to the line(s) that claim it in the bridge's database.

    A line holds one order, or several when the supplier split its item's quantity over them
    (their units, by the supplier's ledger, make up exactly the units the line bought): more
    orders than that is a double purchase.
    """

    purchases: int
    per_line: dict[int, list[SupplierOrder]]
    orphans: list[SupplierOrder]  # bought, but no line claims it: money spent for nothing
    shared: list[SupplierOrder]  # claimed by more than one line
    # Lines holding several orders that are not one split item: their extra orders.
    extra: dict[int, int] = field(default_factory=dict)
    # Orders no line holds that lines in needs_attention name as maybe theirs (a settlement
    # that could not tell two orders apart): a person decides which line each serves. More of
    # them than lines naming them is a double purchase all the same.
    awaiting: list[SupplierOrder] = field(default_factory=list)
    awaiting_lines: int = 0

    @classmethod
    def of(
        cls,
        rows: Sequence[Fulfilment],
        attempts: Sequence[PurchaseAttempt],
        suppliers: Mapping[str, SupplierSimulator],
        outside: Collection[SupplierOrder] = (),
    ) -> LedgerCheck:
        """Match each supplier's ledger to the lines and attempts that claim its orders; the
        ``outside`` ones a test placed itself (not through the bridge) are left out."""
        claims: dict[SupplierOrder, set[int]] = defaultdict(set)
        for row in rows:
            if row.trans_id and row.supplier_name and row.id is not None:
                claims[(row.supplier_name, row.trans_id)].add(row.id)
        for attempt in attempts:
            if attempt.trans_id:
                claims[(attempt.supplier_name, attempt.trans_id)].add(attempt.fulfilment_id)
        per_line: dict[int, list[SupplierOrder]] = defaultdict(list)
        units: dict[SupplierOrder, int] = {}
        orphans: list[SupplierOrder] = []
        shared: list[SupplierOrder] = []
        purchases = 0
        for name, sim in suppliers.items():
            for purchase in sim.ledger:
                key = (name, purchase.trans_id)
                if key in outside:
                    continue
                purchases += 1
                units[key] = purchase.quantity
                owners = claims.get(key, set())
                if not owners:
                    orphans.append(key)
                elif len(owners) > 1:
                    shared.append(key)
                for owner in owners:
                    per_line[owner].append(key)
        bought = {row.id: row.supplier_quantity for row in rows if row.id is not None}
        extra = {
            line_id: len(orders) - 1
            for line_id, orders in per_line.items()
            if len(orders) > 1 and sum(units[key] for key in orders) != bought.get(line_id)
        }
        flagged = [row.reason or "" for row in rows if row.state == FulfilmentState.NEEDS_ATTENTION]
        awaiting = [key for key in orphans if any(key[1] in reason for reason in flagged)]
        naming = sum(1 for reason in flagged if any(key[1] in reason for key in awaiting))
        orphans = [key for key in orphans if key not in awaiting]
        return cls(purchases, dict(per_line), orphans, shared, extra, awaiting, naming)

    @property
    def double_purchases(self) -> int:
        unclaimed = max(0, len(self.awaiting) - self.awaiting_lines)
        return sum(self.extra.values()) + len(self.orphans) + unclaimed

    def problems(self) -> list[str]:
        found = [
            f"line {line_id} got {len(self.per_line[line_id])} supplier orders: "
            f"{self.per_line[line_id]}"
            for line_id in sorted(self.extra)
        ]
        found += [f"supplier order {o} is claimed by no line (orphan)" for o in self.orphans]
        found += [f"supplier order {order} is claimed by several lines" for order in self.shared]
        return found


def missing_lines(
    expected: Mapping[str, int], rows: Sequence[Fulfilment]
) -> dict[str, tuple[int, int]]:
    """The orders with fewer lines in ``rows`` than ``expected``: (lines there, lines expected)."""
    have = Counter(row.order_id for row in rows)
    return {order_id: (have[order_id], n) for order_id, n in expected.items() if have[order_id] < n}


def lost_lines(
    rows: Sequence[Fulfilment],
    expected: Mapping[str, int],
    per_line: Mapping[int, Sequence[SupplierOrder]],
) -> list[str]:
    """Lines missing, or not in a final state, or annotated with nothing bought for them."""
    lost = [
        f"order {order_id}: only {have} of {count} lines exist"
        for order_id, (have, count) in missing_lines(expected, rows).items()
    ]
    for row in rows:
        if row.state not in ACCEPTABLE_ENDS:
            lost.append(f"line {row.id} (order {row.order_id}) is {row.state}: {row.reason or ''}")
        elif row.state == FulfilmentState.ANNOTATED and not per_line.get(row.id or -1):
            lost.append(f"line {row.id} (order {row.order_id}) is annotated but not bought")
    return lost


# -- what the notes say -------------------------------------------------------------------------


def note_problems(
    rows: Sequence[Fulfilment],
    per_line: Mapping[int, Sequence[SupplierOrder]],
    suppliers: Mapping[str, SupplierSimulator],
    note: Callable[[str], str],
) -> list[str]:
    """Each annotated line's credentials (from the supplier's ledger) appear exactly once in its
    order's note (``note(order_id)``), inside one block; no other order's credential appears
    there."""
    items = {(name, p.trans_id): p.items for name, sim in suppliers.items() for p in sim.ledger}
    credentials: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for key in per_line.get(row.id or -1, []):
            credentials[row.order_id].update(items.get(key, []))
    notes = {order_id: note(order_id) for order_id in {row.order_id for row in rows}}
    problems = []
    for row in rows:
        assert row.id is not None
        text = notes[row.order_id]
        blocks = text.count(begin_marker(row.id))
        if row.state != FulfilmentState.ANNOTATED:
            if blocks:
                problems.append(f"line {row.id} is {row.state} but has {blocks} note blocks")
            continue
        if not blocks:
            problems.append(f"line {row.id}: annotated, but no block in the note")
        bought = [c for key in per_line.get(row.id, []) for c in items.get(key, [])]
        if not bought:
            problems.append(f"line {row.id}: annotated, but its supplier order has no items")
        for credential in bought:
            seen = text.count(credential)
            if seen != 1:
                problems.append(
                    f"line {row.id} (order {row.order_id}): a credential appears {seen} "
                    "times in the note"
                )
    for order_id, text in notes.items():
        for other, creds in credentials.items():
            if other != order_id and any(c in text for c in creds):
                problems.append(f"order {order_id}'s note holds a credential of order {other}")
    return problems


# -- the suite's summary ------------------------------------------------------------------------


@dataclass
class SuiteStats:
    """Summed over every world of the run; printed as one line by tests/faults/conftest.py."""

    worlds: int = 0
    orders: int = 0
    purchases: int = 0
    double_purchases: int = 0
    lost_lines: int = 0
    seen_429: int = 0
    findings: list[str] = field(default_factory=list)
    # The latitudes the matrix test ran across (tests/faults/test_matrix.py): cells run, and the
    # values seen per dimension.
    cells: set[tuple[str, ...]] = field(default_factory=set)

    def line(self) -> str:
        text = (
            f"fault-suite: orders={self.orders} purchases={self.purchases} "
            f"double_purchases={self.double_purchases} lost_lines={self.lost_lines} "
            f"429s_seen={self.seen_429}"
        )
        if not self.cells:
            return text
        sizes = "x".join(str(len({cell[i] for cell in self.cells})) for i in range(len(MATRIX)))
        return f"{text} matrix={'x'.join(MATRIX)}={sizes} cells={len(self.cells)}"


# The dimensions of a matrix cell, in order.
MATRIX = ("list_order", "batch", "clock", "webhooks", "zone", "split")


SUMMARY = SuiteStats()
