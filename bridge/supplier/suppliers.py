"""The suppliers the bridge buys from: their records (base URL, encrypted key and secret, clock,
limits). Whether a supplier works is asked of its live API by ``bridge.supplier.probe``."""

from __future__ import annotations

from sqlmodel import Session, select

from bridge.db import utcnow
from bridge.errors import ConfigError, NotFound
from bridge.secrets import SecretBox
from bridge.supplier.clock import ClockOffset, note_clock
from bridge.supplier.models import Supplier


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
    url = api_root(base_url)
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


def api_root(base_url: str) -> str:
    if not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            "the base URL must start with http:// or https:// (the API root, e.g. https://caoshop.net/api/v1)"
        )
    return base_url.rstrip("/")


def get_supplier(session: Session, name: str) -> Supplier:
    supplier = session.get(Supplier, name)
    if supplier is None:
        raise NotFound(f"no supplier {name}: `bridge suppliers list` shows them")
    return supplier


def list_suppliers(session: Session) -> list[Supplier]:
    return list(session.exec(select(Supplier).order_by(Supplier.name)))
