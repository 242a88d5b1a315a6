"""Writing into a Pancake order, and telling from what Pancake shows afterwards whether the rest
of the order survived.

The docs' ``PUT /shops/<id>/orders/<id>`` example is a whole order, and they promise nothing
about the fields a body leaves out. Integrators send a partial body; one found a partial PUT of a
field silently ignored, and nobody has shown what a partial PUT of ``note`` does to the rest
(DESIGN.md §4). So the body is the order exactly as just read with only the changed fields
replaced: a server that takes the body as the whole order keeps every other field, one that
merges changes only those fields.

The write is judged by the order Pancake shows after it, never by the ``success`` flag: a locked
order answers success and ignores the edit. The PUT's answer stands in for a read only when it
proves it is the order as stored after this write (see ``stored_after_write``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from bridge.pancake.schemas import PancakeOrder

# Stamped by Pancake on each change. Left out of the body: an answer that carries a stamp other
# than the one read shows a stored change, which an echo of the body could not.
_STAMP = "updated_at"

# Who the order is for: the docs' order names the buyer in bill_* and shipping_address; live
# orders carry a ``customer`` object (sometimes only a name), and some carry none of these.
CUSTOMER_KEYS = (
    "customer",
    "bill_full_name",
    "bill_phone_number",
    "bill_email",
    "shipping_address",
)


def whole_order_body(order: PancakeOrder, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The PUT body: ``order`` as Pancake showed it (``raw``), ``changes`` applied."""
    body = {key: copy.deepcopy(value) for key, value in order.raw.items() if key != _STAMP}
    body.update(changes)
    return body


def stored_after_write(before: PancakeOrder, payload: dict[str, Any]) -> PancakeOrder | None:
    """The order a PUT's answer carries, when it shows the order stored after the write: the
    same id with a new ``updated_at``. None otherwise, and the caller reads the order back: no
    order in the answer (the docs show none), an unreadable one, or the stamp read before (a
    server that ignored the edit, or that echoes what it was sent)."""
    data = payload.get("data")
    if not isinstance(data, dict):
        return None
    stamp = data.get(_STAMP)
    if stamp is None or stamp == before.raw.get(_STAMP):
        return None
    try:
        after = PancakeOrder.from_api(data)
    except ValueError:  # pydantic's ValidationError included
        return None
    return after if after.id == before.id else None


def changed_parts(before: PancakeOrder, after: PancakeOrder) -> list[str]:
    """What a note update must leave alone but did not: "items" (what is sold, by
    ``items_digest``), "status", "customer"; empty when all are as before."""
    parts: list[str] = []
    if after.items_digest != before.items_digest:
        parts.append("items")
    if after.status != before.status:
        parts.append("status")
    if any(_who(before, key) != _who(after, key) for key in CUSTOMER_KEYS):
        parts.append("customer")
    return parts


def _who(order: PancakeOrder, key: str) -> object:
    value = order.raw.get(key)
    # A live order's customer object also carries figures (orders placed, amounts) that the
    # customer's other orders move: its id says who it is.
    if key == "customer" and isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return value
