"""Configuration the operators edit: shops and suppliers (mappings live in ``mappings``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, select

from bridge.errors import ConfigError
from bridge.models import DEFAULT_TRIGGER_STATUSES, PancakeShop, Supplier
from bridge.pancake.vocabulary import CANCELLING
from bridge.secrets import SecretBox


def add_shop(
    session: Session,
    box: SecretBox,
    shop_id: str,
    *,
    api_key: str,
    webhook_secret: str,
    warehouse_id: str | None = None,
    trigger_statuses: Sequence[int] | None = None,
) -> PancakeShop:
    """Create or update a shop (re-running with new values rotates its keys)."""
    if len(webhook_secret) < 16:
        raise ConfigError("the webhook secret must be at least 16 characters")
    if not api_key:
        raise ConfigError("the Pancake API key must not be empty")
    cancelling = sorted(set(trigger_statuses or ()) & CANCELLING)
    if cancelling:
        raise ConfigError(
            f"trigger statuses {cancelling} mean the sale is off (cancelled, deleted or "
            "returned): an order in them is never fulfilled"
        )
    shop = session.get(PancakeShop, shop_id) or PancakeShop(
        shop_id=shop_id, api_key_enc="", webhook_secret_digest=""
    )
    shop.api_key_enc = box.encrypt(api_key)
    shop.webhook_secret_digest = box.digest(webhook_secret)
    shop.warehouse_id = warehouse_id
    shop.trigger_statuses = list(trigger_statuses or DEFAULT_TRIGGER_STATUSES)
    session.add(shop)
    return shop


def add_supplier(
    session: Session, box: SecretBox, name: str, *, base_url: str, api_key: str, api_secret: str
) -> Supplier:
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "the base URL must start with http:// or https:// (the API root, e.g. https://caoshop.net/api/v1)"
        )
    supplier = session.get(Supplier, name) or Supplier(
        name=name, base_url="", api_key_enc="", api_secret_enc=""
    )
    supplier.base_url = base_url.rstrip("/")
    supplier.api_key_enc = box.encrypt(api_key)
    supplier.api_secret_enc = box.encrypt(api_secret)
    supplier.enabled = True
    session.add(supplier)
    return supplier


def list_shops(session: Session) -> list[PancakeShop]:
    return list(session.exec(select(PancakeShop).order_by(PancakeShop.shop_id)))


def list_suppliers(session: Session) -> list[Supplier]:
    return list(session.exec(select(Supplier).order_by(Supplier.name)))
