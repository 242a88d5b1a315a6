"""order.intake, called directly: Pancake's API (not the report) decides which lines exist and
which of them go to buying."""

from __future__ import annotations

from bridge.dev.sandbox import CONFIRMED
from bridge.states import FulfilmentState, OrderState
from tests.e2e.world import NETFLIX, SPOTIFY, UNMAPPED
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.intake import intake
from workers.queue.dispatch import INTAKE, PURCHASE, Send

NEW = 0


def test_only_mapped_lines_of_a_confirmed_order_go_to_buying(desk: Desk) -> None:
    taken = desk.take_in(
        [
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": UNMAPPED, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 3},
        ]
    )

    netflix, unmapped, spotify = desk.lines(taken.order_pk)
    assert taken.sends == [Send(PURCHASE, line_id) for line_id in taken.line_ids]
    assert taken.line_ids == [netflix.id, spotify.id]
    assert (netflix.state, netflix.quantity) == (FulfilmentState.PENDING, 1)
    assert (spotify.state, spotify.quantity) == (FulfilmentState.PENDING, 3)
    assert unmapped.state == FulfilmentState.NEEDS_ATTENTION
    assert unmapped.reason == f"unmapped: variation {UNMAPPED} has no mapping"
    assert netflix.item_name == "Netflix Premium 1 tháng"  # as Pancake names it
    assert desk.order_row(taken.order_pk).state == OrderState.SYNCED
    # Intake only reads: nothing is bought and nothing is written into the order.
    assert desk.caoshop.ledger == []
    assert desk.shopkey.ledger == []
    assert desk.note_writes(taken.order_id) == 0


def test_a_report_of_a_trigger_status_pancake_does_not_show_creates_nothing(desk: Desk) -> None:
    """A stale or forged report says "confirmed"; the order in Pancake is still new."""
    order_id = desk.sandbox.pancake.create_order(
        desk.shop_id, items=[{"variation_id": NETFLIX, "quantity": 1}], status=NEW
    )
    order_pk = desk.reported(order_id, status=CONFIRMED)

    assert intake(desk.ctx, order_pk) == []

    assert desk.lines(order_pk) == []
    order = desk.order_row(order_pk)
    assert (order.state, order.last_error) == (OrderState.SKIPPED, "status 0 is no trigger")

    # Once staff confirm it, its report has intake read it again, and it is bought.
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, CONFIRMED)
    assert desk.report(order_id) == [Send(INTAKE, order_pk)]
    [send] = intake(desk.ctx, order_pk)
    assert send.actor == PURCHASE
    assert [line.state for line in desk.lines(order_pk)] == [FulfilmentState.PENDING]


def test_a_duplicated_intake_creates_no_line_twice(desk: Desk) -> None:
    taken = desk.take_in(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": NETFLIX, "quantity": 1}]
    )
    # Two lines of one variation are two purchases, told apart by their item ids.
    assert len(taken.line_ids) == 2

    assert intake(desk.ctx, taken.order_pk) == []
    # The same order reported again (Pancake's echo, the catch-up) asks nothing more either.
    assert desk.report(taken.order_id) == []

    assert [line.id for line in desk.lines(taken.order_pk)] == taken.line_ids


def test_an_order_no_real_shop_sells_is_refused_before_anything_is_stored(
    desk: Desk,
) -> None:
    too_many = desk.ctx.settings.intake_max_quantity + 1
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": too_many}])

    assert taken.sends == []
    assert desk.lines(taken.order_pk) == []
    order = desk.order_row(taken.order_pk)
    assert order.state == OrderState.FAILED
    assert order.last_error is not None
    assert order.last_error.startswith("refused: line 1: quantity")
    assert order.last_error.endswith("nothing was bought")
    assert ("order_failed", f"{desk.shop_id}:{taken.order_id}") in desk.open_alerts()
