"""A purchase whose answer was lost is settled right whatever zone the supplier prints its times in
and however far its clock runs from ours: never bought twice, never left silent, from the first
purchase on, in both dialects.

The supplier prints ``created_at`` naive in its zone (UTC, UTC+7, UTC+8 here), by a clock up to
ten minutes off; the full dialect's ``timestamp`` is Unix time by that clock, the short dialect
sends none. The first purchase is the lost one, so nothing is learnt yet; a purchase answered
next teaches the zone, and a later lost answer is settled by it.
"""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from bridge.supplier.suppliers import add_supplier
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY, lose_next_answer

ZONES = (0, 7, 8)  # hours east of UTC
SKEWS = (-600.0, 0.0, 600.0)  # the supplier's clock minus ours, seconds
DIALECTS = pytest.mark.parametrize(
    ("variation", "name"), [(NETFLIX, CAOSHOP), (CANVA, SHOPKEY)], ids=["full", "short"]
)


def supplier_row(sandbox: Sandbox, name: str) -> Supplier:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Supplier, name)
        assert row is not None
        return row


def settlements(sandbox: Sandbox) -> list[str | None]:
    with session_scope(sandbox.runtime.engine) as session:
        attempts = session.exec(select(PurchaseAttempt).order_by(col(PurchaseAttempt.id)))
        return [a.settlement for a in attempts]


def buy(sandbox: Sandbox, variation: str) -> Fulfilment:
    """One order of one unit, waited for until it ends (annotated, or stopped for a person)."""
    order_id = sandbox.place_order([{"variation_id": variation, "quantity": 1}])
    [line] = sandbox.wait_settled(order_id, lines=1, timeout=30, final=True)
    return line


def assert_delivered_once(sandbox: Sandbox, simulator: SupplierSimulator, line: Fulfilment) -> None:
    """The line ended annotated with the one supplier order bought for it, whose credentials
    are in its note."""
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    [order] = [p for p in simulator.ledger if p.trans_id == line.trans_id]
    assert order.items
    assert all(item in sandbox.note(line.order_id) for item in order.items)


def shift(simulator: SupplierSimulator, zone: int, skew: float) -> None:
    simulator.switch(created_at_zone_hours=zone, clock_skew_seconds=skew)


@pytest.mark.parametrize("skew", SKEWS)
@pytest.mark.parametrize("zone", ZONES)
@DIALECTS
def test_a_lost_answer_is_settled_in_any_zone_with_any_clock(
    sqlite_world: Sandbox, variation: str, name: str, zone: int, skew: float
) -> None:
    simulator = sqlite_world.suppliers[name]
    shift(simulator, zone, skew)

    # The very first purchase loses its answer: neither the zone nor the key's user is known.
    lose_next_answer(simulator)
    first = buy(sqlite_world, variation)
    assert_delivered_once(sqlite_world, simulator, first)
    assert len(simulator.ledger) == 1, "bought once, not again"

    # An answered purchase, then another lost answer: settled by what was learnt meanwhile.
    second = buy(sqlite_world, variation)
    lose_next_answer(simulator)
    third = buy(sqlite_world, variation)

    assert len(simulator.ledger) == 3, "one supplier order per line"
    assert len({first.trans_id, second.trans_id, third.trans_id}) == 3
    for line in (second, third):
        assert_delivered_once(sqlite_world, simulator, line)
    assert settlements(sqlite_world) == ["adopted", None, "adopted"]
    row = supplier_row(sqlite_world, name)
    assert row.zone_minutes == zone * 60, "learnt from created_at against the clock"
    if name == CAOSHOP:
        assert row.clock_low_seconds is not None
        assert row.clock_high_seconds is not None
        assert row.clock_low_seconds <= skew <= row.clock_high_seconds
        assert row.clock_high_seconds - row.clock_low_seconds <= 2, "from timestamps only"
    else:
        assert row.clock_low_seconds is None, "no timestamp: the clock stays unmeasured"


@DIALECTS
def test_the_operators_zone_settles_the_first_lost_answer(
    sqlite_world: Sandbox, variation: str, name: str
) -> None:
    """``suppliers add --timezone``: one band, in the zone given, from the first purchase on."""
    simulator = sqlite_world.suppliers[name]
    shift(simulator, 0, -540.0)
    row = supplier_row(sqlite_world, name)
    with session_scope(sqlite_world.runtime.engine) as session:
        box = sqlite_world.runtime.box
        key, secret = box.decrypt(row.api_key_enc), box.decrypt(row.api_secret_enc)
        add_supplier(
            session,
            box,
            name,
            base_url=row.base_url,
            api_key=key,
            api_secret=secret,
            timezone="UTC",
        )
    lose_next_answer(simulator)

    line = buy(sqlite_world, variation)

    assert_delivered_once(sqlite_world, simulator, line)
    assert len(simulator.ledger) == 1
    row = supplier_row(sqlite_world, name)
    assert (row.timezone, row.zone_minutes) == ("+00:00", None), "the operator's word stands"


def test_a_lost_answer_in_another_zone_is_settled_on_both_backends(world: Sandbox) -> None:
    """UTC+8, ten minutes slow, the first purchase lost: PostgreSQL + Redis as SQLite."""
    simulator = world.suppliers[CAOSHOP]
    shift(simulator, 8, -600.0)
    lose_next_answer(simulator)

    line = buy(world, NETFLIX)

    assert_delivered_once(world, simulator, line)
    assert len(simulator.ledger) == 1, "bought once, not again"
    assert settlements(world) == ["adopted"]
