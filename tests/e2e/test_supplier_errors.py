"""Supplier refusals, ambiguous purchases and Pancake errors end in clear, visible states."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, ListOrder
from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderItem
from tests.e2e.world import CHATGPT, NETFLIX, all_credentials, lose_next_answer


def _attempts(sandbox: Sandbox) -> list[PurchaseAttempt]:
    with session_scope(sandbox.runtime.engine) as session:
        return list(session.exec(select(PurchaseAttempt)))


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        (lambda sim: sim.set_stock(319, 0), "OUT_OF_STOCK"),
        (lambda sim: sim.set_balance(1_000), "INSUFFICIENT_BALANCE"),
        (
            lambda sim: sim.add_plan(319, name="gone", stock=0) or sim._plans.pop(319),
            "PRODUCT_NOT_FOUND",
        ),
    ],
)
def test_definite_refusals_need_attention_with_the_code(
    sqlite_world: Sandbox, setup: object, code: str
) -> None:
    supplier = sqlite_world.suppliers["caoshop-sim"]
    setup(supplier)  # type: ignore[operator]

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert line.reason.startswith(code)
    assert supplier.ledger == []
    [attempt] = _attempts(sqlite_world)
    assert (attempt.outcome, attempt.error_code) == (AttemptOutcome.REFUSED, code)


def test_a_placeholder_with_no_value_needs_attention_naming_the_field(
    sqlite_world: Sandbox,
) -> None:
    order_id = sqlite_world.place_order([{"variation_id": CHATGPT, "quantity": 1}], bill_email=None)

    [line] = sqlite_world.wait_settled(order_id, lines=1)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert "missing field: email" in line.reason
    assert "order.bill_email" in line.reason
    assert sqlite_world.suppliers["caoshop-sim"].ledger == []


@pytest.mark.parametrize("fault", ["5xx_after_commit", "drop_after_commit", "hang_after_commit"])
def test_an_ambiguous_purchase_is_settled_by_adoption_not_bought_again(
    sqlite_world: Sandbox, fault: str
) -> None:
    supplier = sqlite_world.suppliers["caoshop-sim"]
    lose_next_answer(supplier, fault)

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=20)
    if line.state == FulfilmentState.PURCHASE_UNKNOWN:
        [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=20, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    [purchase] = supplier.ledger
    assert line.trans_id == purchase.trans_id
    [attempt] = _attempts(sqlite_world)
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.BOUGHT, "adopted")
    assert sqlite_world.note(order_id).count(purchase.items[0]) == 1


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_a_lost_answer_on_a_busy_account_is_adopted_in_either_list_order(
    sqlite_world: Sandbox, order: ListOrder
) -> None:
    """320 older orders of the same plan and quantity fill four pages before ours: settling must
    find ours wherever the supplier lists it, and must not take an older one for it."""
    supplier = sqlite_world.suppliers["caoshop-sim"]
    supplier.set_stock(319, 400)
    supplier.set_balance(100_000_000)
    with session_scope(sqlite_world.runtime.engine) as session:
        record = session.get(Supplier, "caoshop-sim")
        assert record is not None
        base_url = record.base_url
    ticks = count()
    supplier.clock = lambda: datetime.now(UTC) - timedelta(hours=6) + timedelta(seconds=next(ticks))
    with SupplierClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        client.create_order([OrderItem(plan_id=319, quantity=1) for _ in range(320)])
    supplier.clock = lambda: datetime.now(UTC)
    supplier.list_order = order
    lose_next_answer(supplier)

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=30, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert len(supplier.ledger) == 321, "bought once, not again"
    newest = max(supplier.ledger, key=lambda p: p.created_at)
    assert line.trans_id == newest.trans_id
    [attempt] = _attempts(sqlite_world)
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.BOUGHT, "adopted")


def test_a_purchase_refused_before_commit_is_settled_not_found_and_bought_once(
    sqlite_world: Sandbox,
) -> None:
    supplier = sqlite_world.suppliers["caoshop-sim"]
    supplier.inject("5xx_before_commit")

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=20, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert len(supplier.ledger) == 1
    settlements = [(a.outcome, a.settlement) for a in _attempts(sqlite_world)]
    assert settlements == [(AttemptOutcome.UNKNOWN, "not_found"), (AttemptOutcome.BOUGHT, None)]


def test_a_rate_limited_purchase_is_retried_after_the_wait(sqlite_world: Sandbox) -> None:
    supplier = sqlite_world.suppliers["caoshop-sim"]
    # The scheduler reads account/info once at start: the 429 is for the purchase.
    sqlite_world.wait_for(lambda: _limits_read(sqlite_world), what="the account check")
    supplier.inject("429")

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=20)

    assert line.state == FulfilmentState.ANNOTATED
    assert len(supplier.ledger) == 1
    outcomes = [(a.outcome, a.error_code) for a in _attempts(sqlite_world)]
    assert outcomes == [
        (AttemptOutcome.REFUSED, "RATE_LIMIT_EXCEEDED"),
        (AttemptOutcome.BOUGHT, None),
    ]


def test_pancake_errors_on_the_note_update_are_retried(sqlite_world: Sandbox) -> None:
    # More failures than one client call retries: the worker must come back later by itself.
    sqlite_world.pancake.inject(503, times=4, path_contains="/orders/")

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=30)

    assert line.state == FulfilmentState.ANNOTATED
    [credential] = all_credentials(sqlite_world)
    assert sqlite_world.note(order_id).count(credential) == 1


def test_credentials_and_keys_never_reach_the_logs_and_are_encrypted_at_rest(
    sqlite_world: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 2}])
    sqlite_world.wait_settled(order_id, lines=1)

    credentials = all_credentials(sqlite_world)
    assert len(credentials) == 2
    secrets = [*credentials, sqlite_world.webhook_secret, "demo-pancake-api-key", "sk_live_a1b2"]
    for secret in secrets:
        assert secret not in caplog.text
    engine = sqlite_world.runtime.engine
    with engine.connect() as conn:
        dump = "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM fulfilments"))
        dump += "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM suppliers"))
        dump += "\n".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM pancake_shops"))
    for secret in secrets:
        assert secret not in dump


def _limits_read(sandbox: Sandbox) -> bool:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Supplier, "caoshop-sim")
        return row is not None and row.daily_limit is not None
