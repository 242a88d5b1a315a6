"""Operator notifications: each incident is sent once, its resolution once, and a channel that
fails is retried without holding up fulfilment.

Real HTTP throughout: apprise's Telegram plugin talks to a local fake of the Bot API
(``tests/fake_telegram.py``), which counts the messages. The first tests call the scheduler's
jobs and the send step themselves, on a clock they move; the end-to-end ones run the whole
bridge against the simulators, its scheduler sending as it does in production.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.states import FulfilmentState
from bridge.supplier import breaker
from bridge.supplier.models import Supplier
from tests.conftest import Backend, fast_settings, migrated_sqlite_url
from tests.e2e.world import CAOSHOP, NETFLIX, UNMAPPED, build_world
from tests.fake_telegram import CHAT, TOKEN, URL, FakeTelegram, serve
from workers.alerts.conditions import watch_conditions
from workers.alerts.models import Alert
from workers.alerts.outbox import due_notifications, send_notifications
from workers.alerts.store import raise_alert, resolve_alert
from workers.fulfilment.redrive import retry_line
from workers.queue.context import Context
from workers.queue.dispatch import ALERT_NOTIFY, Send
from workers.stock.sync import run_exclusive
from workers.suppliers.accounts import check_accounts

OTHER_TOKEN = "222222:OTHERBOT"
KIND = "insufficient_balance"


class Clock:
    """The context's clock, moved by the test: backoffs pass without waiting for them."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with serve(monkeypatch) as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


def sandbox_for(tmp_path: Path, urls: str = URL, **overrides: object) -> Sandbox:
    settings = fast_settings(migrated_sqlite_url(tmp_path), alert_urls=SecretStr(urls), **overrides)
    return Sandbox(settings)


@pytest.fixture
def bridge(tmp_path: Path, clock: Clock) -> Iterator[Sandbox]:
    """A bridge whose workers do not run: each test runs the jobs and the step itself."""
    sandbox = sandbox_for(tmp_path, f"{URL}, tgram://{OTHER_TOKEN}/{CHAT}")
    sandbox.runtime.ctx.clock = clock
    try:
        yield sandbox
    finally:
        sandbox.stop()


def sweep(ctx: Context) -> None:
    """What one sweep does: watch the rows' state, and if anything is due, one send step."""
    assert watch_conditions(ctx) == []
    sends = due_notifications(ctx)
    assert sends in ([], [Send(ALERT_NOTIFY, 0)])
    for send in sends:
        assert send_notifications(ctx, send.entity_id) == []


def items(fake: FakeTelegram, notice: str, kind: str, token: str = TOKEN) -> int:
    """How many ``ALERT`` (or ``RESOLVED``) items of ``kind`` the bot was sent, in all."""
    pattern = re.compile(rf"\b{notice} #\d+ {kind}\b")
    return sum(len(pattern.findall(text)) for text in fake.texts(token))


def alert(sandbox: Sandbox, kind: str, subject: str) -> Alert:
    row = find_alert(sandbox, kind, subject)
    assert row is not None, f"no {kind} alert about {subject}"
    return row


def find_alert(sandbox: Sandbox, kind: str, subject: str) -> Alert | None:
    with session_scope(sandbox.runtime.engine) as session:
        statement = select(Alert).where(Alert.kind == kind, Alert.subject == subject)
        row = session.exec(statement).one_or_none()
        if row is not None:
            session.expunge(row)
        return row


def raise_(sandbox: Sandbox, subject: str = "caoshop", message: str = "top it up") -> None:
    ctx = sandbox.runtime.ctx
    with session_scope(ctx.engine) as session:
        raise_alert(session, KIND, subject, message, ctx.clock())


def resolve(sandbox: Sandbox, subject: str = "caoshop") -> None:
    ctx = sandbox.runtime.ctx
    with session_scope(ctx.engine) as session:
        resolve_alert(session, KIND, subject, ctx.clock(), note="a purchase went through")


