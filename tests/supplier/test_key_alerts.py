"""The alerts an account/info answer calls for: permissions (``all`` grants every one) and the
key's expiry, past or near."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.supplier.key_alerts import (
    KEY_EXPIRING,
    KEY_PERMISSIONS,
    KEY_REFUSAL_ALERTS,
    REFUSAL_ALERTS,
    account_alerts,
)
from bridge.supplier.schemas import AccountInfo

NOW = datetime(2026, 12, 2, tzinfo=UTC)


def info(permissions: list[str] | None = None, expires_at: str | None = None) -> AccountInfo:
    return AccountInfo.model_validate(
        {"api_key": {"permissions": permissions, "expires_at": expires_at}}
    )


@pytest.mark.parametrize("permissions", [["all"], ["ALL"], ["all", "orders.create"]])
def test_the_all_permission_grants_every_one(permissions: list[str]) -> None:
    assert account_alerts("caoshop", info(permissions), NOW) == []


def test_a_list_without_all_names_what_is_missing() -> None:
    [(kind, message)] = account_alerts("caoshop", info(["orders.create", "orders.status"]), NOW)
    assert kind == KEY_PERMISSIONS
    assert "orders.list" in message
    assert "products.list" in message
    assert "orders.create" not in message


def test_a_key_already_expired_raises_the_key_alert() -> None:
    # Printed naive in the supplier's zone (UTC+7): a day before NOW.
    [(kind, message)] = account_alerts("caoshop", info(["all"], "2026-12-01 07:00:00"), NOW)
    assert kind == KEY_EXPIRING
    assert "expired at 2026-12-01 00:00 UTC" in message


def test_a_key_far_from_expiry_raises_nothing() -> None:
    later = (NOW + timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    assert account_alerts("caoshop", info(["all"], later), NOW) == []


def test_every_key_refusal_has_its_alert_and_a_purchase_clears_them() -> None:
    for code in ("expired_api_key", "user_banned", "api_disabled", "invalid_api_key"):
        assert code in KEY_REFUSAL_ALERTS
    assert set(KEY_REFUSAL_ALERTS) <= set(REFUSAL_ALERTS)
    assert {"insufficient_balance", "user_error"} <= set(REFUSAL_ALERTS)
    # A spent minute is no alert; a spent day is the paused supplier's (workers/suppliers/keys).
    assert not {"rate_limit_exceeded", "daily_limit_exceeded"} & set(REFUSAL_ALERTS)
