"""Configuration the operators edit: shops and suppliers (mappings live in ``mappings``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bridge.db import utcnow
from bridge.errors import ConfigError, Refused, SecretKeyMismatch
from bridge.models import DEFAULT_TRIGGER_STATUSES, PancakeShop, Supplier
from bridge.pancake.vocabulary import CANCELLING
from bridge.secrets import SecretBox
from bridge.supplier.clock import ClockOffset, note_clock

if TYPE_CHECKING:
    from bridge.supplier.budget import Budget


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
) -> SavedShop:
    """Create a shop, or change what is given of an existing one.

    Whatever is None keeps its stored value, so rotating a key leaves the warehouse and the
    trigger statuses as they were; a new shop needs both secrets and starts with the default
    triggers and the first warehouse. ``warehouse_id=""`` goes back to the first warehouse.
    """
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
    key_changed = not created and api_key is not None and _stored_key(box, shop) != api_key
    if api_key is not None:
        shop.api_key_enc = box.encrypt(api_key)
    if webhook_secret is not None:
        shop.webhook_secret_digest = box.digest(webhook_secret)
    if warehouse_id is not None:
        shop.warehouse_id = warehouse_id or None
    if trigger_statuses:
        shop.trigger_statuses = list(trigger_statuses)
    session.add(shop)
    return SavedShop(shop, created=created, key_changed=key_changed)


def shop_exists(session: Session, shop_id: str) -> bool:
    return session.get(PancakeShop, shop_id) is not None


def _stored_key(box: SecretBox, shop: PancakeShop) -> str | None:
    """The shop's stored Pancake key; None when it does not open (so any key is a change)."""
    try:
        return box.decrypt(shop.api_key_enc)
    except SecretKeyMismatch:
        return None


@dataclass(frozen=True)
class SupplierCheck:
    balance: float
    clock: ClockOffset | None


def check_supplier(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    timeout_seconds: float = 30.0,
    budget: Budget | None = None,
) -> SupplierCheck:
    """Read the account balance once with these settings: the balance, and the supplier's clock
    as the answer's timestamp shows it (full dialect).

    It proves what a purchase needs: the base URL is the API root itself (a redirect is refused
    with the URL it points to) and the key and secret are accepted. ``budget``: the key's shared
    limiter, so the check counts like any request. Call it outside a database transaction: it
    waits on the network.
    """
    # Imported here: httpx and redis would add 0.4 s to every command that uses this module.
    import httpx

    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.client import SupplierClient
    from bridge.supplier.errors import (
        SupplierOutcomeUnknown,
        SupplierRateLimited,
        SupplierRedirected,
        SupplierRefused,
        SupplierUnreachable,
    )

    url = _base_url(base_url)
    timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
    try:
        # One attempt: an operator at a prompt is better served by the reason than by retries.
        with SupplierClient(
            url, api_key, api_secret, timeout=timeout, read_attempts=1, budget=budget
        ) as client:
            return SupplierCheck(client.balance(), client.clock_offset)
    except SupplierRedirected as exc:
        raise ConfigError(f"{url} {exc.message}") from None
    except SupplierRefused as exc:
        said = f" ({exc.message})" if exc.message else ""
        raise ConfigError(
            f"{url} refused account/balance: HTTP {exc.status} {exc.error_code}{said}; check "
            "the API key and secret, and that the URL is the API root"
        ) from None
    except SupplierUnreachable:
        raise ConfigError(
            f"cannot reach {url}: check the base URL, or save it unchecked with --offline"
        ) from None
    except (SupplierRateLimited, BudgetExhausted) as exc:
        raise Refused(
            f"{url} cannot be checked now ({exc}): try again later, or save it unchecked "
            "with --offline"
        ) from None
    except SupplierOutcomeUnknown as exc:
        raise ConfigError(
            f"{url} gave no usable answer to account/balance ({exc}): check that it is the API "
            "root, or save it unchecked with --offline"
        ) from None


def add_supplier(
    session: Session,
    box: SecretBox,
    name: str,
    *,
    base_url: str,
    api_key: str,
    api_secret: str,
    clock: ClockOffset | None = None,
) -> Supplier:
    """Create or update a supplier as given; ``check_supplier`` tells whether it works (and
    ``clock`` is what it measured)."""
    url = _base_url(base_url)
    supplier = session.get(Supplier, name) or Supplier(
        name=name, base_url="", api_key_enc="", api_secret_enc=""
    )
    if supplier.base_url != url:
        # Another server may keep another clock: what was measured no longer holds.
        supplier.clock_low_seconds = supplier.clock_high_seconds = None
        supplier.clock_measured_at = None
    # The key (or the server) may have changed: its limits and expiry are asked again at once.
    supplier.rate_limit = supplier.daily_limit = None
    supplier.key_expires_at = supplier.account_read_at = None
    supplier.base_url = url
    supplier.api_key_enc = box.encrypt(api_key)
    supplier.api_secret_enc = box.encrypt(api_secret)
    supplier.enabled = True
    session.add(supplier)
    note_clock(supplier, clock, utcnow())
    return supplier


def _base_url(base_url: str) -> str:
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "the base URL must start with http:// or https:// (the API root, e.g. https://caoshop.net/api/v1)"
        )
    return base_url.rstrip("/")


def list_shops(session: Session) -> list[PancakeShop]:
    return list(session.exec(select(PancakeShop).order_by(PancakeShop.shop_id)))


def list_suppliers(session: Session) -> list[Supplier]:
    return list(session.exec(select(Supplier).order_by(Supplier.name)))
