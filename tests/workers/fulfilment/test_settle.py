"""fulfilment.settle, called directly: an unknown purchase is decided from the supplier's own
order list, adopted when it is there and bought again (once) when it is not."""

from __future__ import annotations

import pytest

from bridge.states import AttemptOutcome, FulfilmentState, Settlement
from tests.e2e.world import NETFLIX
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.deliver import deliver
from workers.fulfilment.purchase import purchase
from workers.fulfilment.settle import settle
from workers.queue.dispatch import ANNOTATE, DELIVER, PURCHASE, SETTLE, Send


def parked(desk: Desk, fault: str) -> tuple[int, int]:
    """A Netflix line whose orders/create met ``fault``: (order pk, line id), parked."""
    desk.caoshop.inject(fault)
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids
    [follow_up] = purchase(desk.ctx, line_id)
    assert follow_up.actor == SETTLE
    assert desk.line(line_id).state == FulfilmentState.PURCHASE_UNKNOWN
    return taken.order_pk, line_id


def test_an_order_whose_answer_was_lost_is_adopted_instead_of_bought_again(desk: Desk) -> None:
    settle_delay = desk.ctx.settings.settle_delay_seconds  # 0.5
    desk.clock.freeze()
    order_pk, line_id = parked(desk, "5xx_after_commit")
    [committed] = desk.caoshop.ledger
    desk.clock.advance(0.2)

    # Too early: a supplier may list a fresh order late. Come back when the delay is over,
    # without reading anything yet.
    [early] = settle(desk.ctx, line_id)
    assert (early.actor, early.entity_id) == (SETTLE, line_id)
    assert early.delay_seconds == pytest.approx(settle_delay - 0.2)
    assert desk.supplier_calls(desk.caoshop, "/orders/list") == 0

    desk.clock.advance(early.delay_seconds)
    assert settle(desk.ctx, line_id) == [Send(DELIVER, line_id)]

    assert desk.caoshop.ledger == [committed], "nothing bought again"
    line = desk.line(line_id)
    assert (line.state, line.trans_id) == (FulfilmentState.PURCHASED, committed.trans_id)
    [attempt] = desk.attempts(line_id)
    assert (attempt.outcome, attempt.settlement) == (AttemptOutcome.BOUGHT, Settlement.ADOPTED)
    assert (attempt.trans_id, attempt.amount) == (committed.trans_id, committed.amount)

    # A duplicated settle changes nothing; the adopted order delivers its credentials.
    assert settle(desk.ctx, line_id) == []
    assert deliver(desk.ctx, line_id) == [Send(ANNOTATE, order_pk)]
    assert desk.credentials(line_id) == committed.items
    assert len(desk.caoshop.ledger) == 1


def test_a_purchase_that_never_committed_is_bought_again_exactly_once(desk: Desk) -> None:
    _, line_id = parked(desk, "5xx_before_commit")
    assert desk.caoshop.ledger == []
    desk.clock.advance(desk.ctx.settings.settle_delay_seconds)

    assert settle(desk.ctx, line_id) == [Send(PURCHASE, line_id)]

    assert desk.line(line_id).state == FulfilmentState.PENDING
    [attempt] = desk.attempts(line_id)
    assert attempt.settlement == Settlement.NOT_FOUND
    # A second copy of the settle message must not send the line back to buying again.
    assert settle(desk.ctx, line_id) == []

    assert purchase(desk.ctx, line_id) == [Send(DELIVER, line_id, 0.0)]
    assert purchase(desk.ctx, line_id) == []
    [bought] = desk.caoshop.ledger
    assert desk.line(line_id).trans_id == bought.trans_id


def test_an_order_another_line_bought_is_never_adopted(desk: Desk) -> None:
    """The list shows an order of the same plan and quantity, but it is another line's."""
    [other] = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}]).line_ids
    _, line_id = parked(desk, "5xx_before_commit")
    assert purchase(desk.ctx, other) == [Send(DELIVER, other, 0.0)]
    [theirs] = desk.caoshop.ledger
    desk.clock.advance(desk.ctx.settings.settle_delay_seconds)

    assert settle(desk.ctx, line_id) == [Send(PURCHASE, line_id)]

    assert desk.line(other).trans_id == theirs.trans_id
    assert desk.line(line_id).trans_id is None
    [attempt] = desk.attempts(line_id)
    assert (attempt.settlement, attempt.trans_id) == (Settlement.NOT_FOUND, None)
