"""A lost purchase answer is settled by the supplier's clock as measured, not as assumed.

The docs promise nothing about a supplier's clock; a shop whose clock runs minutes slow stamps
our order's ``created_at`` minutes before the attempt began by our clock, and a settle window that
trusts our clock would not find it and would buy again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, Precision
from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderItem
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY, lose_next_answer


def skew(sandbox: Sandbox, name: str, seconds: float, precision: Precision) -> None:
    simulator = sandbox.suppliers[name]
    simulator.clock = lambda: datetime.now(UTC) + timedelta(seconds=seconds)
    simulator.created_at_precision = precision


def supplier_row(sandbox: Sandbox, name: str) -> Supplier:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(Supplier, name)
        assert row is not None
        return row


def settlements(sandbox: Sandbox) -> list[str | None]:
    with session_scope(sandbox.runtime.engine) as session:
        return [a.settlement for a in session.exec(select(PurchaseAttempt))]


@pytest.mark.parametrize("precision", ["seconds", "minutes"])
@pytest.mark.parametrize("seconds", [-540.0, 540.0])
@pytest.mark.parametrize(("variation", "name"), [(NETFLIX, CAOSHOP), (CANVA, SHOPKEY)])
def test_a_lost_answer_is_adopted_whatever_the_supplier_clock(
    sqlite_world: Sandbox, variation: str, name: str, seconds: float, precision: Precision
) -> None:
    skew(sqlite_world, name, seconds, precision)
    simulator = sqlite_world.suppliers[name]
    first = sqlite_world.place_order([{"variation_id": variation, "quantity": 1}])
    sqlite_world.wait_settled(first, lines=1, final=True)

    lose_next_answer(simulator)
    second = sqlite_world.place_order([{"variation_id": variation, "quantity": 1}])
    [line] = sqlite_world.wait_settled(second, lines=1, timeout=30, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert len(simulator.ledger) == 2, "bought once, not again"
    newest = max(simulator.ledger, key=lambda p: p.created_at)
    assert line.trans_id == newest.trans_id
    assert settlements(sqlite_world) == [None, "adopted"]
    # What was learnt is kept: the zone in both dialects (from created_at against the clock),
    # the clock only from timestamps (the short dialect sends none).
    row = supplier_row(sqlite_world, name)
    assert row.zone_minutes == 7 * 60
    if name == SHOPKEY:
        assert row.clock_low_seconds is None
        return
    assert row.clock_low_seconds is not None
    assert row.clock_high_seconds is not None
    assert row.clock_low_seconds <= seconds <= row.clock_high_seconds
    assert row.clock_high_seconds - row.clock_low_seconds <= 2


def test_an_older_order_of_the_key_in_the_window_is_never_guessed_away(
    sqlite_world: Sandbox,
) -> None:
    """Unmeasured, the window looks back ten minutes: an order of the same plan the key bought
    outside the bridge three minutes earlier could be the lost one as well as ours. Neither is
    adopted, nothing is bought again: the line waits for a person."""
    simulator = sqlite_world.suppliers[SHOPKEY]  # short dialect: no timestamps to measure by
    simulator.clock = lambda: datetime.now(UTC) - timedelta(seconds=180)
    base_url = supplier_row(sqlite_world, SHOPKEY).base_url
    with SupplierClient(base_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        client.create_order([OrderItem(plan_id=77, quantity=1)])
    [stranger] = simulator.ledger
    simulator.clock = lambda: datetime.now(UTC)
    lose_next_answer(simulator)

    order_id = sqlite_world.place_order([{"variation_id": CANVA, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, timeout=30, final=True)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert line.reason is not None
    assert stranger.trans_id in line.reason
    assert len(simulator.ledger) == 2, "not bought again"
    assert line.trans_id is None
    with session_scope(sqlite_world.runtime.engine) as session:
        [attempt] = session.exec(select(PurchaseAttempt))
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.UNKNOWN, "ambiguous")
