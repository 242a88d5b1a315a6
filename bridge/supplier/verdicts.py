"""What a supplier's live answers mean to the operator: a verdict per check (auth, balance,
limits, usage, permissions, key expiry, catalogue), each with what to do next.

``bridge suppliers check`` and ``doctor`` print them; nothing here prints or reads the network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bridge.supplier.key_alerts import KEY_EXPIRING, KEY_PERMISSIONS, account_alerts
from bridge.supplier.probe import Step, SupplierFailure, SupplierProbe
from bridge.supplier.vocabulary import AUTH_CODES, LIMIT_CODES, ErrorCode


class Status(StrEnum):
    """A check's verdict; only PROBLEM fails ``suppliers check``."""

    OK = "ok"
    PROBLEM = "PROBLEM"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


OK, PROBLEM, SKIPPED, UNKNOWN = Status.OK, Status.PROBLEM, Status.SKIPPED, Status.UNKNOWN


@dataclass(frozen=True)
class Limits:
    """The limits the bridge keeps for a key that does not tell its own."""

    rate: int
    daily: int


@dataclass(frozen=True)
class Line:
    check: str
    status: Status
    detail: str


@dataclass
class SupplierVerdict:
    """What a check of one supplier found: a line per check, and the values read."""

    supplier: str
    lines: list[Line] = field(default_factory=list)
    values: dict[str, object] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(line.status != PROBLEM for line in self.lines)

    def add(self, check: str, status: Status, detail: str) -> None:
        self.lines.append(Line(check, status, detail))


def failure_text(failure: SupplierFailure) -> str:
    """A refusal for a person: its code, what the supplier said, what it means, what to do."""
    said = ": ".join(part for part in (_status(failure.status), failure.said) if part)
    return (
        f"{failure.code}{f' ({said})' if said else ''}: {failure.advice.meaning}. "
        f"Next: {failure.advice.next_step}."
    )


def _status(status: int | None) -> str:
    return f"HTTP {status}" if status is not None else ""


