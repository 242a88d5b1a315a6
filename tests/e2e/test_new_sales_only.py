"""Only new sales are bought: a shop's history (orders delivered by hand before the bridge was
connected) is never bought, however staff move it later, by webhook or found by the catch-up;
an operator's `orders fulfil` buys one such order, once. The supplier's ledger says so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlmodel import col, select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Order
from bridge.pancake.models import PancakeShop
from bridge.pancake.vocabulary import OrderStatus
from bridge.states import FulfilmentState, OrderState
from tests.conftest import Backend
from tests.e2e.world import CAOSHOP, NETFLIX, build_world, purchases_per_plan
from workers.fulfilment.intake import BEFORE_THE_SHOP
from workers.fulfilment.models import ShopCatchUp, WebhookEvent
from workers.fulfilment.redrive import fulfil_order

NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def fulfils_from(sandbox: Sandbox) -> datetime:
    with session_scope(sandbox.runtime.engine) as session:
        shop = session.get(PancakeShop, sandbox.shop_id)
        assert shop is not None
        return shop.fulfil_from


def orders(sandbox: Sandbox, order_ids: list[str]) -> dict[str, Order]:
    with session_scope(sandbox.runtime.engine) as session:
        rows = session.exec(
            select(Order).where(
                Order.shop_id == sandbox.shop_id, col(Order.order_id).in_(order_ids)
            )
        )
        return {row.order_id: row for row in rows}


def skipped_as_history(sandbox: Sandbox, order_ids: list[str]) -> bool:
    found = orders(sandbox, order_ids)
    return len(found) == len(order_ids) and all(
        row.state == OrderState.SKIPPED and (row.last_error or "").startswith(BEFORE_THE_SHOP)
        for row in found.values()
    )


def reads(sandbox: Sandbox, order_id: str) -> int:
    return sandbox.pancake.count_calls("GET", f"/orders/{order_id}")


def webhooks_recorded(sandbox: Sandbox, order_id: str) -> list[int | None]:
    """The statuses of the order's webhooks the bridge recorded. What a webhook asks of intake
    is decided in the transaction that records it: once the row is there, so is the decision."""
    with session_scope(sandbox.runtime.engine) as session:
        rows = session.exec(
            select(WebhookEvent.order_status)
            .where(WebhookEvent.order_id == order_id)
            .order_by(col(WebhookEvent.id))
        )
        return list(rows)


def annotated(sandbox: Sandbox, order_id: str) -> None:
    [line] = sandbox.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED


def test_old_orders_moved_by_staff_are_never_bought_and_the_operator_buys_one_once(
    world: Sandbox,
) -> None:
    pancake, shop = world.pancake, world.shop_id
    history = pancake.add_old_orders(
        shop, before=fulfils_from(world), items=NETFLIX_LINE, count=4, status=3
    )
    new_sale = world.place_order(NETFLIX_LINE)
    # The carrier pays: staff select the delivered orders and move them all 3 -> 16.
    pancake.set_statuses(shop, history, OrderStatus.PAID)

    world.wait_for(lambda: skipped_as_history(world, history), what="the history to be skipped")
    annotated(world, new_sale)
    assert purchases_per_plan(world) == {319: 1}, "the new sale only"

    # Staff move one again (16 -> 3): its webhook is recorded, and not even a read follows.
    moved = history[0]
    read_before = reads(world, moved)
    pancake.set_status(shop, moved, OrderStatus.RECEIVED)
    world.wait_for(
        lambda: OrderStatus.RECEIVED in webhooks_recorded(world, moved),
        what="the webhook of the move",
    )
    assert orders(world, [moved])[moved].state == OrderState.SKIPPED, "no intake queued"
    assert reads(world, moved) == read_before

    # The operator asks for one of them: bought once, however often asked.
    chosen = history[1]
    asked = fulfil_order(world.runtime.engine, shop, chosen, "cli", utcnow())
    assert asked.changed
    annotated(world, chosen)
    again = fulfil_order(world.runtime.engine, shop, chosen, "cli", utcnow())
    assert (again.state, again.changed) == (OrderState.SYNCED, False)
    # Staff move it on: the bridge knows it, with the same items, and buys nothing more.
    pancake.set_status(shop, chosen, OrderStatus.RECEIVED)
    world.wait_for(
        lambda: OrderStatus.RECEIVED in webhooks_recorded(world, chosen),
        what="the webhook of the move",
    )
    assert orders(world, [chosen])[chosen].state == OrderState.SYNCED, "no intake queued"

    assert purchases_per_plan(world) == {319: 2}
    [bought] = [p for p in world.suppliers[CAOSHOP].ledger if p.items[0] in world.note(chosen)]
    assert world.note(chosen).count(bought.items[0]) == 1
    chosen_row = orders(world, [chosen])[chosen]
    assert (chosen_row.state, chosen_row.fulfil_asked_by) == (OrderState.SYNCED, "cli")
    assert skipped_as_history(world, [h for h in history if h != chosen])


@pytest.fixture
def unheard_world(backend: Backend) -> Iterator[Sandbox]:
    """The standard world whose Pancake sends no webhook: only the catch-up (every second)
    finds what changed."""
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=1.0))
    sandbox.pancake.send_webhooks = False
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def catch_ups_done(sandbox: Sandbox) -> datetime | None:
    with session_scope(sandbox.runtime.engine) as session:
        row = session.exec(
            select(ShopCatchUp).where(ShopCatchUp.shop_id == sandbox.shop_id)
        ).first()
        return row.caught_up_until if row is not None else None


def test_old_orders_the_catch_up_finds_are_never_bought(unheard_world: Sandbox) -> None:
    world = unheard_world
    pancake, shop = world.pancake, world.shop_id
    history = pancake.add_old_orders(
        shop, before=fulfils_from(world), items=NETFLIX_LINE, count=3, status=3
    )
    pancake.set_statuses(shop, history, OrderStatus.PAID)
    new_sale = world.place_order(NETFLIX_LINE)

    world.wait_for(lambda: skipped_as_history(world, history), what="the history to be skipped")
    annotated(world, new_sale)
    read_before = [reads(world, order_id) for order_id in history]
    # Two more complete reads of the order list see them again: nothing is read or bought.
    seen = utcnow()
    world.wait_for(
        lambda: (catch_ups_done(world) or seen) > seen, what="a catch-up after the skips"
    )
    later = catch_ups_done(world)
    assert later is not None
    world.wait_for(lambda: (catch_ups_done(world) or later) > later, what="another catch-up")

    assert purchases_per_plan(world) == {319: 1}, "the new sale only"
    assert [reads(world, order_id) for order_id in history] == read_before
