"""What the Pancake POS API really returns, read tolerantly.

Pancake sends ids as ints, as 18-digit numbers or as strings (marketplace orders look like
``"AF100975192O582"``); every id is kept as a string so they compare equal however they arrived.
Unknown keys are ignored: the API adds fields freely and webhook bodies trim others.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bridge.coerce import as_int
from bridge.pancake.vocabulary import NoteField


def _id_to_str(value: object) -> object:
    # bool is an int subclass; True is never a valid id, so leave it for pydantic to reject.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PancakeId = Annotated[str, BeforeValidator(_id_to_str)]


def pancake_time(value: object) -> datetime | None:
    """A moment as Pancake writes it: UTC with no zone marker, ``T`` or a space before the time,
    often with microseconds (``"2026-07-27 04:57:04.925107"``); an explicit zone is honoured.
    None when absent or unreadable: the caller says what that means."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


PancakeTime = Annotated[datetime | None, BeforeValidator(pancake_time)]


def items_digest(items: object) -> str | None:
    """What an order asks for, in a few bytes: each item's id, variation, quantity and returned
    units, in order. Two reports of an order with the same digest ask for the same units, so a
    re-seen order (our own note update echoed, the catch-up's overlap) costs no read; any edit of
    items or quantities, or a return, changes it. None when ``items`` is not a list (unknown).

    It is computed from the raw JSON (a webhook body, a listed order, the order read), so every
    path that sees the same order gets the same digest: ids as strings, numbers as integers."""
    if not isinstance(items, list):
        return None
    shape: list[list[str | int | None] | None] = []
    for item in items:
        if not isinstance(item, dict):
            shape.append(None)
            continue
        shape.append(
            [
                _optional_text(item.get("id")),
                _optional_text(item.get("variation_id")),
                as_int(item.get("quantity")),
                as_int(item.get("returned_count")) or 0,
            ]
        )
    canonical = json.dumps(shape, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _optional_text(value: object) -> str | None:
    return None if value is None or isinstance(value, bool) else str(value)


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PancakeOrderItem(_Tolerant):
    id: PancakeId | None = None
    variation_id: PancakeId | None = None
    product_id: PancakeId | None = None
    quantity: int
    # Units the customer sent back (a partial return, status 15); null or absent: none.
    returned_count: int = 0
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_from_variation_info(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixes: dict[str, Any] = {}
        # Items carry no name of their own: the variation's name lives in variation_info.
        if data.get("name") is None:
            info = data.get("variation_info")
            if isinstance(info, dict) and isinstance(info.get("name"), str):
                fixes["name"] = info["name"]
        if as_int(data.get("returned_count")) is None:
            fixes["returned_count"] = 0
        return {**data, **fixes} if fixes else data

    @property
    def wanted(self) -> int:
        """The units the customer still buys: ordered less returned (never below 0)."""
        return max(0, self.quantity - max(0, self.returned_count))


class PancakeOrder(_Tolerant):
    id: PancakeId
    shop_id: PancakeId | None = None
    status: int | None = None
    note: str = ""
    items: list[PancakeOrderItem] = Field(default_factory=list)
    # When the order was created in Pancake; None when it does not say (or not readably).
    inserted_at: PancakeTime = None
    # The whole order as Pancake sent it, for placeholders such as {order.bill_email}.
    raw: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _nulls_to_empty(cls, data: Any) -> Any:
        if isinstance(data, dict):
            fixes: dict[str, Any] = {}
            if data.get("note") is None:
                fixes["note"] = ""
            if data.get("items") is None:
                fixes["items"] = []
            if fixes:
                return {**data, **fixes}
        return data

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> PancakeOrder:
        """Parse one order object (the API's ``data``, or a flat webhook body)."""
        return cls.model_validate({**obj, "raw": copy.deepcopy(obj)})

    @property
    def items_digest(self) -> str | None:
        """``items_digest`` of the items as Pancake sent them."""
        return items_digest(self.raw.get("items"))

    def note_text(self, field: NoteField) -> str:
        """One of the order's notes as Pancake shows it; "" when null, absent or not text."""
        if field == NoteField.NOTE:
            return self.note
        value = self.raw.get(field.value)
        return value if isinstance(value, str) else ""

    @property
    def is_locked(self) -> bool:
        """Staff locked the order ("Khóa đơn hàng"): a PUT is answered with success and changes
        nothing, so the bridge does not write to it."""
        return self.raw.get("is_locked") is True


class ListedOrder(_Tolerant):
    """One order of ``GET /shops/<id>/orders``: only what decides whether intake reads it.

    Intake reads the order itself before anything is bought, so a listing is not parsed further:
    one odd order (an item without a quantity) must not make a whole page unreadable.
    """

    id: PancakeId
    status: int | None = None
    item_count: int = 0
    items_digest: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _count_items(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        items = data.get("items")
        counted: dict[str, Any] = {"items_digest": items_digest(items)}
        if "item_count" not in data:
            counted["item_count"] = len(items) if isinstance(items, list) else 0
        return {**data, **counted}


class OrderPage(_Tolerant):
    """A page of ``GET /shops/<id>/orders``; the paging fields are None where Pancake left them
    out (the docs show ``page_number``, ``page_size``, ``total_entries``, ``total_pages``)."""

    orders: list[ListedOrder]
    page_number: int | None = None
    total_pages: int | None = None
    total_entries: int | None = None


def _flag(value: object) -> bool | None:
    """A yes/no field: true/false, 1/0 or their strings; anything else says nothing (None)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return None


class Warehouse(_Tolerant):
    id: PancakeId
    name: str | None = None
    # Whether new orders may be placed in it (staff tick "takes orders"); None: not said.
    allow_create_order: Annotated[bool | None, BeforeValidator(_flag)] = None

    @property
    def takes_orders(self) -> bool:
        """A listing that does not say (an older answer, without the switch) counts as yes."""
        return self.allow_create_order is not False


class QuantityUpdate(BaseModel):
    """One entry of ``POST /shops/<id>/variations/update_quantity``."""

    variation_id: str
    warehouse_id: str
    remain_quantity: int


class Variation(_Tolerant):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: PancakeId
    product_id: PancakeId | None = None
    name: str | None = None
    retail_price: int | None = None
    remain_quantity: int | None = None
    display_id: str | None = None
    # The attributes that tell a product's variations apart: {"name": "màu", "value": "nâu"}.
    fields: list[dict[str, Any]] = Field(default_factory=list)
    # Per-warehouse stock as Pancake reports it (warehouse_id, remain_quantity, ...).
    warehouses: list[dict[str, Any]] = Field(default_factory=list, alias="variations_warehouses")

    @model_validator(mode="before")
    @classmethod
    def _tolerate_shapes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixes: dict[str, Any] = {}
        # Variations have no name of their own in the listing; the product's name stands in.
        product = data.get("product")
        if data.get("name") is None and isinstance(product, dict):
            fixes["name"] = product.get("name")
        if data.get("variations_warehouses") is None and "warehouses" not in data:
            fixes["variations_warehouses"] = []
        if not isinstance(data.get("fields"), list):
            fixes["fields"] = []
        return {**data, **fixes} if fixes else data

    @property
    def label(self) -> str:
        """What an operator recognises it by: the product's name and the variation's attributes,
        e.g. "ASOS đen XL — màu nâu, size s"."""
        attributes = ", ".join(
            " ".join(str(field[key]) for key in ("name", "value") if field.get(key) is not None)
            for field in self.fields
            if isinstance(field, dict)
        )
        name = self.name or str(self.id)
        return f"{name} — {attributes}" if attributes else name

    def remain_in(self, warehouse_id: str) -> int | None:
        """Sellable quantity in one warehouse, or None when Pancake reported none for it."""
        for entry in self.warehouses:
            if str(entry.get("warehouse_id")) == warehouse_id:
                value = entry.get("remain_quantity")
                return int(value) if value is not None else None
        return None


class VariationPage(_Tolerant):
    variations: list[Variation]
    page_number: int
    total_pages: int

    @property
    def has_more(self) -> bool:
        return self.page_number < self.total_pages


# The webhook settings as ``PUT /shops/<id>`` names them under ``shop`` ("Cấu hình Webhook"), and
# the shape each must have to be read. null reads as "none set"; any other shape as not shown.
_WEBHOOK_SHAPES: dict[str, Callable[[object], bool]] = {
    "webhook_enable": lambda value: isinstance(value, bool),
    "webhook_url": lambda value: value is None or isinstance(value, str),
    "webhook_email": lambda value: value is None or isinstance(value, str),
    "webhook_partner": lambda value: value is None or isinstance(value, str),
    "webhook_types": lambda value: (
        value is None or (isinstance(value, list) and all(isinstance(item, str) for item in value))
    ),
    "webhook_headers": lambda value: (
        value is None
        or (
            isinstance(value, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
        )
    ),
}


class ShopWebhook(BaseModel):
    """A shop's webhook settings: what the bridge sends in ``PUT /shops/<id>`` and what Pancake
    shows back.

    The docs list ``webhook_enable``, ``webhook_url``, ``webhook_email``, ``webhook_types`` and
    ``webhook_partner`` in the PUT's answer (not ``webhook_headers``), and promise none of them in
    ``GET /shops``. So every field may be missing: ``shown`` names the ones Pancake showed in a
    readable shape (a null counts as shown: nothing set), and a field not shown is None.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    enable: bool | None = Field(default=None, alias="webhook_enable")
    url: str | None = Field(default=None, alias="webhook_url")
    email: str | None = Field(default=None, alias="webhook_email")
    types: list[str] | None = Field(default=None, alias="webhook_types")
    partner: str | None = Field(default=None, alias="webhook_partner")
    # The secret rides here: never in a repr.
    headers: dict[str, str] | None = Field(default=None, alias="webhook_headers", repr=False)

    @model_validator(mode="before")
    @classmethod
    def _readable_fields_only(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kept: dict[str, Any] = {}
        for alias, readable in _WEBHOOK_SHAPES.items():
            # As Pancake names it, or as the bridge does when it builds one to send. A shop's own
            # "url" or "email" is not its webhook's: read Pancake's objects with ``from_api``.
            for key in (alias, alias.removeprefix("webhook_")):
                if key in data and readable(data[key]):
                    kept[alias] = data[key]
        return kept

    @classmethod
    def from_api(cls, obj: dict[str, Any]) -> ShopWebhook:
        """The ``webhook_*`` fields of an object Pancake answered (a shop, the PUT's answer)."""
        return cls.model_validate({k: v for k, v in obj.items() if k.startswith("webhook_")})

    @property
    def shown(self) -> frozenset[str]:
        """The fields Pancake showed (python names: ``url``, ``types``, ...)."""
        return frozenset(self.model_fields_set)

    def header(self, name: str) -> str | None:
        """A header's value; names compare case-insensitively, as HTTP's do."""
        for key, value in (self.headers or {}).items():
            if key.lower() == name.lower():
                return value
        return None

    def to_api(self) -> dict[str, Any]:
        """The fields that were set, as the API names them (the PUT body's ``shop``)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class ListedShop(_Tolerant):
    """One shop of ``GET /shops``.

    The docs' sample shows ``name``, ``avatar_url`` and ``pages``, each page naming its
    ``shop_id``, but no id of the shop's own: ``id`` is None when absent, and the pages tell
    which shop it is. Any webhook fields found on the entry are in ``webhook``.
    """

    id: PancakeId | None = None
    name: str | None = None
    page_shop_ids: frozenset[str] = frozenset()
    webhook: ShopWebhook = Field(default_factory=ShopWebhook)

    @model_validator(mode="before")
    @classmethod
    def _lift(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        pages = data.get("pages")
        page_ids = {
            str(page["shop_id"])
            for page in (pages if isinstance(pages, list) else [])
            if isinstance(page, dict) and _is_id(page.get("shop_id"))
        }
        shop_id = data.get("id")
        return {
            "id": shop_id if _is_id(shop_id) else None,
            "name": data.get("name") if isinstance(data.get("name"), str) else None,
            "page_shop_ids": page_ids,
            "webhook": ShopWebhook.from_api(data),
        }

    def is_shop(self, shop_id: str) -> bool | None:
        """Whether this entry is ``shop_id``: by its own id, else by its pages' shop_id; None
        when it names neither."""
        if self.id is not None:
            return self.id == shop_id
        if self.page_shop_ids:
            return self.page_shop_ids == {shop_id}
        return None


def _is_id(value: object) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool) and value != ""
