"""Refusals of orders/status that may not be final wait; an answer about another order is refused.

The docs promise nothing about when a fresh order becomes readable, and a key or base URL can go
wrong after the purchase: in both cases the bought line waits (with an alert for the operator's
part) instead of being handed to a person on the first refusal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from bridge.supplier.schemas import OrderStatus
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, build_world
from workers.alerts.models import Alert
from workers.fulfilment.deliver import _apply
from workers.fulfilment.notes import begin_marker

STATUS = ("GET", "/api/v1/orders/status")


def make_world(tmp_path: Path, **settings: object) -> Sandbox:
    url = migrated_sqlite_url(tmp_path)
    return build_world(Sandbox(fast_settings(url, **settings))).start()


@pytest.fixture
def world(tmp_path: Path) -> Iterator[Sandbox]:
    sandbox = make_world(tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def alert_kinds(sandbox: Sandbox) -> set[str]:
    with session_scope(sandbox.runtime.engine) as session:
        return {alert.kind for alert in session.exec(select(Alert))}


def test_an_order_the_supplier_cannot_show_yet_is_polled_until_it_can(world: Sandbox) -> None:
    supplier = world.suppliers[CAOSHOP]
    supplier.status_lag_seconds = 2.0  # orders/status says ORDER_NOT_FOUND for 2 s

    order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = world.wait_settled(order_id, lines=1)

    assert line.state == FulfilmentState.ANNOTATED
    assert supplier.calls.count(STATUS) >= 2, "the first reads were refused"
    [bought] = supplier.ledger
    assert world.note(order_id).count(bought.items[0]) == 1


def test_a_refusal_past_the_grace_period_needs_attention(tmp_path: Path) -> None:
    world = make_world(tmp_path, status_grace_seconds=0.0)
    try:
        world.suppliers[CAOSHOP].status_lag_seconds = 3600.0
        order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        [line] = world.wait_settled(order_id, lines=1)
    finally:
        world.stop()

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith("ORDER_NOT_FOUND")


def test_a_status_read_refused_for_the_base_url_alerts_and_waits_until_fixed(
    world: Sandbox,
) -> None:
    supplier = world.suppliers[CAOSHOP]
    order_id = world.place_order(
        [{"variation_id": CHATGPT, "quantity": 1}], bill_email="buyer@example.com"
    )
    world.wait_for(lambda: len(supplier.ledger) == 1, what="the manual purchase")
    supplier.redirect_to = "https://www.caoshop.example/api/v1"
    refused_from = supplier.calls.count(STATUS)
    world.wait_for(lambda: "redirected" in alert_kinds(world), what="the redirect alert")
    world.wait_for(
        lambda: supplier.calls.count(STATUS) >= refused_from + 2, what="a second refused read"
    )
    [line] = world.fulfilments(order_id)
    assert line.state == FulfilmentState.PURCHASED, "a bought line waits for the operator"
    assert line.last_error is not None
    assert "REDIRECTED" in line.last_error

    supplier.redirect_to = None  # the operator fixed it
    supplier.complete_pending()
    [line] = world.wait_settled(order_id, lines=1)
    assert line.state == FulfilmentState.ANNOTATED
    [credential] = supplier.ledger[0].items
    assert world.note(order_id).count(credential) == 1
    assert len(supplier.ledger) == 1


@pytest.mark.parametrize(
    ("wrong", "expected"),
    [
        ({"plan_id": 319}, "is plan 319, the line bought 320"),
        ({"quantity": 2}, "is for 2 units, the line bought 1"),
        ({"trans_id": "PO1"}, "the answer is about order PO1"),
    ],
)
def test_credentials_for_another_plan_or_order_stop_the_line_before_the_note(
    world: Sandbox, wrong: dict[str, object], expected: str
) -> None:
    order_id = world.place_order(
        [{"variation_id": CHATGPT, "quantity": 1}], bill_email="buyer@example.com"
    )
    world.wait_for(
        lambda: any(line.trans_id for line in world.fulfilments(order_id)),
        what="the manual purchase, recorded",
    )
    [line] = world.fulfilments(order_id)
    assert line.id is not None
    answer = {
        "trans_id": line.trans_id,
        "status": "completed",
        "delivery": {"items": ["Account: someone-else@example.com | Pass: not-yours"]},
        "plan_id": 320,
        "quantity": 1,
    }
    status = OrderStatus.model_validate({**answer, **wrong})

    assert _apply(world.runtime.ctx, line.id, status) == [], "nothing to write"
    [line] = world.fulfilments(order_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith("credentials do not match the plan")
    assert expected in line.reason
    assert line.credentials_enc is None
    time.sleep(0.5)
    assert begin_marker(line.id or 0) not in world.note(order_id)
