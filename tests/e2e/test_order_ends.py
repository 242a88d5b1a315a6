"""Every end of a supplier order is an end, on both backends, against the supplier simulator over
real HTTP: what the Pancake note says, what the supplier's ledger and balance show, and the
alert rows.

A completed order ends annotated whatever it hands over (one string for every unit, fewer strings
than units, nothing at all); an order the supplier takes back ends in needs_attention with one
alert naming the amount; a manual order left pending past BRIDGE_DELIVERY_GIVE_UP_HOURS (a few
seconds here) is flagged with one alert, and polls again once an operator retries it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import or_
from sqlmodel import col, select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment
from bridge.states import TERMINAL, FulfilmentState
from tests.conftest import Backend
from tests.e2e.world import (
    CANVA,
    CAOSHOP,
    CHATGPT,
    NETFLIX,
    SHOPKEY,
    TAKE_BACK,
    build_world,
)
from workers.alerts.models import Alert
from workers.fulfilment.notes import NOTHING_TO_HAND_OVER, begin_marker
from workers.fulfilment.redrive import retry_line

EMAIL = "khach@example.com"

Opener = Callable[..., Sandbox]
# The ends a line reaches without a person.
ENDED_BY_ITSELF = TERMINAL - {FulfilmentState.NEEDS_ATTENTION}


@pytest.fixture
def open_world(backend: Backend) -> Iterator[Opener]:
    """The standard world on the test's backend, with settings overridden (one per test)."""
    opened: list[Sandbox] = []

    def open_(**overrides: object) -> Sandbox:
        assert not opened, "one world per test: the backend has one database"
        sandbox = build_world(backend.sandbox(**overrides)).start()
        opened.append(sandbox)
        return sandbox

    try:
        yield open_
    finally:
        for sandbox in opened:
            sandbox.stop()


def alerts_about(sandbox: Sandbox, line: Fulfilment) -> list[Alert]:
    """Every alert row about the line, whatever its kind: by its id, or by its supplier order."""
    with session_scope(sandbox.runtime.engine) as session:
        statement = select(Alert).where(
            or_(
                col(Alert.subject) == str(line.id),
                col(Alert.message).contains(line.trans_id or "-"),
            )
        )
        return list(session.exec(statement))


def bought(sandbox: Sandbox, order_id: str) -> Fulfilment:
    """The order's one line, once its supplier order exists."""
    seen: list[Fulfilment] = []

    def purchased() -> bool:
        # One read decides and is returned: a second read could see the line another way.
        seen[:] = sandbox.fulfilments(order_id)
        return len(seen) == 1 and bool(seen[0].trans_id)

    sandbox.wait_for(purchased, what="the purchase")
    return seen[0]


@pytest.mark.parametrize("shape", ["none", "one_string", "fewer"])
def test_every_completion_shape_ends_annotated_with_what_was_done(
    open_world: Opener, shape: str
) -> None:
    """Instant and manual plans at a supplier answering as the platform's own server, and an
    instant plan in the short dialect: each line ends annotated, bought once, and its note
    holds every string the supplier handed over, or says there was nothing to hand over."""
    world = open_world(status_grace_seconds=1.0)  # one string for three units: awaited 1 s
    world.suppliers[CAOSHOP].switch(real_server=True, completion_shape=shape)
    world.suppliers[SHOPKEY].switch(completion_shape=shape)
    order_id = world.place_order(
        [
            {"variation_id": NETFLIX, "quantity": 2},
            {"variation_id": CHATGPT, "quantity": 3},
            {"variation_id": CANVA, "quantity": 2},
        ],
        bill_email=EMAIL,
    )
    caoshop = world.suppliers[CAOSHOP]
    world.wait_for(lambda: len(caoshop.ledger) == 2, what="both caoshop purchases")
    assert caoshop.complete_pending() == 1  # staff hand the manual plan over

    lines = world.wait_settled(order_id, lines=3, final=True)

    assert [line.state for line in lines] == [FulfilmentState.ANNOTATED] * 3
    ledger = {p.trans_id: p for sim in world.suppliers.values() for p in sim.ledger}
    assert len(ledger) == 3, "each line bought once"
    note = world.note(order_id)
    for line in lines:
        assert line.id is not None
        assert line.trans_id is not None
        purchase = ledger[line.trans_id]
        assert note.count(begin_marker(line.id)) == 1
        # The normal title: no "k of n delivered" counted from strings.
        title = f"x{line.quantity} (supplier order {line.trans_id})\n"
        if shape == "none":
            assert purchase.items == []
            assert title + NOTHING_TO_HAND_OVER + "\n" in note
        else:
            assert 0 < len(purchase.items) < line.quantity
            assert title + "\n".join(purchase.items) + "\n" in note
            for item in purchase.items:
                assert note.count(item) == 1
        assert alerts_about(world, line) == []
    assert (NOTHING_TO_HAND_OVER in note) == (shape == "none")


