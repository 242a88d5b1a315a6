"""Who placed an order, for the people who look it up (`orders show`, `fulfilments show`).

The order as Pancake last showed it is kept encrypted (it holds the customer's contact details,
read by field placeholders). Only the customer's name comes out of it here: the phone number,
e-mail and address stay in the encrypted copy, and in Pancake.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session

from bridge.models import Order
from bridge.secrets import SecretBox

# Where a Pancake order names its customer, most specific first.
NAME_PATHS: tuple[tuple[str, ...], ...] = (("bill_full_name",), ("customer", "name"))


def customer_name(session: Session, order_pk: int, box: SecretBox) -> str | None:
    """The name on order ``order_pk``; None when the order, its copy or a name is missing.

    A key that does not open the copy raises ``SecretKeyMismatch`` (its sentence says why).
    """
    order = session.get(Order, order_pk)
    if order is None or not order.snapshot_enc:
        return None
    snapshot: Any = json.loads(box.decrypt(order.snapshot_enc))
    for path in NAME_PATHS:
        value = snapshot
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
