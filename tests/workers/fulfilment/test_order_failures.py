"""Poison orders end visibly: intake and the note writer count every failure, a crash included,
and an order no real shop sells is refused at once. The database rows, the alerts and the
supplier's ledger say what happened."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment, Order
from bridge.pancake.models import PancakeShop
from bridge.secrets import SecretBox
from bridge.states import DelayNotice, FulfilmentState, OrderState
from tests.conftest import Backend
from tests.e2e.world import CAOSHOP, NETFLIX, build_world
from workers.alerts.models import Alert
from workers.fulfilment.annotate import annotate
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import purchase
from workers.fulfilment.reported import order_reported
from workers.fulfilment.sweep import sweep
from workers.queue.dispatch import ANNOTATE, INTAKE, Send

MAX_FAILURES = 3


@pytest.fixture
def sandbox(backend: Backend) -> Iterator[Sandbox]:
    """The standard world with no workers: each test runs the steps itself."""
    world = build_world(backend.sandbox(max_step_failures=MAX_FAILURES)).start(workers=False)
    world.pancake.send_webhooks = False  # the orders reach the bridge as the catch-up reports
    try:
        yield world
    finally:
        world.stop()


def reported(sandbox: Sandbox, items: list[dict[str, Any]]) -> tuple[str, int]:
    """A confirmed order in Pancake, reported to the bridge: (Pancake's id, the bridge's id)."""
    order_id = sandbox.place_order(items)
    runtime = sandbox.runtime
    with session_scope(runtime.engine) as session:
        _, sends = order_reported(
            session.connection(),
            sandbox.shop_id,
            order_id,
            status=1,
            item_count=len(items),
            triggers=[1],
            now=utcnow(),
            lease=timedelta(seconds=runtime.settings.lease_seconds),
        )
    [send] = sends
    return order_id, send.entity_id


def order_row(sandbox: Sandbox, order_pk: int) -> Order:
    with session_scope(sandbox.runtime.engine) as session:
        order = session.get(Order, order_pk)
        assert order is not None
        return order


def alerts(sandbox: Sandbox) -> dict[tuple[str, str], str]:
    with session_scope(sandbox.runtime.engine) as session:
        return {(a.kind, a.subject): a.message for a in session.exec(select(Alert))}


def lines_of(sandbox: Sandbox, order_pk: int) -> list[Fulfilment]:
    with session_scope(sandbox.runtime.engine) as session:
        return list(session.exec(select(Fulfilment).where(Fulfilment.order_pk == order_pk)))


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"variation_id": NETFLIX, "quantity": 10**20}, "quantity 100000000000000000000 is out"),
        ({"variation_id": NETFLIX, "quantity": 10**4 + 1}, "quantity 10001 is out of range"),
        ({"variation_id": "var\x00iant", "quantity": 1}, "variation id 'var\\x00iant' is not"),
        ({"variation_id": NETFLIX, "quantity": 1, "id": "7" * 300}, "(300 characters)"),
        ({"variation_id": NETFLIX, "quantity": 1, "id": "line\nbreak"}, "item id 'line\\nbreak'"),
    ],
    ids=["quantity-10**20", "quantity-10001", "nul-in-variation", "long-item-id", "newline-id"],
)
def test_an_order_no_real_shop_sells_is_refused_at_once_and_nothing_is_bought(
    sandbox: Sandbox, item: dict[str, Any], reason: str
) -> None:
    order_id, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}, item])

    assert intake(sandbox.runtime.ctx, order_pk) == []

    order = order_row(sandbox, order_pk)
    assert order.state == OrderState.FAILED
    assert order.failure_kind == "out_of_range"
    assert (order.failed_at is not None, order.failures) == (True, 1)
    assert order.last_error is not None
    assert order.last_error.startswith("refused: line 2: ")
    assert reason in order.last_error
    assert lines_of(sandbox, order_pk) == [], "not even the sane line is stored"
    assert all(sim.ledger == [] for sim in sandbox.suppliers.values())
    message = alerts(sandbox)[("order_failed", f"{sandbox.shop_id}:{order_id}")]
    assert reason in message
    assert f"bridge orders retry {order_pk}" in message
    # The sweep leaves a failed order alone: it does not come back every lease.
    assert Send(INTAKE, order_pk) not in sweep(sandbox.runtime.ctx)


def test_a_quantity_of_zero_is_no_line_and_the_rest_is_fulfilled(sandbox: Sandbox) -> None:
    _, order_pk = reported(
        sandbox,
        [{"variation_id": NETFLIX, "quantity": 0}, {"variation_id": NETFLIX, "quantity": 2}],
    )

    [send] = intake(sandbox.runtime.ctx, order_pk)

    assert order_row(sandbox, order_pk).state == OrderState.SYNCED
    [line] = lines_of(sandbox, order_pk)
    assert (line.quantity, line.state, send.entity_id) == (2, FulfilmentState.PENDING, line.id)


def corrupt_shop_key(sandbox: Sandbox) -> None:
    """The shop's key as another BRIDGE_SECRET_KEY wrote it: every read of it fails."""
    with session_scope(sandbox.runtime.engine) as session:
        shop = session.get(PancakeShop, sandbox.shop_id)
        assert shop is not None
        shop.api_key_enc = SecretBox("another-key-" + "x1y2z3" * 6).encrypt("demo-pancake-api-key")
        session.add(shop)


