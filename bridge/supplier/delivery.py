"""What an ``orders/status`` answer means for the line that bought the order, and what a person
is told when the supplier takes a paid order back. Pure: ``workers/fulfilment/deliver.py`` acts.

The real server marks an order ``completed`` once it is delivered, whatever it hands over: the
stock rows of an instant plan (one string a unit), or the lines of a text typed by hand (one
string for several units, or more lines than units), or nothing at all (a plan that upgrades
the customer's own account). So the number of strings decides nothing; the supplier's word and
its own count do.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.supplier.schemas import OrderStatus
from bridge.supplier.vocabulary import IN_PROGRESS, UNDONE, SupplierStatus

# How much of a raw status the bridge keeps, and a reason quotes: a supplier's word, not a
# paragraph.
STATUS_CHARS = 64
STATUS_QUOTE_CHARS = 40


class Progress(StrEnum):
    """Where a bought order stands, read from one ``orders/status`` answer."""

    # Completed with every unit counted, or with nothing to hand over: the line is delivered.
    COMPLETE = "complete"
    # Completed with strings, but fewer units than bought by the supplier's count. A delivery in
    # part (the docs' reading of delivered_count < expected_count) and several units printed in
    # one string (the real server's) look alike: what arrived is written, the rest awaited a
    # while, then the line counts as delivered.
    SHORT = "short"
    # Still being worked on (strings may show early, in the docs' reading).
    WAITING = "waiting"
    # Cancelled or refunded: nothing (more) will come.
    UNDONE = "undone"
    # A status the vocabulary does not know.
    UNKNOWN = "unknown"


def progress(status: OrderStatus, expected: int) -> Progress:
    """Where the order stands; ``expected`` is the number of units the line bought."""
    if status.status == SupplierStatus.COMPLETED:
        if not status.items or status.delivered_count >= expected:
            return Progress.COMPLETE
        return Progress.SHORT
    if status.status in UNDONE:
        return Progress.UNDONE
    if status.status in IN_PROGRESS:
        return Progress.WAITING
    return Progress.UNKNOWN


def quoted(status: str) -> str:
    """A supplier's status fit for a reason (it is the supplier's text, of any length)."""
    return repr(status[:STATUS_QUOTE_CHARS])


def money(amount: float | None) -> str:
    """An amount as people write it (``450,000``; cents only when there are some)."""
    if amount is None:
        return "an amount the bridge did not record"
    return f"{amount:,.2f}" if amount != int(amount) else f"{amount:,.0f}"


def undone_reason(trans_id: str, status: OrderStatus, amount: float | None) -> str:
    """Why a line stops when the supplier took its order back, naming the money paid for it.

    ``amount`` is what the purchase recorded (the answer's own amount when it recorded none).
    Every reason starts "supplier cancelled order": `fulfilments retry` then buys the line
    afresh instead of polling an order that will never deliver.
    """
    paid = money(amount if amount is not None else status.amount)
    head = f"supplier cancelled order {trans_id}"
    if status.status == SupplierStatus.REFUNDED:
        return f"{head} and refunded the {paid} paid (status refunded)"
    if status.status == SupplierStatus.CANCELLED_NO_REFUND:
        return (
            f"{head} and kept the {paid} paid (status cancelled_no_refund): ask the supplier "
            "for the money"
        )
    if status.payment_status == "refunded":
        return f"{head}; the {paid} paid was refunded"
    if status.payment_status == "paid":
        return f"{head} after it was paid; the {paid} was not refunded: ask the supplier"
    return (
        f"{head} after it was paid ({paid}); the supplier does not say whether it refunded "
        "it: check the balance"
    )
