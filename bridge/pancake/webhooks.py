"""Read a Pancake webhook body defensively: flat, ``data`` or ``data.record``; ids as strings.

Every value the bridge keeps or looks up is checked here, before the body reaches the database:
one hostile value must be refused with its own reason, not fail the batch it is committed with.
Reasons never quote the value (the sender knows what it sent; a log or a proxy need not).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from bridge.coerce import as_int
from bridge.pancake.schemas import items_digest

ORDER_TYPE = "orders"
STOCK_TYPE = "variations_warehouses"
UNKNOWN_TYPE = "unknown"  # a body with no "type" that is not shaped like an order
PING_KIND = "ping"  # Pancake's test of a webhook URL just saved (``is_ping``)
# The ping is 13 bytes on prod (``{"test":true}``); room for spacing, and no more: it is read
# before the sender is authenticated.
PING_MAX_BYTES = 64

# Pancake ids are numbers (up to 18 digits) or short codes such as "AF100975192O582".
MAX_ID_CHARS = 100
# Statuses and quantities are stored in 32-bit integer columns (PostgreSQL INTEGER).
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# Python refuses to convert longer integer literals (sys.int_info.default_max_str_digits).
MAX_INT_DIGITS = 4300
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WebhookRejected(ValueError):
    """The body cannot be a Pancake webhook; the message is a one-line reason for the sender."""


@dataclass(frozen=True, slots=True)
class ParsedWebhook:
    kind: str
    order_id: str | None
    order_status: int | None
    item_count: int
    body_hash: str
    # The shop the body says it is about (None when it does not say).
    shop_id: str | None = None
    # variations_warehouses only: which stock changed and the sellable quantity it now has.
    variation_id: str | None = None
    warehouse_id: str | None = None
    remain_quantity: int | None = None
    # A reservation moved: the order whose sellable units Pancake took (when it was created) or
    # gave back (cancelled), and by how much (negative: taken). None when the webhook names no
    # order, or moved the physical stock (``is_actual_remain_quantity``: a receipt, a shipment).
    # Kept apart from ``order_id``, which names the order of an order webhook.
    reserved_for: str | None = None
    change_quantity: int | None = None
    # order webhooks: what the order asks for (``schemas.items_digest``); a report whose digest
    # differs from the last read is an edit, and the order is read again at webhook speed.
    items_digest: str | None = None


def id_problem(value: str, what: str) -> str | None:
    """Why ``value`` cannot be a Pancake id (NULs and other control characters break queries on
    PostgreSQL and log lines everywhere), or None when it can."""
    if not value:
        return f"{what} is empty"
    if len(value) > MAX_ID_CHARS:
        return f"{what} is longer than {MAX_ID_CHARS} characters"
    if _CONTROL.search(value):
        return f"{what} contains a control character"
    return None


def is_ping(raw: bytes) -> bool:
    """Is this Pancake's ``{"test": true}``, sent when a webhook URL is saved, and nothing else?

    Checked before authentication (bridge/web/app.py), so it reads at most ``PING_MAX_BYTES``;
    any other key, or ``"test": 1``, is not the ping.
    """
    if len(raw) > PING_MAX_BYTES:
        return False
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(document, dict) and document.keys() == {"test"} and document["test"] is True


def parse_webhook(raw: bytes) -> ParsedWebhook:
    document = _load(raw)
    if not isinstance(document, dict):
        raise WebhookRejected(f"body must be a JSON object, not {type(document).__name__}")
    payload = _unwrap(document)
    kind = _checked("type", _kind(document, payload))
    body_hash = _hash(document)
    shop_id = _optional_id(payload.get("shop_id"))
    if kind == STOCK_TYPE:
        return ParsedWebhook(
            kind,
            None,
            None,
            0,
            body_hash,
            shop_id,
            variation_id=_checked_id(payload, "variation_id"),
            warehouse_id=_checked_id(payload, "warehouse_id"),
            remain_quantity=_int32(payload.get("remain_quantity"), "remain_quantity"),
            reserved_for=(
                None
                if payload.get("is_actual_remain_quantity") is True
                else _checked_id(payload, "order_id")
            ),
            change_quantity=_int32(payload.get("change_quantity"), "change_quantity"),
        )
    if kind != ORDER_TYPE:
        return ParsedWebhook(kind, None, None, 0, body_hash, shop_id)
    order_id = _checked_id(payload, "id")
    if order_id is None:
        raise WebhookRejected('order webhook without an "id"')
    items = payload.get("items")
    item_count = len(items) if isinstance(items, list) else 0
    status = _int32(payload.get("status"), "order status")
    return ParsedWebhook(
        kind, order_id, status, item_count, body_hash, shop_id, items_digest=items_digest(items)
    )


def _load(raw: bytes) -> Any:
    try:
        return json.loads(raw, parse_int=_parse_int)
    except RecursionError:
        raise WebhookRejected("body is nested too deeply") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookRejected(f"body is not JSON: {exc.__class__.__name__}") from None


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise WebhookRejected(f"body has an integer of more than {MAX_INT_DIGITS} digits")
    return int(literal)


def _hash(document: dict[str, Any]) -> str:
    # Pancake varies key order between sends: hash a canonical form so replays dedupe.
    try:
        canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()
    except RecursionError:
        raise WebhookRejected("body is nested too deeply") from None
    except UnicodeEncodeError:
        # JSON may escape half of a UTF-16 pair ("\ud800"); it is no character of any text.
        raise WebhookRejected("body has a lone surrogate escape, which is not Unicode") from None


def _unwrap(document: dict[str, Any]) -> dict[str, Any]:
    data = document.get("data")
    if "type" not in document and isinstance(data, dict):
        record = data.get("record")
        return record if isinstance(record, dict) else data
    return document


def _kind(document: dict[str, Any], payload: dict[str, Any]) -> str:
    kind = document.get("type", payload.get("type"))
    if isinstance(kind, str) and kind:
        return kind
    # The documented order example carries no "type"; an object with items and a status is one.
    if "items" in payload and "status" in payload and "id" in payload:
        return ORDER_TYPE
    # The documented CRM body (data.record) has none either. Any authenticated object the bridge
    # does not act on is answered 200 and ignored: Pancake e-mails the shop owner on errors.
    return UNKNOWN_TYPE


def _checked(what: str, value: str) -> str:
    problem = id_problem(value, f'"{what}"')
    if problem is not None:
        raise WebhookRejected(problem)
    return value


def _checked_id(payload: dict[str, Any], key: str) -> str | None:
    value = _optional_id(payload.get(key))
    return None if value is None else _checked(key, value)


def _optional_id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        return None
    return str(value)


def _int32(value: object, what: str) -> int | None:
    """A number kept in a 32-bit column: out of range is refused, not wrapped or truncated."""
    try:
        number = as_int(value)
    except ValueError:
        # as_int hands int() some strings it refuses: digits beyond Python's limit (out of any
        # range), or "--5" and Unicode digits such as "²" (no number at all).
        number = INT32_MAX + 1 if len(str(value)) > 20 else None
    if number is not None and not INT32_MIN <= number <= INT32_MAX:
        raise WebhookRejected(f"{what} is out of range ({INT32_MIN} to {INT32_MAX})")
    return number
