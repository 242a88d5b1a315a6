"""A supplier checked against its live API: keys, limits and catalogue (``check_supplier``,
``probe_supplier``), and what each failed read means to the operator (``supplier_failure``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from bridge.errors import ConfigError, Refused
from bridge.supplier.catalogue import Catalogue
from bridge.supplier.clock import ClockOffset
from bridge.supplier.suppliers import api_root
from bridge.supplier.vocabulary import AUTH_CODES, Advice, ErrorCode, advice

if TYPE_CHECKING:
    from bridge.supplier.budget import Budget, BudgetExhausted
    from bridge.supplier.client import SupplierClient
    from bridge.supplier.errors import SupplierError
    from bridge.supplier.schemas import AccountInfo


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

    url = api_root(base_url)
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
# The catalogue step reads around a shop that ignores paging (per category, by search) and
# says its gap on the catalogue line instead: this is another listing (``orders/list``).
_INCOMPLETE = Advice(
    "a listing cannot be read whole (the supplier repeats or skips pages)",
    "tell the supplier; the bridge reads what it can and says what it could not",
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
    from bridge.supplier.catalogue import read_catalogue
    from bridge.supplier.errors import SupplierError, SupplierRefused

    probe = SupplierProbe(api_root(base_url))
    with _checking_client(probe.base_url, api_key, api_secret, timeout_seconds, budget) as client:
        for step in steps:
            try:
                if step is Step.BALANCE:
                    probe.balance = client.balance()
                elif step is Step.ACCOUNT:
                    probe.account = client.account_info()
                else:
                    # Whole, or with its gap said (``Catalogue.complete``), at most
                    # ``catalogue.MAX_CALLS`` requests for a shop that ignores paging.
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
