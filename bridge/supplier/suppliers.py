"""The suppliers the bridge buys from: their records (base URL, encrypted key and secret, clock,
zone, limits). Whether a supplier works is asked of its live API by ``bridge.supplier.probe``."""

from __future__ import annotations

from sqlmodel import Session, select

from bridge.db import utcnow
from bridge.errors import ConfigError, NotFound
from bridge.secrets import SecretBox
from bridge.supplier.clock import ClockOffset, format_zone, note_clock, parse_zone
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
    timezone: str | None = None,
) -> Supplier:
    """Create or update a supplier as given; ``check_supplier`` tells whether it works (and
    ``clock`` is what it measured).

    ``timezone``: the zone its naive times are printed in (``+07:00``; ``auto``: learn it from
    its orders); None keeps the one stored. Raises ConfigError for a zone that is none.
    """
    url = api_root(base_url)
    zone = zone_setting(timezone)
    supplier = session.get(Supplier, name) or Supplier(
        name=name, base_url="", api_key_enc="", api_secret_enc=""
    )
    if supplier.base_url != url:
        # Another server may keep another clock, zone and users: what was learnt no longer holds.
        supplier.clock_low_seconds = supplier.clock_high_seconds = None
        supplier.clock_measured_at = None
        supplier.zone_minutes = None
        supplier.user_id = None
    elif supplier.api_key_enc and box.decrypt(supplier.api_key_enc) != api_key:
        supplier.user_id = None  # another key may belong to another user
    if timezone is not None:
        supplier.timezone = zone
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


def zone_setting(timezone: str | None) -> str | None:
    """The stored form of a ``--timezone`` (``+07:00``), None for ``auto`` or none given."""
    if timezone is None or timezone.strip().lower() == "auto":
        return None
    try:
        return format_zone(parse_zone(timezone))
    except ValueError as exc:
        raise ConfigError(f"--timezone: {exc}, or auto to learn it") from None


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
