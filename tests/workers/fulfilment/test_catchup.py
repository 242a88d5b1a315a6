"""order.catchup, called directly: an order whose webhook never came is found in Pancake's
order list and reported once; the cursor moves only after a read that saw every page."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from bridge.db import session_scope
from bridge.pancake.models import PancakeShop
from bridge.states import FulfilmentState
from tests.e2e.world import NETFLIX
from tests.workers.fulfilment.conftest import Desk
from workers.fulfilment.catchup import catch_up, due_catchups
from workers.fulfilment.intake import intake
from workers.fulfilment.models import ShopCatchUp
from workers.fulfilment.purchase import purchase
from workers.queue.dispatch import CATCHUP, DELIVER, INTAKE, Send

NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def catchup_row(desk: Desk) -> ShopCatchUp:
    with session_scope(desk.ctx.engine) as session:
        [row] = session.exec(select(ShopCatchUp).where(ShopCatchUp.shop_id == desk.shop_id))
        return row


def scheduled(desk: Desk) -> int:
    """The scheduler's job, due for the shop: the catch-up's id."""
    [send] = due_catchups(desk.ctx)
    assert send.actor == CATCHUP
    return send.entity_id


def test_an_order_whose_webhook_was_missed_is_caught_up_and_bought(desk: Desk) -> None:
    order_id = desk.place_order(NETFLIX_LINE)  # Pancake sends no webhook
    catchup_id = scheduled(desk)

    [send] = catch_up(desk.ctx, catchup_id)

    assert send.actor == INTAKE
    [line_send] = intake(desk.ctx, send.entity_id)
    assert purchase(desk.ctx, line_send.entity_id) == [Send(DELIVER, line_send.entity_id, 0.0)]
    [line] = desk.sandbox.fulfilments(order_id)
    [bought] = desk.caoshop.ledger
    assert (line.state, line.trans_id) == (FulfilmentState.PURCHASED, bought.trans_id)
    # The next catch-up waits for the interval, and seeing the order again asks nothing more.
    assert due_catchups(desk.ctx) == []
    desk.clock.advance(desk.ctx.settings.catchup_interval_seconds + 1)
    assert catch_up(desk.ctx, scheduled(desk)) == []
    assert len(desk.caoshop.ledger) == 1


def test_an_order_reported_both_ways_is_read_once(desk: Desk) -> None:
    order_id = desk.place_order(NETFLIX_LINE)
    order_pk = desk.reported(order_id)  # the webhook came after all

    # Intake is queued already: the catch-up's report only has it read the order afresh.
    assert catch_up(desk.ctx, scheduled(desk)) == []
    assert len(intake(desk.ctx, order_pk)) == 1

    desk.clock.advance(desk.ctx.settings.catchup_interval_seconds + 1)
    assert catch_up(desk.ctx, scheduled(desk)) == []
    assert len(desk.sandbox.fulfilments(order_id)) == 1
    assert desk.order_reads(order_id) == 1


def test_a_failed_read_keeps_the_cursor_and_the_next_read_covers_the_same_orders(
    desk: Desk,
) -> None:
    order_id = desk.place_order(NETFLIX_LINE)
    catchup_id = scheduled(desk)
    desk.sandbox.pancake.inject(403, query_contains="updateStatus=updated_at")

    assert catch_up(desk.ctx, catchup_id) == []

    row = catchup_row(desk)
    assert row.caught_up_until is None
    assert row.last_error is not None
    assert "403" in row.last_error

    started = desk.clock()
    [send] = catch_up(desk.ctx, catchup_id)

    assert send.actor == INTAKE
    assert desk.order_row(send.entity_id).order_id == order_id
    row = catchup_row(desk)
    assert row.last_error is None
    assert row.caught_up_until is not None
    assert row.caught_up_until >= started


def test_the_first_read_starts_when_the_shop_was_added(desk: Desk) -> None:
    """Orders the shop had before the bridge knew it were never the bridge's to buy."""
    with session_scope(desk.ctx.engine) as session:
        shop = session.get(PancakeShop, desk.shop_id)
        assert shop is not None
        added = shop.created_at
    desk.sandbox.pancake.add_old_orders(
        desk.shop_id, before=added - timedelta(days=1), items=NETFLIX_LINE, status=1
    )
    desk.clock.advance(3600)  # the first catch-up runs an hour later

    assert catch_up(desk.ctx, scheduled(desk)) == []

    [query] = desk.sandbox.pancake.order_queries
    overlap = timedelta(seconds=desk.ctx.settings.catchup_overlap_seconds)
    assert int(query["startDateTime"]) == int((added - overlap).timestamp())
    assert desk.sandbox.fulfilments() == []


def test_each_read_starts_an_overlap_before_the_last_complete_read_began(desk: Desk) -> None:
    interval = desk.ctx.settings.catchup_interval_seconds
    overlap = timedelta(seconds=desk.ctx.settings.catchup_overlap_seconds)
    desk.clock.advance(3600)
    assert catch_up(desk.ctx, scheduled(desk)) == []
    first_cursor = catchup_row(desk).caught_up_until
    assert first_cursor is not None

    desk.clock.advance(interval)
    assert catch_up(desk.ctx, scheduled(desk)) == []

    _, second = desk.sandbox.pancake.order_queries
    assert int(second["startDateTime"]) == int((first_cursor - overlap).timestamp())
    second_cursor = catchup_row(desk).caught_up_until
    assert second_cursor is not None
    assert second_cursor - first_cursor >= timedelta(seconds=interval)
