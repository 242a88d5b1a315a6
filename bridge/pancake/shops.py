"""The shops the bridge serves: their records (Pancake key, webhook secret digest, warehouse,
trigger statuses, the moment from which orders are theirs to fulfil). A shop's webhook in Pancake
is set up by ``bridge.pancake.connect``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from bridge.errors import ConfigError, NotFound, SecretKeyMismatch
from bridge.pancake.models import DEFAULT_TRIGGER_STATUSES, PancakeShop
from bridge.pancake.vocabulary import CANCELLING, NoteDelivery
from bridge.secrets import SecretBox


@dataclass(frozen=True)
class SavedShop:
    """What ``add_shop`` did: the row, whether it is new, and whether its Pancake key changed
    (orders that failed on the old key can then be retried)."""

    shop: PancakeShop
    created: bool
    key_changed: bool


def add_shop(
    session: Session,
    box: SecretBox,
    shop_id: str,
    *,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    warehouse_id: str | None = None,
    trigger_statuses: Sequence[int] | None = None,
    fulfil_from: datetime | None = None,
    deliver_to: NoteDelivery | None = None,
) -> SavedShop:
    """Create a shop, or change what is given of an existing one.

    Whatever is None keeps its stored value, so rotating a key leaves the warehouse and the
    trigger statuses as they were; a new shop needs both secrets and starts with the default
    triggers and the first warehouse. ``warehouse_id=""`` goes back to the first warehouse.
    ``fulfil_from`` (an aware moment): orders created before it are not bought; a new shop's
    default is the moment it is added. ``deliver_to``: which of an order's notes gets the
    credentials (a new shop: the internal ``note``).
    """
    if fulfil_from is not None and fulfil_from.tzinfo is None:
        raise ConfigError("the moment orders are fulfilled from needs a time zone (UTC)")
    if webhook_secret is not None and len(webhook_secret) < 16:
        raise ConfigError("the webhook secret must be at least 16 characters")
    if api_key is not None and not api_key:
        raise ConfigError("the Pancake API key must not be empty")
    cancelling = sorted(set(trigger_statuses or ()) & CANCELLING)
    if cancelling:
        raise ConfigError(
            f"trigger statuses {cancelling} mean the sale is off (cancelled, deleted or "
            "returned): an order in them is never fulfilled"
        )
    shop = session.get(PancakeShop, shop_id)
    created = shop is None
    if shop is None:
        if api_key is None or webhook_secret is None:
            raise ConfigError(
                f"shop {shop_id} is new: it needs its Pancake API key and its webhook secret"
            )
        shop = PancakeShop(
            shop_id=shop_id,
            api_key_enc="",
            webhook_secret_digest="",
            trigger_statuses=list(DEFAULT_TRIGGER_STATUSES),
        )
        shop.fulfil_from = shop.created_at
    key_changed = not created and api_key is not None and _stored_key(box, shop) != api_key
    if api_key is not None:
        shop.api_key_enc = box.encrypt(api_key)
    if webhook_secret is not None:
        shop.webhook_secret_digest = box.digest(webhook_secret)
    if warehouse_id is not None:
        shop.warehouse_id = warehouse_id or None
    if trigger_statuses:
        shop.trigger_statuses = list(trigger_statuses)
    if fulfil_from is not None:
        shop.fulfil_from = fulfil_from
    if deliver_to is not None:
        shop.deliver_to = NoteDelivery(deliver_to)
    session.add(shop)
    return SavedShop(shop, created=created, key_changed=key_changed)


def shop_exists(session: Session, shop_id: str) -> bool:
    return session.get(PancakeShop, shop_id) is not None


def get_shop(session: Session, shop_id: str) -> PancakeShop:
    shop = session.get(PancakeShop, shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}: add it first (bridge shops add {shop_id})")
    return shop


def _stored_key(box: SecretBox, shop: PancakeShop) -> str | None:
    """The shop's stored Pancake key; None when it does not open (so any key is a change)."""
    try:
        return box.decrypt(shop.api_key_enc)
    except SecretKeyMismatch:
        return None


def list_shops(session: Session) -> list[PancakeShop]:
    return list(session.exec(select(PancakeShop).order_by(PancakeShop.shop_id)))