def test_an_incident_is_sent_once_however_often_it_repeats_and_its_resolution_once(
    bridge: Sandbox, telegram: FakeTelegram
) -> None:
    ctx = bridge.runtime.ctx
    for _ in range(3):
        raise_(bridge)
        sweep(ctx)
    assert items(telegram, "ALERT", KIND) == 1
    [text] = telegram.texts()
    assert "top it up" in text
    row = alert(bridge, KIND, "caoshop")
    assert (row.count, row.next_send_at, row.send_failures) == (3, None, 0)
    assert row.notified_at is not None

    resolve(bridge)
    for _ in range(3):
        sweep(ctx)
    assert items(telegram, "RESOLVED", KIND) == 1
    assert "a purchase went through" in telegram.texts()[-1]
    for token in (TOKEN, OTHER_TOKEN):
        assert len(telegram.texts(token)) == 2, "both channels: the alert, then its resolution"

    raise_(bridge, message="top it up again")
    sweep(ctx)
    assert items(telegram, "ALERT", KIND) == 2, "raised after its resolution: a new incident"
    assert alert(bridge, KIND, "caoshop").count == 1


def test_an_incident_over_before_it_was_sent_is_never_sent_nor_is_a_flap(
    bridge: Sandbox, telegram: FakeTelegram
) -> None:
    ctx = bridge.runtime.ctx
    raise_(bridge)
    resolve(bridge)
    sweep(ctx)
    assert telegram.requests == 0
    assert alert(bridge, KIND, "caoshop").next_send_at is None

    raise_(bridge)
    sweep(ctx)
    resolve(bridge)
    raise_(bridge)  # back before its resolution was sent: for the channels it never ended
    sweep(ctx)
    assert items(telegram, "ALERT", KIND) == 1
    assert items(telegram, "RESOLVED", KIND) == 0


def test_a_failing_channel_is_retried_with_backoff_and_the_other_is_not_sent_twice(
    bridge: Sandbox, telegram: FakeTelegram, clock: Clock
) -> None:
    ctx = bridge.runtime.ctx
    telegram.failing.add(OTHER_TOKEN)
    raise_(bridge)
    sweep(ctx)
    row = alert(bridge, KIND, "caoshop")
    assert row.send_failures == 1
    assert row.last_send_error == "tgram #2: HTTP 500"
    assert row.next_send_at is not None
    assert row.next_send_at > clock()

    sweep(ctx)
    assert telegram.requests == 2, "in backoff: nothing is sent before it is due"
    for _ in range(3):
        clock.advance(ctx.settings.alert_retry_max_seconds * 1.5)
        sweep(ctx)
    assert alert(bridge, KIND, "caoshop").send_failures == 4
    assert len(telegram.texts(TOKEN)) == 1, "the channel that took it is not sent it again"

    telegram.failing.clear()
    clock.advance(ctx.settings.alert_retry_max_seconds * 1.5)
    sweep(ctx)
    assert len(telegram.texts(OTHER_TOKEN)) == 1
    assert len(telegram.texts(TOKEN)) == 1
    row = alert(bridge, KIND, "caoshop")
    assert (row.send_failures, row.last_send_error, row.next_send_at) == (0, None, None)


def test_a_paused_supplier_is_announced_and_cleared_by_its_next_success(
    bridge: Sandbox, telegram: FakeTelegram, clock: Clock
) -> None:
    ctx = bridge.runtime.ctx
    bridge.add_supplier(CAOSHOP, SupplierSimulator())
    for _ in range(ctx.settings.breaker_threshold + 2):
        breaker.record_failure(ctx.engine, ctx.settings, CAOSHOP, "ReadTimeout", clock())
        sweep(ctx)
    assert items(telegram, "ALERT", "supplier_paused") == 1
    assert "supplier caoshop-sim is paused after 5 failed calls" in telegram.texts()[0]

    clock.advance(3600)  # the pause is over, but nothing proved the supplier up yet
    sweep(ctx)
    assert items(telegram, "RESOLVED", "supplier_paused") == 0
    breaker.record_success(ctx.engine, CAOSHOP)
    sweep(ctx)
    sweep(ctx)
    assert items(telegram, "RESOLVED", "supplier_paused") == 1
    assert "caoshop-sim: it answers again" in telegram.texts()[-1]


