"""Each purchase records what the supplier charged for it, as the supplier's own books say."""

from __future__ import annotations

from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY, SPOTIFY, lose_next_answer


def test_a_purchase_records_the_amount_the_supplier_charged(world: Sandbox) -> None:
    balances = {name: sim.balance for name, sim in world.suppliers.items()}
    order_id = world.place_order(
        [
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 2},  # 4 supplier units: a multiple of a price
            {"variation_id": CANVA, "quantity": 1},  # the short dialect
        ]
    )

    lines = world.wait_settled(order_id, lines=3, final=True)

    assert {line.state for line in lines} == {FulfilmentState.ANNOTATED}
    with session_scope(world.runtime.engine) as session:
        attempts = session.exec(select(PurchaseAttempt).order_by(col(PurchaseAttempt.id))).all()
        # A loaded machine may leave an attempt unsent (its budget wait ran out) before the one
        # that buys: it bought nothing and records no amount.
        recorded = {
            (a.supplier_name, a.trans_id): a.amount
            for a in attempts
            if a.outcome == AttemptOutcome.BOUGHT
        }
        unbought = [
            (a.outcome, a.trans_id, a.amount)
            for a in attempts
            if a.outcome != AttemptOutcome.BOUGHT
        ]
    assert all(trans_id is None and amount is None for _, trans_id, amount in unbought), unbought
    charged = {
        (name, p.trans_id): p.amount for name, sim in world.suppliers.items() for p in sim.ledger
    }
    assert recorded == charged
    assert sorted(charged.values()) == [75_000, 120_000, 240_000]
    for name in (CAOSHOP, SHOPKEY):
        spent = sum(amount or 0 for (supplier, _), amount in recorded.items() if supplier == name)
        assert balances[name] - world.suppliers[name].balance == spent


def test_an_order_adopted_from_the_list_records_what_the_list_says_it_cost(
    sqlite_world: Sandbox,
) -> None:
    """The answer to orders/create is lost: settlement finds the order in orders/list and takes
    its cost from there (``final_amount``)."""
    caoshop = sqlite_world.suppliers[CAOSHOP]
    lose_next_answer(caoshop)
    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    [bought] = caoshop.ledger
    with session_scope(sqlite_world.runtime.engine) as session:
        [adopted] = session.exec(
            select(PurchaseAttempt).where(PurchaseAttempt.trans_id == bought.trans_id)
        ).all()
    assert adopted.settlement == "adopted"
    assert adopted.amount == bought.amount == 75_000