def test_an_intake_that_crashes_every_time_counts_and_ends_failed_with_an_alert(
    sandbox: Sandbox,
) -> None:
    order_id, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}])
    corrupt_shop_key(sandbox)
    ctx = sandbox.runtime.ctx

    for failures in range(1, MAX_FAILURES):
        [retry] = intake(ctx, order_pk)
        assert (retry.actor, retry.entity_id) == (INTAKE, order_pk)
        assert retry.delay_seconds > 0, "a backoff, not a hot loop"
        order = order_row(sandbox, order_pk)
        assert (order.state, order.failures) == (OrderState.PENDING, failures)
        assert order.last_error is not None
        assert order.last_error.startswith("unexpected SecretKeyMismatch")
    assert intake(ctx, order_pk) == []

    order = order_row(sandbox, order_pk)
    assert (order.state, order.failures, order.failure_kind) == (
        OrderState.FAILED,
        MAX_FAILURES,
        "unexpected",
    )
    assert order.last_error is not None
    assert order.last_error.startswith(f"gave up after {MAX_FAILURES} tries: unexpected")
    assert ("order_failed", f"{sandbox.shop_id}:{order_id}") in alerts(sandbox)
    assert lines_of(sandbox, order_pk) == []
    assert intake(ctx, order_pk) == [], "a failed order stays failed until it is retried"


def test_a_refused_order_read_fails_at_once_and_names_the_key(sandbox: Sandbox) -> None:
    order_id, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}])
    sandbox.pancake.inject(403, path_contains=f"/orders/{order_id}")

    assert intake(sandbox.runtime.ctx, order_pk) == []

    order = order_row(sandbox, order_pk)
    assert (order.state, order.failure_kind) == (OrderState.FAILED, "pancake_key")
    assert order.last_error is not None
    assert "403" in order.last_error
    assert "demo-pancake-api-key" not in order.last_error
    assert ("order_failed", f"{sandbox.shop_id}:{order_id}") in alerts(sandbox)


def test_a_failed_order_that_pancake_reports_again_is_read_again(sandbox: Sandbox) -> None:
    # Staff fixed what made it fail (here: Pancake refused one read); the next report of the
    # order is worth one read, with a fresh count.
    _, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}])
    sandbox.pancake.inject(403, path_contains="/orders/")
    assert intake(sandbox.runtime.ctx, order_pk) == []
    assert order_row(sandbox, order_pk).state == OrderState.FAILED

    runtime = sandbox.runtime
    with session_scope(runtime.engine) as session:
        order = session.get(Order, order_pk)
        assert order is not None
        _, sends = order_reported(
            session.connection(),
            sandbox.shop_id,
            order.order_id,
            status=1,
            item_count=1,
            triggers=[1],
            now=utcnow(),
            lease=timedelta(seconds=runtime.settings.lease_seconds),
        )
    assert sends == [Send(INTAKE, order_pk)]
    assert order_row(sandbox, order_pk).failures == 0
    [purchase_send] = intake(runtime.ctx, order_pk)
    assert order_row(sandbox, order_pk).state == OrderState.SYNCED
    purchase(runtime.ctx, purchase_send.entity_id)
    assert len(sandbox.suppliers[CAOSHOP].ledger) == 1


def test_a_note_writer_that_crashes_every_time_fails_the_line_with_an_alert(
    sandbox: Sandbox,
) -> None:
    order_id, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}])
    ctx = sandbox.runtime.ctx
    intake(ctx, order_pk)
    [line] = lines_of(sandbox, order_pk)
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Fulfilment, line.id)
        assert row is not None
        # Delivered, but its credentials were stored under another BRIDGE_SECRET_KEY.
        row.state = FulfilmentState.DELIVERED
        row.trans_id, row.supplier_quantity, row.delivered_count = "PO1", 1, 1
        row.credentials_enc = SecretBox("another-key-" + "x1y2z3" * 6).encrypt('["u:p"]')
        session.add(row)

    for failures in range(1, MAX_FAILURES):
        [retry] = annotate(ctx, order_pk)
        assert (retry.actor, retry.entity_id) == (ANNOTATE, order_pk)
        [row] = lines_of(sandbox, order_pk)
        assert (row.state, row.failures) == (FulfilmentState.DELIVERED, failures)
    assert annotate(ctx, order_pk) == []

    [row] = lines_of(sandbox, order_pk)
    assert row.state == FulfilmentState.FAILED
    assert row.reason is not None
    assert row.reason.startswith("could not write the note: unexpected SecretKeyMismatch")
    assert row.delay_notice != DelayNotice.PENDING
    assert ("note_failed", str(row.id)) in alerts(sandbox)
    assert "pancake-bridge" not in sandbox.note(order_id)


def test_a_delay_notice_pancake_refuses_to_take_stops_being_sent(sandbox: Sandbox) -> None:
    order_id, order_pk = reported(sandbox, [{"variation_id": NETFLIX, "quantity": 1}])
    ctx = sandbox.runtime.ctx
    sandbox.suppliers[CAOSHOP].set_balance(0)
    [buy] = intake(ctx, order_pk)
    # Refused: the next run finds no other choice, and asks for the customer's delay notice.
    assert purchase(ctx, buy.entity_id) == [buy]
    assert purchase(ctx, buy.entity_id) == [Send(ANNOTATE, order_pk)]
    sandbox.pancake.inject(403, path_contains=f"/orders/{order_id}")

    assert annotate(ctx, order_pk) == []

    [row] = lines_of(sandbox, order_pk)
    assert row.state == FulfilmentState.NEEDS_ATTENTION, "still the person's, for its balance"
    assert row.reason is not None
    assert row.reason.startswith("INSUFFICIENT_BALANCE")
    assert row.last_error is not None
    assert "403" in row.last_error
    assert row.lease_until is None
    assert ("note_failed", str(row.id)) in alerts(sandbox)
    later = replace(ctx, clock=lambda: utcnow() + timedelta(hours=1))
    assert Send(ANNOTATE, order_pk) not in sweep(later), "not sent again every lease"
