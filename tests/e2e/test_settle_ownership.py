"""Settling adopts only an order that is provably the line's: placed through the API by the key's
own user, held by no other attempt, and the only one that fits; otherwise a person decides.

Against the platform's real server a key with the ``all`` permission lists every customer's
orders, and the key's owner buys on the website too: an order of the same plan placed in the
same second must never end in our customer's note, nor leave ours orphaned.
"""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    OWN_USER_ID,
    SupplierSimulator,
)
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import FulfilmentState
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderItem
from tests.e2e.world import CAOSHOP, NETFLIX, lose_next_answer
from workers.alerts.models import Alert

PLAN = 319  # NETFLIX at caoshop


def held(sandbox: Sandbox) -> set[str]:
    """Every supplier order some attempt holds."""
    with session_scope(sandbox.runtime.engine) as session:
        rows = session.exec(
            select(PurchaseAttempt.trans_id).where(col(PurchaseAttempt.trans_id).is_not(None))
        )
        return {trans_id for trans_id in rows if trans_id}


def buy(sandbox: Sandbox) -> Fulfilment:
    order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sandbox.wait_settled(order_id, lines=1, timeout=30, final=True)
    return line


def real_server_seeing_everyone(sandbox: Sandbox) -> SupplierSimulator:
    simulator = sandbox.suppliers[CAOSHOP]
    simulator.switch(real_server=True, permissions=["all"])
    return simulator


def strangers(simulator: SupplierSimulator) -> set[str]:
    """The orders another user placed, or the key's owner on the website."""
    return {
        p.trans_id for p in simulator.ledger if p.user_id != OWN_USER_ID or p.order_source != "api"
    }


@pytest.mark.parametrize("known", [False, True], ids=["first-purchase", "user-known"])
def test_a_web_order_and_a_foreign_order_in_the_same_second_are_never_adopted(
    sqlite_world: Sandbox, known: bool
) -> None:
    simulator = real_server_seeing_everyone(sqlite_world)
    if known:
        buy(sqlite_world)  # an answered purchase teaches the key's user
    simulator.place_web_order(PLAN)
    simulator.shadow_next_api_order()  # another customer, the same plan, the same second
    lose_next_answer(simulator)

    line = buy(sqlite_world)

    assert line.state == FulfilmentState.ANNOTATED, line.reason
    ours = [p.trans_id for p in simulator.ledger if p.trans_id not in strangers(simulator)]
    assert len(ours) == (2 if known else 1), "not bought again"
    assert line.trans_id == ours[-1]
    assert len(strangers(simulator)) == 2
    assert not strangers(simulator) & held(sqlite_world), "no stranger's order is held"
    note = sqlite_world.note(line.order_id)
    for p in simulator.ledger:
        if p.trans_id in strangers(simulator):
            assert not any(item in note for item in p.items)
    with session_scope(sqlite_world.runtime.engine) as session:
        row = session.get(Supplier, CAOSHOP)
        assert row is not None
        assert row.user_id == str(OWN_USER_ID)


def test_strangers_orders_alone_are_not_adopted_when_nothing_was_bought(
    sqlite_world: Sandbox,
) -> None:
    """The purchase failed before the supplier committed it: the web and foreign orders of the
    plan in the window are not it, and the line is bought once more."""
    simulator = real_server_seeing_everyone(sqlite_world)
    simulator.place_web_order(PLAN)
    simulator.place_foreign_order(PLAN)
    simulator.inject("5xx_before_commit")

    line = buy(sqlite_world)

    assert line.state == FulfilmentState.ANNOTATED, line.reason
    ours = [p for p in simulator.ledger if p.trans_id not in strangers(simulator)]
    assert [p.trans_id for p in ours] == [line.trans_id], "bought once, after settling"
    assert not strangers(simulator) & held(sqlite_world)


def test_two_candidates_need_a_person_and_nothing_is_bought_again(sqlite_world: Sandbox) -> None:
    """The key's own user bought the plan through the API outside the bridge a moment before:
    both orders could be the lost one. Neither is adopted, the line is not bought again, and a
    person is told."""
    simulator = real_server_seeing_everyone(sqlite_world)
    with session_scope(sqlite_world.runtime.engine) as session:
        row = session.get(Supplier, CAOSHOP)
        assert row is not None
        base_url = row.base_url
    with SupplierClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        [other] = client.create_order([OrderItem(plan_id=PLAN, quantity=1)]).orders
    lose_next_answer(simulator)

    line = buy(sqlite_world)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert other.trans_id in line.reason
    assert len(simulator.ledger) == 2, "not bought again"
    assert held(sqlite_world) == set(), "neither order is adopted"

    def alerted() -> list[Alert]:
        with session_scope(sqlite_world.runtime.engine) as session:
            return list(session.exec(select(Alert).where(Alert.subject == str(line.id))))

    sqlite_world.wait_for(lambda: bool(alerted()), what="the line's alert")
    [alert] = alerted()
    assert alert.kind == "needs_attention"
