"""What the supplier shops ("Shop API v1") really return, in both known dialects.

Every model validates the ``data`` object of the ``{"success": true, "data": {...}}`` envelope.
The full dialect (caoshop.net) nests an order under ``data.order`` and reports balance as
``data.balance.current``; the short one (shopkey.appstoreviet.com) puts the order fields directly
in ``data`` and the balance as a number. Ids are coerced (PHP sends ``"19"`` as readily as ``19``)
and unknown keys are ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    model_validator,
)

# The supplier shops are Vietnamese and print naive local times.
VN_TZ = timezone(timedelta(hours=7), "UTC+07:00")

# MySQL's "no date" placeholder that PHP happily serialises.
_NO_DATES = frozenset({"", "0000-00-00 00:00:00", "0000-00-00"})

Status = Annotated[str, AfterValidator(lambda value: value.strip().lower())]


def _blank_date(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() in _NO_DATES else value


def _supplier_time_to_utc(value: datetime | None, info: ValidationInfo) -> datetime | None:
    """A naive time is in the supplier's zone: the validation context key ``supplier_tz``
    (default Vietnam, UTC+07:00)."""
    if value is None:
        return None
    if value.tzinfo is None:
        context = info.context if isinstance(info.context, dict) else {}
        supplier_tz: tzinfo = context.get("supplier_tz", VN_TZ)
        value = value.replace(tzinfo=supplier_tz)
    return value.astimezone(UTC)


# A time the supplier prints ("2026-02-02 14:53:35", naive, local; MySQL's zero date = none),
# read as aware UTC.
SupplierTime = Annotated[
    datetime | None, BeforeValidator(_blank_date), AfterValidator(_supplier_time_to_utc)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: object) -> float | None:
    """Lenient numeric reading for derived fields; the typed fields validate strictly later."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


class OrderItem(BaseModel):
    """One line of an ``orders/create`` request."""

    model_config = ConfigDict(extra="forbid")

    plan_id: int
    quantity: int = Field(default=1, ge=1)
    fields: dict[str, str] | None = None


class CreatedOrder(_Model):
    """One entry of ``orders/create``'s ``data.orders``. The docs' samples show no plan and no
    quantity; the real server's answer has both, which is what pairs several orders answered
    for one item with it (``bridge.supplier.split``)."""

    trans_id: str = Field(min_length=1)
    status: Status
    product_name: str | None = None
    # What the order cost: ``final_amount`` (after the per-user discount: what was paid) where
    # the answer has it, else ``total``.
    total: float | None = None
    plan_id: int | None = None
    quantity: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _paid(cls, data: Any) -> Any:
        if isinstance(data, dict):
            paid = _number(data.get("final_amount"))
            if paid is not None:
                return {**data, "total": paid}
        return data


class CreateResult(_Model):
    # A success without any order gives us nothing to track: treated as an unreadable answer.
    orders: list[CreatedOrder] = Field(min_length=1)
    new_balance: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_summary(cls, data: Any) -> Any:
        if isinstance(data, dict) and "new_balance" not in data:
            return {**data, "new_balance": _dict(data.get("summary")).get("new_balance")}
        return data