def judge_probe(
    name: str, probe: SupplierProbe, *, enabled: bool, limits: Limits, now: datetime
) -> SupplierVerdict:
    """The verdict of each check on what ``probe_supplier`` read of one supplier; ``limits``
    are what the bridge keeps for a key that does not tell its own."""
    found = SupplierVerdict(name)
    found.add("base URL", OK, probe.base_url + ("" if enabled else " (disabled: not bought from)"))
    balance_failed = probe.failures.get(Step.BALANCE)
    key_refused = balance_failed is not None and (
        balance_failed.stops_everything
        or balance_failed.code in AUTH_CODES | {"NO_ANSWER", ErrorCode.UNKNOWN}
    )
    if key_refused:
        assert balance_failed is not None
        found.add("auth", PROBLEM, failure_text(balance_failed))
    elif balance_failed is not None and balance_failed.code in LIMIT_CODES:
        # The real server refuses a spent limit at its auth stage, as a 401: not a bad key.
        found.add("auth", UNKNOWN, "not proved: the key's request limit is spent for now")
    elif balance_failed is not None:
        found.add("auth", UNKNOWN, "not proved: account/balance was refused for another reason")
    else:
        found.add("auth", OK, "the key and secret are accepted")
    if balance_failed is not None and not key_refused:
        found.add("balance", PROBLEM, failure_text(balance_failed))
    elif probe.balance is not None:
        found.add("balance", OK, f"{probe.balance:,.0f}")
    else:
        found.add("balance", SKIPPED, "-")
    found.values["balance"] = probe.balance

    account_failed = probe.failures.get(Step.ACCOUNT)
    info = probe.account
    account_lines = ("limits", "usage today", "permissions", "key expiry")
    defaults = (
        f"the bridge keeps {limits.rate} a minute, "
        f"{limits.daily:,} a day (BRIDGE_SUPPLIER_RATE_LIMIT, "
        "BRIDGE_SUPPLIER_DAILY_LIMIT)"
    )
    if account_failed is not None:
        found.add("limits", PROBLEM, failure_text(account_failed))
        for line in account_lines[1:]:
            found.add(line, SKIPPED, "-")
    elif not probe.made(Step.ACCOUNT):
        for line in account_lines:
            found.add(line, SKIPPED, "-")
    elif info is None:
        found.add("limits", OK, f"this shop has no account/info: {defaults}")
        for line in account_lines[1:]:
            found.add(line, OK, "not told")
    else:
        found.values.update(
            rate_limit=info.rate_limit,
            daily_limit=info.daily_limit,
            used_today=info.used_today,
            permissions=sorted(info.permissions) if info.permissions is not None else None,
            key_expires_at=info.expires_at,
        )
        alerts = dict(account_alerts(name, info, now))
        if info.rate_limit is None and info.daily_limit is None:
            found.add("limits", OK, f"not told: {defaults}")
        else:
            rate = f"{info.rate_limit} a minute" if info.rate_limit else "rate not told"
            daily = f"{info.daily_limit:,} a day" if info.daily_limit else "daily limit not told"
            found.add("limits", OK, f"{rate}, {daily}")
        _usage(found, info.used_today, info.daily_limit or limits.daily)
        if KEY_PERMISSIONS in alerts:
            found.add(
                "permissions",
                PROBLEM,
                f"{alerts[KEY_PERMISSIONS]}. Next: grant them on the supplier's API page.",
            )
        elif info.permissions is None:
            found.add("permissions", OK, "not told")
        else:
            found.add("permissions", OK, "every one the bridge needs")
        if KEY_EXPIRING in alerts:
            found.add("key expiry", PROBLEM, alerts[KEY_EXPIRING])
        elif info.expires_at is None:
            found.add("key expiry", OK, "no expiry told")
        else:
            found.add("key expiry", OK, f"expires {_utc(info.expires_at)}")

    catalogue_failed = probe.failures.get(Step.CATALOGUE)
    if catalogue_failed is not None:
        found.add("catalogue", PROBLEM, failure_text(catalogue_failed))
    elif probe.catalogue is None:
        found.add("catalogue", SKIPPED, "-")
    else:
        catalogue = probe.catalogue
        products = len({plan.product_name for plan in catalogue.values()})
        instant = sum(1 for plan in catalogue.values() if plan.is_instant)
        said = f"{len(catalogue)} plans ({instant} instant) in {products} products"
        if not catalogue.complete:
            # The shop ignores paging and its categories and searches did not reach every product.
            said += (
                f": read in part ({catalogue.describe()}). Next: `bridge mappings check` names "
                "each mapped plan that could not be read; ask the supplier to honour `page`"
            )
        elif len(catalogue.routes) > 1:
            said += f", read by {' and '.join(catalogue.routes[1:])} (the shop ignores paging)"
        found.add("catalogue", OK if catalogue.complete else PROBLEM, said)
        found.values.update(
            plans=len(catalogue), products=products, catalogue_complete=catalogue.complete
        )
    found.values["failures"] = {
        step.value: {
            "code": failure.code,
            "status": failure.status,
            "said": failure.said,
            "meaning": failure.advice.meaning,
            "next_step": failure.advice.next_step,
        }
        for step, failure in probe.failures.items()
    }
    return found


def _usage(found: SupplierVerdict, used: int | None, daily: int) -> None:
    if used is None:
        found.add("usage today", OK, "not told")
    elif used >= daily:
        found.add(
            "usage today",
            PROBLEM,
            f"{used:,} of {daily:,} requests: the day's limit is spent. Next: purchases wait "
            "until the supplier's day turns (midnight, UTC+7), or ask for a higher limit.",
        )
    else:
        found.add("usage today", OK, f"{used:,} of {daily:,} requests")


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")
