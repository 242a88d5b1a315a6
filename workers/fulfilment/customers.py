"""Who placed an order, for the people who look it up (`orders show`, `fulfilments show`).

The order as Pancake last showed it is kept encrypted (it holds the customer's contact details,
read by field placeholders). Only the customer's name comes out of it here: the phone number,
e-mail and address stay in the encrypted copy, and in Pancake.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlmodel import Session

    from bridge.secrets import SecretBox

# Where a Pancake order names its customer, most specific first.
NAME_PATHS: tuple[tuple[str, ...], ...] = (("bill_full_name",), ("customer", "name"))


def customer_name(session: Session, order_pk: int, box: SecretBox) -> str | None:
    """The name on order ``order_pk``; None when the order, its copy or a name is missing.

    A key that does not open the copy raises ``SecretKeyMismatch`` (its sentence says why).
    """
    # Imported here: the CLI's show commands read the copy themselves, without the models
    # (bridge/cli/reads.py), and call ``name_in``.
    from bridge.models import Order

    order = session.get(Order, order_pk)
    return name_in(order.snapshot_enc if order is not None else None, box)


def name_in(snapshot_enc: str | None, box: SecretBox) -> str | None:
    """The customer's name in an order's encrypted copy; None without a copy or a name."""
    if not snapshot_enc:
        return None
    snapshot: Any = json.loads(box.decrypt(snapshot_enc))
    for path in NAME_PATHS:
        value = snapshot
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
