"""account/info feeds the budget: the key's own limits, today's usage, permission and expiry alerts.

Real HTTP to the simulator and the real step functions; no workers run, so each test decides when
the scheduler's job and the step run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.supplier.budget import BudgetExhausted
from bridge.supplier.client import SupplierClient
from bridge.supplier.key_alerts import account_alerts
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import AccountInfo
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import assert_paused_for_the_day
from workers.alerts.models import Alert
from workers.queue.dispatch import ACCOUNT_CHECK, Send
from workers.suppliers.accounts import check_accounts, due_account_checks

NAME = "shop"
INFO = "/api/v1/account/info"
# The simulator runs its minute 30 times faster: a 2-second window, as the bridge is told.
TIME_SCALE = 30.0
WINDOW = 60.0 / TIME_SCALE


@pytest.fixture
def bridge(tmp_path: Path) -> Iterator[Sandbox]:
    settings = fast_settings(
        migrated_sqlite_url(tmp_path),
        supplier_rate_window_seconds=WINDOW,
        supplier_rate_margin=0,
        supplier_budget_wait_seconds=10.0,
    )
    sandbox = Sandbox(settings)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def supplier_row(sandbox: Sandbox) -> Supplier:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Supplier, NAME)
        assert row is not None
        return row


def client(sandbox: Sandbox) -> SupplierClient:
    return sandbox.runtime.ctx.supplier(supplier_row(sandbox))


def run_check(sandbox: Sandbox) -> None:
    """What the scheduler and one worker do: the job says a check is due, the step runs it."""
    ctx = sandbox.runtime.ctx
    assert due_account_checks(ctx) == [Send(ACCOUNT_CHECK, 0)]
    assert check_accounts(ctx, 0) == []


def alerts(sandbox: Sandbox) -> dict[str, str]:
    with session_scope(sandbox.runtime.engine) as session:
        return {a.kind: a.message for a in session.exec(select(Alert)) if a.subject == NAME}


def test_the_keys_own_rate_limit_reaches_a_client_built_before_it_was_read(
    bridge: Sandbox,
) -> None:
    sim = bridge.add_supplier(
        NAME, SupplierSimulator(rate_limit_per_minute=5, time_scale=TIME_SCALE)
    )
    shop = client(bridge)  # built under the configured default, 60 a window
    run_check(bridge)
    assert (supplier_row(bridge).rate_limit, supplier_row(bridge).daily_limit) == (5, 10_000)
    assert client(bridge) is shop, "the cached client is kept; its budget is retuned"

    started = time.monotonic()
    for _ in range(9):  # with the account/info read, ten requests: two windows' worth
        shop.balance()
    elapsed = time.monotonic() - started

    assert sim.count_429 == 0
    assert len(sim.calls) == 10, "no request was refused and sent again"
    # The 6th request of the first window waited for the window to move on (the 11th, had there
    # been one, would have waited a second time).
    assert elapsed >= WINDOW * 0.9


def test_todays_usage_seeds_the_daily_count(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    sim.used_today = 9_997  # the account/info read makes it 9,998 of 10,000
    run_check(bridge)
    shop = client(bridge)
    shop.balance()
    shop.balance()
    with pytest.raises(BudgetExhausted, match="daily limit"):
        shop.balance()
    assert sim.used_today == 10_000
    assert sim.count_429 == 0, "the bridge stopped itself; the supplier refused nothing"


def test_a_higher_count_of_our_own_is_never_lowered_by_the_suppliers(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    budget = bridge.runtime.ctx.supplier_budget(supplier_row(bridge))
    budget.seed_daily(9_999)
    run_check(bridge)  # the simulator says 1; ours stays 10,000 (9,999 and the read)
    assert sim.used_today == 1
    with pytest.raises(BudgetExhausted, match="daily limit"):
        client(bridge).balance()


def test_missing_permissions_and_a_key_about_to_expire_raise_alerts(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    sim.permissions = ["orders.create", "orders.status", "account.info"]
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    sim.key_expires_at = expires
    run_check(bridge)

    raised = alerts(bridge)
    assert set(raised) == {"key_permissions", "key_expiring"}
    assert "orders.list (settling" in raised["key_permissions"]
    assert "products.list (the stock sync" in raised["key_permissions"]
    assert "orders.create" not in raised["key_permissions"]
    assert expires.strftime("%Y-%m-%d %H:%M UTC") in raised["key_expiring"]
    assert "in 3.0 days" in raised["key_expiring"]
    assert supplier_row(bridge).key_expires_at == expires

    # Asked again (the interval has passed): the same alerts, counted, not duplicated.
    with session_scope(bridge.runtime.engine) as session:
        row = session.get(Supplier, NAME)
        assert row is not None
        row.account_read_at = None
        session.add(row)
    run_check(bridge)
    with session_scope(bridge.runtime.engine) as session:
        counts = sorted(a.count for a in session.exec(select(Alert)))
    assert counts == [2, 2]


def test_a_full_key_far_from_expiry_raises_nothing(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    sim.key_expires_at = datetime.now(UTC) + timedelta(days=30)
    run_check(bridge)
    assert alerts(bridge) == {}


def test_an_expired_key_says_so() -> None:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    # Printed naive in the supplier's zone (UTC+7): an hour ago.
    info = AccountInfo.model_validate({"api_key": {"expires_at": "2026-12-02 06:00:00"}})
    [(kind, message)] = account_alerts("caoshop", info, now)
    assert kind == "key_expiring"
    assert message == (
        "supplier caoshop: the API key expired at 2026-12-01 23:00 UTC; paste a new one"
    )


@pytest.mark.parametrize("shop", ["short dialect", "no account/info"])
def test_a_shop_that_does_not_tell_keeps_the_defaults_and_is_asked_once_an_interval(
    bridge: Sandbox, shop: str
) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator(dialect="short"))
    sim.serves_account_info = shop == "short dialect"
    run_check(bridge)
    row = supplier_row(bridge)
    assert (row.rate_limit, row.daily_limit, row.key_expires_at) == (None, None, None)
    assert row.account_read_at is not None
    ctx = bridge.runtime.ctx
    assert due_account_checks(ctx) == [], "not due again before the interval"
    check_accounts(ctx, 0)  # a duplicated message reads nothing
    assert sim.calls.count(("GET", INFO)) == 1
    assert alerts(bridge) == {}

    # Once the interval has passed it is asked again.
    later = row.account_read_at + timedelta(seconds=ctx.settings.supplier_account_check_seconds)
    ctx.clock = lambda: later + timedelta(seconds=1)
    run_check(bridge)
    assert sim.calls.count(("GET", INFO)) == 2


def test_a_disabled_supplier_is_not_asked(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    with session_scope(bridge.runtime.engine) as session:
        row = session.get(Supplier, NAME)
        assert row is not None
        row.enabled = False
        session.add(row)
    assert due_account_checks(bridge.runtime.ctx) == []
    check_accounts(bridge.runtime.ctx, 0)
    assert sim.calls == []


def test_a_supplier_that_is_down_is_asked_again_sooner(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator())
    sim.inject("429", times=10)  # every retry of the read is refused
    ctx = bridge.runtime.ctx
    ctx.settings = ctx.settings.model_copy(update={"supplier_account_check_seconds": 310.0})
    run_check(bridge)
    assert supplier_row(bridge).rate_limit is None
    # Due again RETRY_SECONDS (300) after the failure, not a whole interval (310).
    now = ctx.clock()
    ctx.clock = lambda: now + timedelta(seconds=295)
    assert due_account_checks(ctx) == []
    ctx.clock = lambda: now + timedelta(seconds=302)
    assert due_account_checks(ctx) == [Send(ACCOUNT_CHECK, 0)]


def test_a_supplier_added_again_is_asked_again_at_once(bridge: Sandbox) -> None:
    # Another key (or server) may have other limits: what the old one told no longer holds.
    first = bridge.add_supplier(NAME, SupplierSimulator(rate_limit_per_minute=5))
    run_check(bridge)
    assert supplier_row(bridge).rate_limit == 5
    assert due_account_checks(bridge.runtime.ctx) == []

    second = bridge.add_supplier(NAME, SupplierSimulator(rate_limit_per_minute=7))
    assert supplier_row(bridge).rate_limit is None, "the default until the new key is read"
    run_check(bridge)
    assert supplier_row(bridge).rate_limit == 7
    assert first.calls.count(("GET", INFO)) == 1
    assert second.calls.count(("GET", INFO)) == 1


# The platform's own server refuses a key's problems at its auth stage, all with HTTP 401.


def test_a_key_holding_all_lacks_no_permission(bridge: Sandbox) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator(real_server=True))
    sim.switch(permissions=["all"])
    run_check(bridge)
    assert supplier_row(bridge).rate_limit == 60
    assert alerts(bridge) == {}


@pytest.mark.parametrize("code", ["EXPIRED_API_KEY", "USER_BANNED", "API_DISABLED"])
def test_a_key_the_real_server_refuses_raises_its_alert(bridge: Sandbox, code: str) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator(real_server=True))
    if code == "EXPIRED_API_KEY":
        # Expired: refused before account/info could say so.
        sim.switch(key_expires_at=datetime.now(UTC) - timedelta(hours=1))
    else:
        sim.refuse(code, path_contains="account/info")
    run_check(bridge)

    raised = alerts(bridge)
    assert list(raised) == [code.lower()]
    assert raised[code.lower()].startswith(f"supplier {NAME} refused account/info: {code} (")
    assert "Next: " in raised[code.lower()]
    assert supplier_row(bridge).rate_limit is None, "nothing was read"


def test_a_spent_day_pauses_the_supplier_until_its_next_day_with_one_alert(
    bridge: Sandbox,
) -> None:
    sim = bridge.add_supplier(NAME, SupplierSimulator(real_server=True))
    sim.switch(daily_limit=100, used_today=100)
    since = datetime.now(UTC)
    run_check(bridge)

    row = supplier_row(bridge)
    assert_paused_for_the_day(row.paused_until, since)
    assert "DAILY_LIMIT_EXCEEDED" in (row.last_failure or "")
    raised = alerts(bridge)
    assert list(raised) == ["supplier_paused"], "the paused supplier's one alert, saying why"
    assert "DAILY_LIMIT_EXCEEDED" in raised["supplier_paused"]
    assert sim.calls.count(("GET", INFO)) == 1, "not retried: no retry cures a spent day"
    # Nothing more is sent with the key: its budget is held until then.
    with pytest.raises(BudgetExhausted, match="blocked"):
        client(bridge).balance()
    assert len(sim.calls) == 1