def test_a_key_about_to_expire_is_resolved_once_renewed(
    bridge: Sandbox, telegram: FakeTelegram, clock: Clock
) -> None:
    ctx = bridge.runtime.ctx
    sim = bridge.add_supplier(CAOSHOP, SupplierSimulator())
    sim.key_expires_at = clock().replace(microsecond=0) + timedelta(days=3)
    check_accounts(ctx, 0)
    sweep(ctx)
    assert items(telegram, "ALERT", "key_expiring") == 1

    sim.key_expires_at = clock() + timedelta(days=365)  # renewed at the supplier
    clock.advance(ctx.settings.supplier_account_check_seconds + 1)
    check_accounts(ctx, 0)
    sweep(ctx)
    assert items(telegram, "RESOLVED", "key_expiring") == 1
    assert alert(bridge, "key_expiring", CAOSHOP).resolved


def test_a_stock_sync_failing_again_and_again_is_announced_then_resolved(
    bridge: Sandbox, telegram: FakeTelegram
) -> None:
    ctx = bridge.runtime.ctx
    build_world(bridge)
    with session_scope(ctx.engine) as session:
        supplier = session.get(Supplier, CAOSHOP)
        assert supplier is not None
        base_url, supplier.base_url = supplier.base_url, "http://127.0.0.1:9/api/v1"
        session.add(supplier)
    for _ in range(2):
        assert run_exclusive(ctx, trigger="manual").errors
        sweep(ctx)
    assert items(telegram, "ALERT", "stock_sync_failing") == 0, "two failures are a blip"
    run_exclusive(ctx, trigger="manual")
    sweep(ctx)
    assert items(telegram, "ALERT", "stock_sync_failing") == 1
    assert (
        "the stock sync failed 3 times in a row (last: supplier caoshop-sim"
        in (telegram.texts()[-1])
    )

    with session_scope(ctx.engine) as session:
        supplier = session.get(Supplier, CAOSHOP)
        assert supplier is not None
        supplier.base_url = base_url
        session.add(supplier)
    assert run_exclusive(ctx, trigger="manual").errors == []
    sweep(ctx)
    assert items(telegram, "RESOLVED", "stock_sync_failing") == 1


@pytest.fixture
def world(backend: Backend) -> Iterator[Sandbox]:
    """The standard world, running on each backend: its scheduler watches and sends every
    sweep (0.5 s)."""
    sandbox = backend.sandbox(alert_urls=SecretStr(URL), alert_balance_threshold=500_000)
    sandbox = build_world(sandbox).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_lines_parked_for_balance_are_announced_once_and_resolved_after_a_top_up(
    world: Sandbox, telegram: FakeTelegram
) -> None:
    caoshop = world.suppliers[CAOSHOP]
    caoshop.set_balance(0)
    orders = [world.place_order([{"variation_id": NETFLIX, "quantity": 1}]) for _ in range(2)]
    lines = [world.wait_settled(order, lines=1, final=True)[0] for order in orders]
    assert [line.state for line in lines] == [FulfilmentState.NEEDS_ATTENTION] * 2
    world.wait_for(
        lambda: (
            items(telegram, "ALERT", "needs_attention") == 2 and items(telegram, "ALERT", KIND) == 1
        ),
        what="one message item per parked line, one for the refusals",
    )
    time.sleep(2.0)  # four more sweeps: nothing is sent again
    sent = len(telegram.texts())
    assert items(telegram, "ALERT", "needs_attention") == 2
    assert items(telegram, "ALERT", KIND) == 1
    assert alert(world, KIND, CAOSHOP).count == 2, "refused twice: one alert, counted"
    # The two lines may park in one sweep or in two, so their items may be in one message or two.
    parked = "\n".join(t for t in telegram.texts() if "needs_attention" in t)
    assert f"order {orders[0]}, shop {world.shop_id}, needs attention: INSUFFICIENT_BALANCE" in (
        parked
    )
    assert f"bridge fulfilments retry {lines[0].id}" in parked

    caoshop.set_balance(10_000_000)
    for line in lines:
        assert retry_line(world.runtime.engine, line.id or 0, utcnow()).changed
    for order in orders:
        [line] = world.wait_settled(order, lines=1, final=True)
        assert line.state == FulfilmentState.ANNOTATED
    world.wait_for(
        lambda: (
            items(telegram, "RESOLVED", "needs_attention") == 2
            and items(telegram, "RESOLVED", KIND) == 1
        ),
        what="the resolutions",
    )
    time.sleep(1.5)
    assert items(telegram, "RESOLVED", "needs_attention") == 2
    assert items(telegram, "RESOLVED", KIND) == 1
    assert len(telegram.texts()) <= sent + 2


