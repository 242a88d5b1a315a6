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
    trans_id: str = Field(min_length=1)
    status: Status
    product_name: str | None = None
    total: float | None = None


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
    trans_id: str = Field(min_length=1)
    status: Status
    items: list[str] = Field(default_factory=list)
    delivered_count: int = 0
    expected_count: int | None = None
    plan_id: int | None = None
    quantity: int | None = None

    @model_validator(mode="before")
    @classmethod
    def _flatten_dialects(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        # Full dialect: data.order{...} + data.delivery; short: the order fields sit in data.
        order = data["order"] if isinstance(data.get("order"), dict) else data
        delivery = _dict(data.get("delivery"))
        items = delivery.get("items") or []
        delivered = delivery.get("delivered_count")
        return {
            "trans_id": order.get("trans_id"),
            "status": order.get("status"),
            "items": items,
            "delivered_count": len(items) if delivered is None else delivered,
            "expected_count": delivery.get("expected_count"),
            "plan_id": _dict(order.get("plan")).get("id", order.get("plan_id")),
            "quantity": order.get("quantity"),
        }


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
        }
