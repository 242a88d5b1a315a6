"""One item bought as several supplier orders: when they are that item, and how they read as one.

The docs pair nothing with anything: ``orders/create`` with one item of quantity N may answer with
several orders (N orders of one, say), and only their content can pair them with the item. The
real server's ``data.orders[]`` names each order's plan and quantity; an answer that does not
(the docs' samples) proves nothing, and the line is settled from the order list instead
(``workers/fulfilment/settle.py``). A line holding several orders is delivered when all of them
are, all its units together.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.supplier.schemas import CreatedOrder, OrderItem, OrderStatus
from bridge.supplier.vocabulary import SupplierStatus

# The supplier works on an order in this order; parts at different stages read as the least
# advanced one.
_PROGRESS = (SupplierStatus.PENDING, SupplierStatus.PROCESSING, SupplierStatus.COMPLETED)


def makes_up(quantities: Sequence[int], quantity: int) -> bool:
    """Several orders of these quantities are one item of ``quantity``: each holds some units,
    and together exactly the item's."""
    return len(quantities) > 1 and all(q >= 1 for q in quantities) and sum(quantities) == quantity


def answered_split(orders: Sequence[CreatedOrder], item: OrderItem) -> bool:
    """The create answer's several orders are provably the one item asked for: distinct orders,
    each of the item's plan (where it says) and of a stated quantity, making up its quantity."""
    quantities = [order.quantity for order in orders]
    return (
        len({order.trans_id for order in orders}) == len(orders)
        and all(order.plan_id in (None, item.plan_id) for order in orders)
        and all(q is not None for q in quantities)
        and makes_up([q for q in quantities if q is not None], item.quantity)
    )


def _together(words: Sequence[str]) -> str:
    if len(set(words)) == 1:
        return words[0]
    # A part that ended otherwise (cancelled, refunded, a word the vocabulary does not know) is
    # what the line must hear about.
    odd = next((word for word in words if word not in _PROGRESS), None)
    if odd is not None:
        return odd
    return min(words, key=_PROGRESS.index)


def _total(values: Sequence[int | float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return sum(known) if len(known) == len(values) else None


def combined_status(
    parts: Sequence[OrderStatus], trans_id: str, plan_id: int | None
) -> OrderStatus:
    """The answers about a line's orders as one answer about ``trans_id`` (the line's first).

    Its units are every part's, and only once every part is completed: they are handed over
    together. A part of another plan than ``plan_id`` shows as that plan, so the delivery's own
    check stops the line.
    """
    first = parts[0]
    status = _together([part.status for part in parts])
    done = all(part.status == SupplierStatus.COMPLETED for part in parts)
    plans = [part.plan_id for part in parts if part.plan_id is not None]
    quantity = _total([part.quantity for part in parts])
    expected = _total([part.expected_count for part in parts])
    payments = {part.payment_status for part in parts}
    return first.model_copy(
        update={
            "trans_id": trans_id,
            "status": status,
            "items": [item for part in parts for item in part.items] if done else [],
            "delivered_count": sum(part.delivered_count for part in parts) if done else 0,
            "expected_count": None if expected is None else int(expected),
            "plan_id": next((p for p in plans if p != plan_id), plan_id if plans else None),
            "quantity": None if quantity is None else int(quantity),
            "amount": _total([part.amount for part in parts]),
            "payment_status": payments.pop() if len(payments) == 1 else None,
        }
    )
