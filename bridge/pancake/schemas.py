"""What the Pancake POS API really returns, read tolerantly.

Pancake sends ids as ints, as 18-digit numbers or as strings (marketplace orders look like
``"AF100975192O582"``); every id is kept as a string so they compare equal however they arrived.
Unknown keys are ignored: the API adds fields freely and webhook bodies trim others.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator


def _id_to_str(value: object) -> object:
    # bool is an int subclass; True is never a valid id, so leave it for pydantic to reject.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


PancakeId = Annotated[str, BeforeValidator(_id_to_str)]


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PancakeOrderItem(_Tolerant):
    id: PancakeId | None = None
    variation_id: PancakeId | None = None
    product_id: PancakeId | None = None
    quantity: int
    name: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _name_from_variation_info(cls, data: Any) -> Any:
        # Items carry no name of their own: the variation's name lives in variation_info.
        if isinstance(data, dict) and data.get("name") is None:
            info = data.get("variation_info")
            if isinstance(info, dict) and isinstance(info.get("name"), str):
                return {**data, "name": info["name"]}
        return data


class PancakeOrder(_Tolerant):
    id: PancakeId
    shop_id: PancakeId | None = None
    status: int | None = None
    note: str = ""
    items: list[PancakeOrderItem] = Field(default_factory=list)
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


class ListedOrder(_Tolerant):
    """One order of ``GET /shops/<id>/orders``: only what decides whether intake reads it.

    Intake reads the order itself before anything is bought, so a listing is not parsed further:
    one odd order (an item without a quantity) must not make a whole page unreadable.
    """

    id: PancakeId
    status: int | None = None
    item_count: int = 0

    @model_validator(mode="before")
    @classmethod
    def _count_items(cls, data: Any) -> Any:
        if isinstance(data, dict) and "item_count" not in data:
            items = data.get("items")
            return {**data, "item_count": len(items) if isinstance(items, list) else 0}
        return data


class OrderPage(_Tolerant):
    """A page of ``GET /shops/<id>/orders``; the paging fields are None where Pancake left them
    out (the docs show ``page_number``, ``page_size``, ``total_entries``, ``total_pages``)."""

    orders: list[ListedOrder]
    page_number: int | None = None
    total_pages: int | None = None
    total_entries: int | None = None


class Warehouse(_Tolerant):
    id: PancakeId
    name: str | None = None


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