@pytest.mark.parametrize("action", sorted(TAKE_BACK))
def test_a_paid_order_the_supplier_takes_back_ends_with_one_alert_naming_the_amount(
    open_world: Opener, action: str
) -> None:
    take_back, says, repaid = TAKE_BACK[action]
    world = open_world()
    caoshop = world.suppliers[CAOSHOP]
    caoshop.switch(real_server=True)
    order_id = world.place_order([{"variation_id": CHATGPT, "quantity": 1}], bill_email=EMAIL)
    line = bought(world, order_id)
    paid = caoshop.balance

    take_back(caoshop, line.trans_id or "")
    world.wait_for(
        lambda: bool(alerts_about(world, line)), what="the alert about the taken back order"
    )
    # The bridge goes on: another order is bought and written meanwhile (several scheduler
    # ticks, each of which could have raised a second alert).
    other = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    world.wait_settled(other, lines=1, final=True)

    [line] = world.fulfilments(order_id)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert says in line.reason
    [alert] = alerts_about(world, line)
    assert says in alert.message
    assert (alert.count, alert.resolved) == (1, False)
    assert "pancake-bridge" not in world.note(order_id)
    assert [p.plan_id for p in caoshop.ledger] == [320, 319], "not bought again"
    assert caoshop.balance == paid + repaid - 75_000  # the Netflix order paid for


def test_a_manual_plan_left_pending_is_flagged_once_and_polls_again_after_a_retry(
    open_world: Opener,
) -> None:
    world = open_world(delivery_give_up_hours=2 / 3600)  # two seconds
    caoshop = world.suppliers[CAOSHOP]
    order_id = world.place_order([{"variation_id": CHATGPT, "quantity": 1}], bill_email=EMAIL)
    line = bought(world, order_id)

    world.wait_for(lambda: bool(alerts_about(world, line)), what="the give-up alert")
    [line] = world.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert f"supplier order {line.trans_id} is still 'pending' after" in line.reason
    [alert] = alerts_about(world, line)
    assert "BRIDGE_DELIVERY_GIVE_UP_HOURS" in alert.message
    assert "pancake-bridge" not in world.note(order_id)

    # The supplier's staff get to it at last; the operator retries the line.
    caoshop.complete_pending()
    assert line.id is not None
    retry_line(world.runtime.engine, line.id, utcnow())
    world.wait_for(
        lambda: world.fulfilments(order_id)[0].state in ENDED_BY_ITSELF,
        what="the retried line to end",
    )
    [line] = world.fulfilments(order_id)
    assert line.state == FulfilmentState.ANNOTATED
    [purchase] = caoshop.ledger
    [credential] = purchase.items
    assert world.note(order_id).count(credential) == 1
    world.wait_for(
        lambda: all(alert.resolved for alert in alerts_about(world, line)),
        what="the alert to be resolved",
    )
