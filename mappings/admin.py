"""Configuration the operators edit: shops and suppliers (mappings live in ``mappings``).

Besides storing them, it checks a supplier against its live API: keys, limits and catalogue
(``check_supplier``, ``probe_supplier``). A shop's webhook in Pancake is ``mappings.webhooks``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bridge.db import utcnow
from bridge.errors import ConfigError, NotFound, Refused, SecretKeyMismatch
from bridge.models import DEFAULT_TRIGGER_STATUSES, PancakeShop, Supplier
from bridge.pancake.vocabulary import CANCELLING
from bridge.secrets import SecretBox
from bridge.supplier.clock import ClockOffset, note_clock
from bridge.supplier.vocabulary import AUTH_CODES, Advice, ErrorCode, advice
from mappings.catalogue import Catalogue

if TYPE_CHECKING:
    from bridge.supplier.budget import Budget, BudgetExhausted
    from bridge.supplier.client import SupplierClient
    from bridge.supplier.errors import SupplierError
    from bridge.supplier.schemas import AccountInfo


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
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.errors import (
        SupplierOutcomeUnknown,
        SupplierRateLimited,
        SupplierRedirected,
        SupplierRefused,
        SupplierUnreachable,
    )

    url = _base_url(base_url)
    try:
        with _checking_client(url, api_key, api_secret, timeout_seconds, budget) as client:
            return SupplierCheck(client.balance(), client.clock_offset)
    except SupplierRedirected as exc:
        raise ConfigError(f"{url} {exc.message}") from None
    except SupplierRefused as exc:
        said = f" ({exc.message})" if exc.message else ""
        meaning, next_step = advice(exc.error_code)
        raise ConfigError(
            f"{url} refused account/balance: HTTP {exc.status} {exc.error_code}{said}: "
            f"{meaning}; {next_step}"
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


@contextmanager
def _checking_client(
    url: str, api_key: str, api_secret: str, timeout_seconds: float, budget: Budget | None
) -> Iterator[SupplierClient]:
    # Imported here: httpx and redis would add 0.4 s to every command that uses this module.
    import httpx

    from bridge.supplier.client import SupplierClient

    timeout = httpx.Timeout(timeout_seconds, connect=min(5.0, timeout_seconds))
    # One attempt: an operator at a prompt is better served by the reason than by retries.
    with SupplierClient(
        url, api_key, api_secret, timeout=timeout, read_attempts=1, budget=budget
    ) as client:
        yield client


class Step(StrEnum):
    """The reads of ``probe_supplier``, in the order it makes them."""

    BALANCE = "account/balance"
    ACCOUNT = "account/info"
    CATALOGUE = "products/list"


@dataclass(frozen=True)
class SupplierFailure:
    """Why a read failed: the supplier's error code (or ours: UNREACHABLE, NO_ANSWER, BUSY,
    INCOMPLETE), what it said (never a key), and what it means to the operator."""

    code: str
    status: int | None
    said: str
    advice: Advice

    @property
    def stops_everything(self) -> bool:
        """Every other read would fail the same way (a refused key, a wrong URL, no network)."""
        return self.code in _STOPPING


# A key, a host or a URL refused: no other read can succeed. A permission refused may be one
# call's own, so the other reads are still made.
_STOPPING = frozenset(AUTH_CODES - {ErrorCode.PERMISSION_DENIED}) | {"UNREACHABLE"}
# The failures that carry no error code of the supplier's.
_UNREACHABLE = Advice(
    "the supplier cannot be reached",
    "check the base URL's host name and port, and that this server reaches the Internet",
)
_NO_ANSWER = Advice(
    "the supplier gave no usable answer (a timeout, a server error, or a page that is not the "
    "API's)",
    "check that the base URL is the API root; if the supplier is down, try again later",
)
_BUSY = Advice(
    "the bridge's own request budget for this key is spent for now (the workers share it)",
    "try again in a minute",
)
_INCOMPLETE = Advice(
    "the catalogue cannot be read whole (the supplier repeats or skips pages)",
    "the stock sync keeps its last values for this supplier meanwhile; tell the supplier",
)


def supplier_failure(exc: SupplierError | BudgetExhausted) -> SupplierFailure:
    """What a failed read of a supplier means, and what to do."""
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.errors import (
        ListingIncomplete,
        SupplierRateLimited,
        SupplierRefused,
        SupplierUnreachable,
    )

    if isinstance(exc, BudgetExhausted):
        return SupplierFailure("BUSY", None, str(exc), _BUSY)
    if isinstance(exc, SupplierRateLimited | SupplierRefused):
        # A redirect's message names the URL to use instead; a refusal's is the supplier's own.
        code = exc.error_code or ErrorCode.UNKNOWN
        said = exc.message or ""
        if not said and exc.retry_after is not None:
            said = f"Retry-After {exc.retry_after:.0f} s"
        return SupplierFailure(code, exc.status, said, advice(code))
    if isinstance(exc, SupplierUnreachable):
        return SupplierFailure("UNREACHABLE", None, str(exc), _UNREACHABLE)
    if isinstance(exc, ListingIncomplete):
        return SupplierFailure("INCOMPLETE", exc.status, str(exc), _INCOMPLETE)
    return SupplierFailure("NO_ANSWER", exc.status, str(exc), _NO_ANSWER)


@dataclass
class SupplierProbe:
    """What ``probe_supplier`` read of one supplier; a part not read is None, and the failure
    that stopped it is in ``failures`` (a read after a failure that stops everything is not
    made). ``account_served`` is False for a shop without ``account/info`` (a bare 404)."""

    base_url: str
    balance: float | None = None
    account: AccountInfo | None = None
    account_served: bool = True
    catalogue: Catalogue | None = None
    failures: dict[Step, SupplierFailure] = field(default_factory=dict)
    clock: ClockOffset | None = None

    def made(self, step: Step) -> bool:
        """Whether the read was made (answered or failed)."""
        if step in self.failures:
            return True
        done = {
            Step.BALANCE: self.balance is not None,
            Step.ACCOUNT: self.account is not None or not self.account_served,
            Step.CATALOGUE: self.catalogue is not None,
        }
        return done[step]


def probe_supplier(
    base_url: str,
    api_key: str,
    api_secret: str,
    *,
    steps: Sequence[Step] = tuple(Step),
    timeout_seconds: float = 30.0,
    budget: Budget | None = None,
    name: str = "",
) -> SupplierProbe:
    """Read what the supplier tells of the account: its balance (which proves the URL and the
    keys), ``account/info`` (the key's limits, permissions, expiry and today's usage, where the
    dialect has them) and the catalogue, as ``steps`` asks. Each request spends the key's shared
    ``budget``; nothing is bought. Call it outside a database transaction."""
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.errors import SupplierError, SupplierRefused
    from mappings.catalogue import read_catalogue

    probe = SupplierProbe(_base_url(base_url))
    with _checking_client(probe.base_url, api_key, api_secret, timeout_seconds, budget) as client:
        for step in steps:
            try:
                if step is Step.BALANCE:
                    probe.balance = client.balance()
                elif step is Step.ACCOUNT:
                    probe.account = client.account_info()
                else:
                    probe.catalogue = read_catalogue(client, name=name)
            except SupplierRefused as exc:
                if step is Step.ACCOUNT and exc.status == 404 and _no_code(exc.error_code):
                    probe.account_served = False  # a shop without the endpoint: nothing to tell
                    continue
                probe.failures[step] = supplier_failure(exc)
            except (SupplierError, BudgetExhausted) as exc:
                probe.failures[step] = supplier_failure(exc)
            if step in probe.failures and probe.failures[step].stops_everything:
                break
        probe.clock = client.clock_offset
    return probe


def _no_code(code: str | None) -> bool:
    return code in (None, "", ErrorCode.UNKNOWN)


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


def get_supplier(session: Session, name: str) -> Supplier:
    supplier = session.get(Supplier, name)
    if supplier is None:
        raise NotFound(f"no supplier {name}: `bridge suppliers list` shows them")
    return supplier


def list_suppliers(session: Session) -> list[Supplier]:
    return list(session.exec(select(Supplier).order_by(Supplier.name)))
