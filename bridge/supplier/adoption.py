"""Which supplier orders a purchase whose answer was lost bought: proven by content, never guessed.

The supplier has no idempotency key, so its order list is the only proof. An order is the line's
only when all the supplier shows of it says so:

- of the plan bought, created within the window the attempt's moments map to by the supplier's
  time (``bridge.supplier.clock``), not cancelled or refunded, and held by no other attempt (the
  caller filters these);
- placed through the API (``order_source`` "api") by the key's own user (``user_id``), with the
  plan fields bought with (``fields_data``: a customer's own email, say), wherever the supplier
  shows them: a key with the ``all`` permission lists every customer's orders, and the key's
  owner buys on the website too. A ``user_id`` shown while the key's own is not known proves
  nothing either way;
- the only such order of the quantity bought, or the only set of smaller ones that makes it up
  (a quantity split), placed together.

Several purchases of ours may lose their answers together (a worker killed while buying, an
outage): each then sees the others' orders too. When they are alike (the same plan, quantity and
plan fields: the goods are interchangeable) and the orders of that quantity are exactly as many
as they are, every order is one of theirs, and they pair by rank: the first sent takes the oldest.
That proves as much as one purchase and one order does; any other count is not paired. Where the
supplier shows each order's fields, purchases with other fields are told apart by them.

No candidate at all: nothing was bought, and the line may be bought again. Any other reading
(two candidates for one purchase, an order that cannot be proven ours, parts that do not add up):
a person decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import combinations

from bridge.supplier.schemas import ListedOrder
from bridge.supplier.split import makes_up

# The source of an order placed through the API (DESIGN.md section 4).
API_SOURCE = "api"
# The orders of one quantity split come from one checkout transaction: stamped together, or a
# minute apart where a truncated created_at crosses a minute.
SPLIT_SPREAD_SECONDS = 60.0


class Owner(StrEnum):
    OURS = "ours"  # nothing the supplier shows says otherwise
    FOREIGN = "foreign"  # another user's, or placed on the website
    UNPROVEN = "unproven"  # it names a user, and the key's own is not known


@dataclass(frozen=True)
class Candidate:
    """A listed order that could be the line's, with who placed it and how, as the supplier
    shows it (None: not shown)."""

    order: ListedOrder
    user_id: str | None = None
    order_source: str | None = None
    fields: Mapping[str, str] | None = None

    def bought_with(self, fields: Mapping[str, str] | None) -> bool:
        """Could it be a purchase made with ``fields`` (as far as the supplier shows its own)?"""
        if self.fields is None:
            return True
        return _plain(self.fields) == _plain(fields or {})

    def owner(self, own_user: str | None) -> Owner:
        if self.order_source is not None and self.order_source.strip().lower() != API_SOURCE:
            return Owner.FOREIGN
        if self.user_id is None:
            return Owner.OURS
        if own_user is None:
            return Owner.UNPROVEN
        return Owner.OURS if self.user_id == own_user else Owner.FOREIGN


@dataclass(frozen=True)
class Siblings:
    """The purchases of ours that lost their answers together and compete for the same orders,
    this one included (``siblings_of``): ``count`` of them, this one the ``rank``-th sent;
    ``alike`` when their goods are interchangeable (the same plan fields)."""

    count: int = 1
    rank: int = 0
    alike: bool = True


@dataclass(frozen=True)
class Sibling:
    """A purchase of ours that lost its answer close to this one: same supplier, plan, quantity."""

    attempt_id: int
    sent: datetime
    fields: Mapping[str, str] | None


def siblings_of(
    alongside: Sequence[Sibling],
    attempt_id: int,
    fields: Mapping[str, str] | None,
    candidates: Sequence[Candidate],
) -> Siblings:
    """Which of the purchases lost ``alongside`` (this one included) compete for the same
    orders: all of them, or, where every candidate shows its fields, those bought with the same
    fields as this one (the others' orders show other fields)."""
    same = [s for s in alongside if _plain(s.fields or {}) == _plain(fields or {})]
    shown = bool(candidates) and all(c.fields is not None for c in candidates)
    group = sorted(same if shown else alongside, key=lambda s: (s.sent, s.attempt_id))
    ids = [s.attempt_id for s in group]
    return Siblings(
        count=max(len(ids), 1),
        rank=ids.index(attempt_id) if attempt_id in ids else 0,
        alike=shown or len(same) == len(alongside),
    )


@dataclass(frozen=True)
class Adopt:
    """These orders are the line's purchase (several: a quantity split), oldest first."""

    orders: tuple[ListedOrder, ...]


@dataclass(frozen=True)
class NothingBought:
    """No order can be the line's: nothing was bought."""


@dataclass(frozen=True)
class Undecided:
    """More than one reading, or none provable: a person decides (``reason`` says why)."""

    reason: str


Decision = Adopt | NothingBought | Undecided


def _plain(fields: Mapping[str, str]) -> dict[str, str]:
    return {key: value.strip() for key, value in fields.items() if value.strip()}


def _named(orders: Sequence[ListedOrder]) -> str:
    return ", ".join(f"{o.trans_id} ({o.quantity} units)" for o in orders)


def _together(orders: Sequence[ListedOrder]) -> bool:
    times = [o.created_at for o in orders if o.created_at is not None]
    if len(times) != len(orders):
        return False
    return (max(times) - min(times)).total_seconds() <= SPLIT_SPREAD_SECONDS


def _oldest_first(orders: Sequence[ListedOrder]) -> tuple[ListedOrder, ...]:
    return tuple(sorted(orders, key=lambda o: (o.created_at is None, o.created_at, o.id or 0)))


def decide(
    candidates: Sequence[Candidate],
    own_user: str | None,
    quantity: int,
    siblings: Siblings = Siblings(),
    fields: Mapping[str, str] | None = None,
) -> Decision:
    """What the candidates (orders of the plan, in the window, unclaimed, not taken back, of at
    most ``quantity`` units) prove about a lost purchase of ``quantity`` units bought with plan
    ``fields``, lost alongside ``siblings``."""
    fitting = [c for c in candidates if c.bought_with(fields)]
    unproven = [c.order for c in fitting if c.owner(own_user) == Owner.UNPROVEN]
    ours = [c.order for c in fitting if c.owner(own_user) == Owner.OURS]
    if unproven:
        return Undecided(
            f"orders {_named(unproven)} name a user, and the key's own is not known: whose they "
            "are cannot be proven"
        )
    if not ours:
        return NothingBought()
    exact = [o for o in ours if o.quantity == quantity]
    if siblings.count > 1:
        if siblings.alike and len(exact) == len(ours) == siblings.count:
            return Adopt((_oldest_first(exact)[siblings.rank],))
        return Undecided(
            f"{siblings.count} purchases of {quantity} units lost their answers together, and "
            f"orders {_named(ours)} could be theirs"
        )
    # The purchase is one order of its quantity, or the parts of a split: the reading must be
    # the only one. Orders that fit no reading are another purchase's.
    smaller = [o for o in ours if o.quantity < quantity]
    readings = [(o,) for o in exact] + _splits(smaller, quantity)
    if len(readings) == 1:
        return Adopt(_oldest_first(readings[0]))
    if not readings:
        return Undecided(
            f"orders {_named(ours)} could be this purchase's, and none makes up its "
            f"{quantity} units"
        )
    return Undecided(f"orders {_named(ours)} could each be this purchase of {quantity} units")


def _splits(orders: Sequence[ListedOrder], quantity: int) -> list[tuple[ListedOrder, ...]]:
    """Every set of these orders that could be one item split: making up ``quantity``, placed
    together."""
    return [
        chosen
        for size in range(2, len(orders) + 1)
        for chosen in combinations(orders, size)
        if makes_up([o.quantity for o in chosen], quantity) and _together(chosen)
    ]


def decide_named(
    listed: Sequence[ListedOrder], missing: Sequence[str], plan_id: int, quantity: int
) -> Decision:
    """What the orders a create answer named (found ``listed``, not found ``missing``) prove,
    when the answer itself did not show their plans and quantities: they are ours, bought and
    paid for, so the line is never bought again."""
    if missing:
        return Undecided(
            f"the supplier answered orders {', '.join(missing)} for this purchase, and does not "
            "list them"
        )
    plans = {o.plan_id for o in listed if o.plan_id is not None}
    quantities = [o.quantity for o in listed]
    if plans <= {plan_id} and (makes_up(quantities, quantity) or quantities == [quantity]):
        return Adopt(_oldest_first(listed))
    return Undecided(
        f"the supplier answered orders {_named(listed)} of plans {sorted(plans)} for one item of "
        f"plan {plan_id} and {quantity} units"
    )