class OrderStatus(_Model):
    """``orders/status``. ``items`` are the delivered strings, which need not be one per unit:
    the real server splits a hand-typed delivery on newlines, so one string may carry several
    units, or a plan that upgrades the customer's own account hands over none at all.
    ``delivered_count`` is the supplier's own count (the strings' when it gives none)."""

    trans_id: str = Field(min_length=1)
    status: Status
    items: list[str] = Field(default_factory=list)
    delivered_count: int = 0
    expected_count: int | None = None
    plan_id: int | None = None
    quantity: int | None = None
    # What the order cost (``final_amount``, else ``total_price``, else the short dialect's
    # ``total_amount``) and, full dialect only, whether it is paid or refunded.
    amount: float | None = None
    payment_status: Status | None = None
    # Who placed it and how (full dialect): settling adopts only an order of the key's own user
    # placed through the API (``order_source`` "api"). None where the answer does not say.
    user_id: str | None = None
    order_source: str | None = None
    created_at: SupplierTime = None
    # The plan fields it was bought with (``fields_data``, full dialect; PHP prints none as []).
    fields: dict[str, str] | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_dialects(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # Full dialect: data.order{...} + data.delivery; short: the order fields sit in data.
        order = data["order"] if isinstance(data.get("order"), dict) else data
        delivery = _dict(data.get("delivery"))
        # A blank line of the delivered text is nothing to hand over.
        items = [
            item
            for item in delivery.get("items") or []
            if not (isinstance(item, str) and not item.strip())
        ]
        delivered = delivery.get("delivered_count")
        amounts = (order.get(key) for key in ("final_amount", "total_price", "total_amount"))
        return {
            "trans_id": order.get("trans_id"),
            "status": order.get("status"),
            "items": items,
            "delivered_count": len(items) if delivered is None else delivered,
            "expected_count": delivery.get("expected_count"),
            "plan_id": _dict(order.get("plan")).get("id", order.get("plan_id")),
            "quantity": order.get("quantity"),
            "amount": next((n for n in map(_number, amounts) if n is not None), None),
            "payment_status": order.get("payment_status"),
            "user_id": order.get("user_id"),
            "order_source": order.get("order_source"),
            "created_at": order.get("created_at"),
            "fields": _fields_data(order.get("fields_data")),
        }


def _fields_data(value: object) -> dict[str, Any] | None:
    if isinstance(value, dict):
        return {str(key): "" if item is None else str(item) for key, item in value.items()}
    return {} if value == [] else None


class ListedOrder(_Model):
    """An entry of ``orders/list``. ``created_at`` is aware, converted to UTC.

    The supplier prints it naive in its local time; the zone comes from the validation context
    key ``supplier_tz`` (default Vietnam, UTC+07:00).
    """

    id: int | None = None
    trans_id: str = Field(min_length=1)
    plan_id: int | None = None
    quantity: int = 1
    status: Status
    created_at: SupplierTime = None
    # What the order cost: the documented ``final_amount`` (after discounts), else
    # ``total_price``; None when the listing shows neither.
    amount: float | None = None
    # Who placed it and how, where the listing says (the docs' and the real server's do not:
    # ``orders/status`` does).
    user_id: str | None = None
    order_source: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_plan(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        fixes: dict[str, Any] = {}
        if "plan_id" not in data:
            fixes["plan_id"] = _dict(data.get("plan")).get("id")
        if "amount" not in data:
            paid = _number(data.get("final_amount"))
            fixes["amount"] = paid if paid is not None else _number(data.get("total_price"))
        return {**data, **fixes} if fixes else data


def _pagination(data: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """``page``, ``has_more`` and the totals from the documented ``pagination`` block, tolerating
    gaps: without the block, the page is the one asked for and it is the last."""
    pagination = _dict(data.get("pagination"))
    context = info.context if isinstance(info.context, dict) else {}
    page = pagination.get("current_page") or context.get("page", 1)
    total_pages, total = pagination.get("total_pages"), pagination.get("total")
    has_more = pagination.get("has_more")
    if has_more is None:
        current, pages = _number(page), _number(total_pages)
        has_more = current is not None and pages is not None and current < pages
    return {"page": page, "has_more": has_more, "total_pages": total_pages, "total": total}


class _Page(_Model):
    """One page of a listing; ``has_more`` comes from the pagination block, as documented."""

    page: int
    has_more: bool
    total_pages: int | None = None
    total: int | None = None  # rows in the whole listing

    @model_validator(mode="before")
    @classmethod
    def _lift_pagination(cls, data: Any, info: ValidationInfo) -> Any:
        if isinstance(data, dict):
            return {**data, **_pagination(data, info)}
        return data


class OrderPage(_Page):
    orders: list[ListedOrder]

    def keys(self) -> tuple[str, ...]:
        return tuple(order.trans_id for order in self.orders)


class PlanField(_Model):
    key: str = Field(min_length=1)
    label: str
    type: str = "text"
    required: bool = False

    @model_validator(mode="before")
    @classmethod
    def _label_defaults_to_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("label"):
            return {**data, "label": data.get("key")}
        return data


class Plan(_Model):
    id: int
    name: str
    final_price: float
    is_instant: bool = True
    # Manual plans (is_instant false) report 0 here while in_stock stays true.
    stock_count: int = 0
    in_stock: bool
    fields: list[PlanField] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _fill_derived(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if data.get("final_price") is None:
            sale = data.get("sale_price")
            data["final_price"] = sale if (_number(sale) or 0) > 0 else data.get("price")
        if data.get("stock_count") is None:
            data["stock_count"] = 0
        if data.get("in_stock") is None:
            stock = _number(data["stock_count"]) or 0
            data["in_stock"] = not data.get("is_instant", True) or stock > 0
        fields = data.get("fields")
        # PHP serialises an empty array as [] but a keyed one as an object.
        if isinstance(fields, dict):
            data["fields"] = list(fields.values())
        elif fields is None:
            data["fields"] = []
        return data


class Product(_Model):
    id: int
    name: str
    plans: list[Plan] = Field(default_factory=list)
    # The categories it is listed under (``category``, ``categories``, or ``category_id``):
    # ``products/list?category_id=`` filters by them even where ``categories/list`` answers
    # none (the real server's bug), so they are how a catalogue is read per category.
    category_ids: tuple[int, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _lift_categories(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "category_ids" in data:
            return data
        listed = data.get("categories")
        # PHP serialises a keyed array as an object.
        more = list(listed.values()) if isinstance(listed, dict) else listed
        named = [data.get("category"), data.get("category_id")]
        named += more if isinstance(more, list) else []
        ids = (_number(_dict(one).get("id") if isinstance(one, dict) else one) for one in named)
        # 0 or blank: no category.
        found = tuple(dict.fromkeys(int(i) for i in ids if i and i > 0 and i.is_integer()))
        return {**data, "category_ids": found}


class Category(_Model):
    """An entry of ``categories/list``."""

    id: int
    name: str = ""
    parent_id: int | None = None


class CategoryList(_Model):
    """``categories/list``: ``data.categories``, which the real server may answer empty while
    its products have categories."""

    categories: list[Category] = Field(default_factory=list)


class ProductPage(_Page):
    products: list[Product]

    def keys(self) -> tuple[str, ...]:
        return tuple(str(product.id) for product in self.products)


class Balance(_Model):
    current: float

    @model_validator(mode="before")
    @classmethod
    def _either_dialect(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        balance = data.get("balance")
        if isinstance(balance, dict):  # full dialect: {"current": ..., "currency": ...}
            return {"current": balance.get("current")}
        return {"current": balance}


class AccountInfo(_Model):
    """``account/info``: the key's own limits, permissions and expiry, and today's usage.

    Only the full dialect tells them (``data.api_key``, ``data.api_usage_today``); the short one
    answers the user alone, and every field is then None: "not told", never "none allowed".
    ``rate_limit`` is per minute (the docs give no unit; 60 matches their per-minute sample).
    """

    rate_limit: int | None = Field(default=None, gt=0)
    daily_limit: int | None = Field(default=None, gt=0)
    permissions: frozenset[str] | None = None
    expires_at: SupplierTime = None  # printed like created_at
    used_today: int | None = Field(default=None, ge=0)
    # The id of the user the key belongs to (``data.user.id``; the short dialect's ``data.id``).
    user_id: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_api_key(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        key = _dict(data.get("api_key"))
        permissions = key.get("permissions")
        return {
            # A zero or blank limit tells nothing: the configured default stays.
            "rate_limit": key.get("rate_limit") or None,
            "daily_limit": key.get("daily_limit") or None,
            "permissions": permissions if isinstance(permissions, list) else None,
            "expires_at": key.get("expires_at"),
            "used_today": _dict(data.get("api_usage_today")).get("total_requests"),
            "user_id": _dict(data.get("user")).get("id", data.get("id")),
        }
