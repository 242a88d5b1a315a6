"""What a supplier key's answers call for: the alerts of ``account/info`` and of a refused key.

Pure decisions, read by the account check (``workers/suppliers/accounts.py``), the purchase step
(which clears them when an order is bought) and ``bridge suppliers check``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.supplier.schemas import AccountInfo
from bridge.supplier.vocabulary import ACCOUNT_CODES, AUTH_CODES

# The permissions the bridge's calls need, and what each call is for.
REQUIRED_PERMISSIONS: dict[str, str] = {
    "orders.create": "buying each line",
    "orders.list": "settling a purchase whose answer was lost, and polling pending orders",
    "orders.status": "reading the delivered credentials",
    "products.list": "the stock sync reading the catalogue",
}
# The permission that grants every other one (the real server's keys often hold only it).
ALL_PERMISSIONS = "all"
# A key expiring this soon gets an alert: time for the operator to renew it and paste the new one.
EXPIRY_WARNING = timedelta(days=7)
KEY_PERMISSIONS = "key_permissions"
KEY_EXPIRING = "key_expiring"
# The alerts a refused key raises (the error code's name, of the supplier: purchase, deliver,
# the account check); any answer that accepts the key clears them (a bought order,
# account/info).
KEY_REFUSAL_ALERTS = tuple(sorted(code.lower() for code in AUTH_CODES))
# A bought order also proves the account's balance and standing.
REFUSAL_ALERTS = tuple(
    sorted({code.lower() for code in ACCOUNT_CODES - AUTH_CODES} | set(KEY_REFUSAL_ALERTS))
)


def account_alerts(name: str, info: AccountInfo, now: datetime) -> list[tuple[str, str]]:
    """The (kind, message) of each alert the answer calls for; none when the dialect is silent."""
    alerts: list[tuple[str, str]] = []
    granted = {permission.casefold() for permission in info.permissions or ()}
    if info.permissions is not None and ALL_PERMISSIONS not in granted:
        missing = [p for p in REQUIRED_PERMISSIONS if p not in granted]
        if missing:
            needs = "; ".join(f"{p} ({REQUIRED_PERMISSIONS[p]})" for p in missing)
            alerts.append(
                (KEY_PERMISSIONS, f"supplier {name}: the API key lacks permission for {needs}")
            )
    if info.expires_at is not None and info.expires_at - now <= EXPIRY_WARNING:
        when = info.expires_at.strftime("%Y-%m-%d %H:%M UTC")
        if info.expires_at <= now:
            message = f"supplier {name}: the API key expired at {when}; paste a new one"
        else:
            days = (info.expires_at - now).total_seconds() / 86_400
            message = (
                f"supplier {name}: the API key expires at {when} (in {days:.1f} days); "
                "renew it and paste the new one (bridge suppliers add)"
            )
        alerts.append((KEY_EXPIRING, message))
    return alerts