def test_a_low_balance_says_how_many_orders_it_pays_for_and_clears_after_a_top_up(
    world: Sandbox, telegram: FakeTelegram
) -> None:
    caoshop = world.suppliers[CAOSHOP]
    caoshop.set_balance(200_000)  # Netflix costs 75,000: 125,000 is left after one
    first = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    world.wait_settled(first, lines=1, final=True)
    world.wait_for(lambda: items(telegram, "ALERT", "low_balance") == 1, what="the alert")
    [text] = [t for t in telegram.texts() if "low_balance" in t]
    assert (
        "supplier caoshop-sim: balance 125,000 is below 500,000; it pays for about 1 more "
        "order (average 75,000 over the last 7 days)"
    ) in text

    second = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    world.wait_settled(second, lines=1, final=True)
    world.wait_for(
        lambda: getattr(find_alert(world, "low_balance", CAOSHOP), "count", 0) == 2,
        what="the repeat",
    )
    caoshop.set_balance(10_000_000)
    third = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    world.wait_settled(third, lines=1, final=True)
    world.wait_for(lambda: items(telegram, "RESOLVED", "low_balance") == 1, what="resolution")
    assert items(telegram, "ALERT", "low_balance") == 1
    assert "balance 9,925,000 is at or above 500,000 again" in telegram.texts()[-1]


def test_a_channel_that_fails_holds_up_no_order_and_is_told_once_it_recovers(
    world: Sandbox, telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # apprise's debug lines carry the token: none may show
    telegram.failing.add(TOKEN)
    order = world.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": UNMAPPED, "quantity": 1}]
    )
    bought, parked = world.wait_settled(order, lines=2, final=True)
    assert (bought.state, parked.state) == (
        FulfilmentState.ANNOTATED,
        FulfilmentState.NEEDS_ATTENTION,
    )
    subject = str(parked.id)
    world.wait_for(
        lambda: getattr(find_alert(world, "needs_attention", subject), "send_failures", 0) >= 2,
        what="failed sends, retried",
    )
    assert telegram.messages == []
    assert alert(world, "needs_attention", subject).last_send_error == "tgram #1: HTTP 500"

    telegram.failing.clear()
    world.wait_for(lambda: items(telegram, "ALERT", "needs_attention") == 1, what="the alert")
    time.sleep(1.5)
    assert items(telegram, "ALERT", "needs_attention") == 1
    assert len(telegram.texts()) == 1
    row = alert(world, "needs_attention", subject)
    assert (row.send_failures, row.next_send_at) == (0, None)
    assert row.notified_at is not None
    failed = [r.getMessage() for r in caplog.records if "alert.notify.failed" in r.getMessage()]
    assert failed
    assert all("channel=tgram #1" in m and "error=HTTP 500" in m for m in failed)
    assert TOKEN.split(":")[1] not in caplog.text, "no log line, the bridge's or apprise's"


def test_a_mass_incident_comes_in_messages_of_at_most_20_items(
    bridge: Sandbox, telegram: FakeTelegram
) -> None:
    for n in range(25):
        raise_(bridge, subject=f"supplier-{n:02d}")
    for _ in range(3):
        sweep(bridge.runtime.ctx)
    pattern = re.compile(rf"\bALERT #\d+ {KIND}\b")
    per_message = [len(pattern.findall(text)) for text in telegram.texts()]
    assert sum(per_message) == 25, "every incident told, once"
    assert len(per_message) >= 2
    assert max(per_message) <= 20
    assert max(len(text) for text in telegram.texts()) <= 4096  # Telegram's limit
