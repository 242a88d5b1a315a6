"""Only new sales are bought: an order Pancake says was created before the shop fulfils from is
the shop's history. Its first read skips it for good; an operator (`orders fulfil`) or an earlier
``--since`` buys it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bridge.db import session_scope, utcnow
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import PancakeOrder
from bridge.pancake.shops import add_shop
from bridge.states import FulfilmentState, OrderState
from tests.e2e.world import NETFLIX
from tests.workers.fulfilment.conftest import Desk
from tests.workers.fulfilment.test_edits import buy, report, units
from workers.fulfilment.catchup import catch_up, due_catchups
from workers.fulfilment.intake import BEFORE_THE_SHOP, before_the_shop, intake
from workers.fulfilment.redrive import fulfil_order, reread_window
from workers.queue.dispatch import INTAKE, PURCHASE, Send

DELIVERED, PAID, ORDERED, UNLABELLED = 3, 16, 20, 19
NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def shop_added(desk: Desk) -> datetime:
    with session_scope(desk.ctx.engine) as session:
        shop = session.get(PancakeShop, desk.shop_id)
        assert shop is not None
        return shop.fulfil_from


def old_orders(desk: Desk, count: int = 1) -> list[str]:
    """Orders delivered by hand before the shop was added (status 3)."""
    return desk.sandbox.pancake.add_old_orders(
        desk.shop_id, before=shop_added(desk), items=NETFLIX_LINE, count=count
    )


def test_an_old_order_is_skipped_for_good_whatever_status_it_moves_to(desk: Desk) -> None:
    [order_id] = old_orders(desk)
    [send] = report(desk, order_id)
    assert intake(desk.ctx, send.entity_id) == []

    order = desk.order_row(send.entity_id)
    assert order.state == OrderState.SKIPPED
    assert (order.last_error or "").startswith(BEFORE_THE_SHOP)
    assert f"bridge orders fulfil {order_id} --shop {desk.shop_id}" in (order.last_error or "")
    assert order.predates_shop
    assert desk.lines(send.entity_id) == []
    reads = desk.order_reads(order_id)
    # Staff move it 3 -> 16 when the cash arrives (or a bulk update): not even read again.
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, PAID)
    assert report(desk, order_id) == []
    assert desk.report(order_id) == []  # a report without the items' digest, too
    assert desk.order_reads(order_id) == reads
    assert desk.caoshop.ledger == []


def test_an_operator_fulfils_an_old_order_once(desk: Desk) -> None:
    [order_id] = old_orders(desk)
    [send] = report(desk, order_id)
    intake(desk.ctx, send.entity_id)

    asked = fulfil_order(desk.ctx.engine, desk.shop_id, order_id, "cli", utcnow())
    assert (asked.id, asked.state, asked.changed) == (send.entity_id, OrderState.PENDING, True)
    order = desk.order_row(send.entity_id)
    assert (order.fulfil_asked_by, order.predates_shop) == ("cli", False)
    assert order.lease_until is not None
    assert order.lease_until < desk.clock(), "expired: the next sweep sends its intake"
    sends = intake(desk.ctx, send.entity_id)
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 1}

    again = fulfil_order(desk.ctx.engine, desk.shop_id, order_id, "alice", utcnow())
    assert (again.state, again.changed) == (OrderState.SYNCED, False)
    assert desk.order_row(send.entity_id).fulfil_asked_by == "cli", "who asked first"
    assert intake(desk.ctx, send.entity_id) == []
    assert report(desk, order_id) == []
    assert units(desk.caoshop) == {319: 1}


def test_an_operator_fulfils_an_old_order_the_bridge_never_saw(desk: Desk) -> None:
    [order_id] = old_orders(desk)
    asked = fulfil_order(desk.ctx.engine, desk.shop_id, order_id, "cli", utcnow())
    assert (asked.state, asked.changed) == (OrderState.PENDING, True)

    buy(desk, intake(desk.ctx, asked.id))

    assert units(desk.caoshop) == {319: 1}
    assert [line.state for line in desk.lines(asked.id)] == [FulfilmentState.PURCHASED]


def test_an_earlier_since_reads_the_skipped_orders_it_now_covers(desk: Desk) -> None:
    older, newer = old_orders(desk, count=2)  # a minute apart, ending a minute before
    for order_id in (older, newer):
        [send] = report(desk, order_id)
        intake(desk.ctx, send.entity_id)
    since = shop_added(desk) - timedelta(seconds=90)  # between the two

    with session_scope(desk.ctx.engine) as session:
        add_shop(session, desk.ctx.box, desk.shop_id, fulfil_from=since)
        reread = reread_window(session, desk.shop_id, since, utcnow())

    [newer_pk] = reread
    assert desk.order_row(newer_pk).order_id == newer
    sends = intake(desk.ctx, newer_pk)
    assert [send.actor for send in sends] == [PURCHASE]
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 1}
    assert desk.report(older) == [], "the older one stays history"


def test_a_new_order_is_bought_as_before(desk: Desk) -> None:
    taken = desk.take_in(NETFLIX_LINE)
    order = desk.order_row(taken.order_pk)
    assert order.state == OrderState.SYNCED
    assert order.placed_at is not None
    assert order.placed_at >= shop_added(desk)
    assert not order.predates_shop


def test_an_order_without_its_creation_time_counts_as_new() -> None:
    since = utcnow()
    undated = PancakeOrder.from_api({"id": 7, "status": 1, "items": []})
    assert before_the_shop(undated, "4", since) is None
    unreadable = PancakeOrder.from_api({"id": 7, "status": 1, "inserted_at": "hôm qua"})
    assert unreadable.inserted_at is None
    old = PancakeOrder.from_api({"id": 7, "inserted_at": "2020-05-12 04:51:42.123456"})
    assert (before_the_shop(old, "4", since) or "").startswith(BEFORE_THE_SHOP)


@pytest.mark.parametrize("status", [ORDERED, UNLABELLED])
def test_statuses_seen_in_real_traffic_are_no_default_triggers(desk: Desk, status: int) -> None:
    """20 ("ordered") comes before staff confirm; 19 has no label anywhere: neither buys."""
    order_id = desk.place_order(NETFLIX_LINE)
    desk.sandbox.pancake.set_status(desk.shop_id, order_id, status)
    assert report(desk, order_id) == []
    # A stale report saying "confirmed": intake reads the order and skips it by its status.
    [send] = desk.report(order_id, status=1)
    assert send == Send(INTAKE, send.entity_id)
    assert intake(desk.ctx, send.entity_id) == []
    assert desk.order_row(send.entity_id).last_error == f"status {status} is no trigger"
    assert desk.caoshop.ledger == []


def test_the_catch_up_reads_from_an_earlier_since(desk: Desk) -> None:
    """Orders from the moment `--since` gave may have reached a trigger before the shop was
    added: the first read of the order list covers them (within the lookback)."""
    since = shop_added(desk) - timedelta(days=2)
    with session_scope(desk.ctx.engine) as session:
        add_shop(session, desk.ctx.box, desk.shop_id, fulfil_from=since)

    [send] = due_catchups(desk.ctx)
    catch_up(desk.ctx, send.entity_id)

    [query] = desk.sandbox.pancake.order_queries
    overlap = timedelta(seconds=desk.ctx.settings.catchup_overlap_seconds)
    assert int(query["startDateTime"]) == int((since - overlap).timestamp())
