"""What intake accepts from an order that Pancake shows: values no real order has are refused.

A quantity of 10**20 or an id of a thousand characters (or with a NUL, which PostgreSQL cannot
store) is hostile or corrupt data. Storing it would fail on every try, and buying for it would
spend real money on nonsense, so intake refuses the whole order with the reason, before it stores
a line or buys anything. A quantity of 0 is no line at all (Pancake keeps removed items so) and is
skipped, as always. Item names are only shown, never matched: they are cleaned, not refused.
"""

from __future__ import annotations

from bridge.pancake.schemas import PancakeOrder

# Pancake's ids are UUIDs (36 characters), numbers of up to 18 digits, or marketplace ids such as
# "AF100975192O582"; four times the longest leaves room for what we have not seen.
MAX_ID_CHARS = 128
# One order fans out into one fulfilment (and one purchase) per line.
MAX_LINES = 1000
MAX_NAME_CHARS = 255


def order_problem(order: PancakeOrder, *, max_quantity: int) -> str | None:
    """Why intake must refuse ``order`` (a sentence naming the line), or None if it is sane."""
    if len(order.items) > MAX_LINES:
        return f"the order has {len(order.items)} lines, more than the {MAX_LINES} accepted"
    for number, item in enumerate(order.items, start=1):
        where = f"line {number}"
        for name, value in (("item id", item.id), ("variation id", item.variation_id)):
            if value is not None and not sane_id(value):
                return f"{where}: the {name} {_shown(value)} is not a Pancake id"
        if not 0 <= item.quantity <= max_quantity:
            return (
                f"{where}: quantity {_number(item.quantity)} is out of range "
                f"(1 to {max_quantity:,})"
            )
    return None


def sane_id(value: str) -> bool:
    """Short, and only printable characters (no NUL, no line break, no lone surrogate)."""
    return 0 < len(value) <= MAX_ID_CHARS and value.isprintable()


def clean_name(name: str | None) -> str | None:
    """An item name fit to store and show: printable characters only, bounded."""
    if name is None:
        return None
    cleaned = "".join(c if c.isprintable() else " " for c in name).strip()
    return cleaned[:MAX_NAME_CHARS] or None


def _shown(value: str) -> str:
    """An id quoted in a reason: escaped (it came from outside), and cut when long."""
    text = ascii(value)
    return text if len(text) <= 40 else f"{text[:32]}…' ({len(value):,} characters)"


def _number(value: int) -> str:
    digits = str(value)
    return digits if len(digits) <= 24 else f"{digits[:12]}… ({len(digits):,} digits)"
