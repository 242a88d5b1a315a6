"""Values of the mappings that need no ORM: amounts as operators type and read them, and what
the reads of mappings.repository hand back.

Apart from mappings.repository (which uses and re-exports them) so that the CLI's list and show
commands, which read through the database driver without SQLAlchemy (bridge/cli/reads.py),
hand back and print the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.errors import ConfigError


def parse_amount(text: str | None, what: str = "--max-cost") -> float | None:
    """An amount from its text (``95000``, ``99.5``); None for none. Thousands separators are
    refused: ``95,000`` and ``95.000`` mean different things in different locales. Whether
    the amount is fit for its use is the command's to say (``commands.check_values``)."""
    if text is None or not text.strip():
        return None
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(
            f"{what} must be an amount such as 95000 (no separators), not {text.strip()!r}"
        ) from None


def amount_text(amount: float | None) -> str:
    """An amount as ``parse_amount`` reads it back (``100000``, ``99.5``); empty for none."""
    if amount is None:
        return ""
    return str(int(amount)) if amount == int(amount) else str(amount)


@dataclass(frozen=True)
class Paid:
    """What the last purchase made with a choice cost, as the supplier's answer said
    (``final_amount``): every order it bought for the line, quantity splits included."""

    amount: float | None  # None: the supplier did not say what one of its orders cost
    items: int  # the POS items of the line it served
    trans_id: str | None
    at: datetime | None

    @classmethod
    def summed(
        cls, amounts: Sequence[float | None], items: int, trans_id: str | None, at: datetime | None
    ) -> Paid:
        """The purchase's orders' amounts (the attempt's, then its quantity splits') added up;
        None when one of them is not known."""
        known = [amount for amount in amounts if amount is not None]
        return cls(sum(known) if len(known) == len(amounts) else None, items, trans_id, at)

    @property
    def per_item(self) -> float | None:
        """Comparable with the choice's max cost."""
        return None if self.amount is None or self.items < 1 else self.amount / self.items


@dataclass(frozen=True)
class Unmapped:
    """A variation that order lines asked for and no mapping serves."""

    shop_id: str
    variation_id: str
    item_name: str | None
    orders: int
    lines: int
    # Lines parked in needs_attention for it: `bridge fulfilments retry` them once it is mapped.
    waiting: int
    last_seen: datetime
