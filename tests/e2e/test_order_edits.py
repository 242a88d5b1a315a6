"""Orders staff change after the bridge took them in: quantities raised or lowered, a variation
swapped, a cancelled order restored, part of an order returned. Each ends with exactly the units
the order asks for bought, counted in the supplier's ledger, and the note written once.

The bridge hears of an edit from the catch-up (every second here) or the order's webhook; the
purchase of a line that waited reads the order again too. Lines are made to wait by pausing
their supplier; once it is back, a waiting line's purchase is sent, as the sweep does once the
pause's lease ran out."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment
from bridge.pancake.vocabulary import OrderStatus
from bridge.states import FulfilmentState
from tests.conftest import Backend
from tests.e2e.test_cancellation import pause
from tests.e2e.world import CANVA, CAOSHOP, NETFLIX, SHOPKEY, build_world
from workers.alerts.models import Alert
from workers.fulfilment.cancel import ALERT_KIND
from workers.queue.dispatch import PURCHASE, Send


@pytest.fixture
def shop(backend: Backend) -> Iterator[Sandbox]:
    """The standard world, with a catch-up every second."""
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=1.0)).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def units(sandbox: Sandbox, supplier: str) -> Counter[int]:
    """Units bought per plan, as the supplier's books hold them."""
    bought: Counter[int] = Counter()
    for purchase_made in sandbox.suppliers[supplier].ledger:
        bought[purchase_made.plan_id] += purchase_made.quantity
    return bought


def items(sandbox: Sandbox, order_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sandbox.pancake.order(sandbox.shop_id, order_id)["items"]
    return found


def lines(sandbox: Sandbox, order_id: str, *states: FulfilmentState) -> list[Fulfilment]:
    return [line for line in sandbox.fulfilments(order_id) if line.state in states]


def waiting(sandbox: Sandbox, order_id: str, count: int = 1) -> None:
    """Until ``count`` lines of the order wait for their paused supplier."""
    sandbox.wait_for(
        lambda: (
            sum("paused" in (line.last_error or "") for line in sandbox.fulfilments(order_id))
            >= count
        ),
        what="the lines to wait for their paused supplier",
    )


def resume(sandbox: Sandbox, supplier: str, order_id: str) -> None:
    """The supplier is back: the purchase of each line still waiting is sent now, as the sweep
    would send it once the pause's lease ran out."""
    pause(sandbox, supplier, paused=False)
    waited = lines(sandbox, order_id, FulfilmentState.PENDING)
    sandbox.runtime.dispatch([Send(PURCHASE, line.id or 0) for line in waited])


def settled_to(sandbox: Sandbox, order_id: str, quantity: int) -> list[Fulfilment]:
    """Until the order's live lines hold ``quantity`` units and none is still in progress."""
    sandbox.wait_for(
        lambda: (
            sum(
                line.quantity
                for line in sandbox.fulfilments(order_id)
                if line.state != FulfilmentState.CANCELLED
            )
            == quantity
        ),
        what=f"the order's lines to hold {quantity} unit(s)",
    )
    return sandbox.wait_settled(order_id, lines=1, final=True)


def credentials_written(sandbox: Sandbox, supplier: str, order_id: str) -> int:
    """How many of the supplier's delivered credentials the order's note holds."""
    note = sandbox.note(order_id)
    delivered = [item for p in sandbox.suppliers[supplier].ledger for item in p.items]
    return sum(note.count(item) for item in delivered)


def alerts(sandbox: Sandbox) -> list[Alert]:
    with session_scope(sandbox.runtime.engine) as session:
        found = session.exec(select(Alert).where(Alert.kind == ALERT_KIND))
        return [alert for alert in found if not alert.resolved]


def test_more_units_after_delivery_are_bought_once(shop: Sandbox) -> None:
    order_id = shop.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    shop.wait_settled(order_id, lines=1, final=True)
    [item] = items(shop, order_id)

    shop.pancake.set_item_quantity(shop.shop_id, order_id, item["id"], 3)

    settled = settled_to(shop, order_id, 3)
    assert {line.state for line in settled} == {FulfilmentState.ANNOTATED}
    assert units(shop, CAOSHOP) == {319: 3}
    assert credentials_written(shop, CAOSHOP, order_id) == 3, "each credential once"


def test_fewer_units_not_yet_bought_are_cancelled(shop: Sandbox) -> None:
    pause(shop, CAOSHOP, paused=True)
    order_id = shop.place_order([{"variation_id": NETFLIX, "quantity": 3}])
    waiting(shop, order_id)
    [item] = items(shop, order_id)

    shop.pancake.set_item_quantity(shop.shop_id, order_id, item["id"], 1)
    shop.wait_for(lambda: bool(lines(shop, order_id, FulfilmentState.CANCELLED)), what="the cancel")
    resume(shop, CAOSHOP, order_id)

    settled_to(shop, order_id, 1)
    assert units(shop, CAOSHOP) == {319: 1}
    assert credentials_written(shop, CAOSHOP, order_id) == 1
    assert alerts(shop) == []


def test_fewer_units_than_bought_raise_the_alert(shop: Sandbox) -> None:
    order_id = shop.place_order([{"variation_id": NETFLIX, "quantity": 3}])
    shop.wait_settled(order_id, lines=1, final=True)
    [item] = items(shop, order_id)

    shop.pancake.set_item_quantity(shop.shop_id, order_id, item["id"], 1)

    shop.wait_for(lambda: bool(alerts(shop)), what="the alert")
    [alert] = alerts(shop)
    assert "no longer asks for 2 unit(s)" in alert.message
    [bought] = shop.suppliers[CAOSHOP].ledger
    assert bought.trans_id in alert.message
    assert units(shop, CAOSHOP) == {319: 3}


def test_a_variation_swapped_before_its_purchase_buys_the_new_one_only(shop: Sandbox) -> None:
    pause(shop, CAOSHOP, paused=True)
    order_id = shop.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    waiting(shop, order_id)
    [item] = items(shop, order_id)

    shop.pancake.swap_item_variation(shop.shop_id, order_id, item["id"], CANVA)
    shop.wait_for(
        lambda: bool(lines(shop, order_id, FulfilmentState.ANNOTATED)), what="Canva's note"
    )
    resume(shop, CAOSHOP, order_id)  # the Netflix line's purchase finds it cancelled

    [netflix] = lines(shop, order_id, FulfilmentState.CANCELLED)
    assert netflix.variation_id == NETFLIX
    assert units(shop, CAOSHOP) == {}
    assert units(shop, SHOPKEY) == {77: 1}
    assert credentials_written(shop, SHOPKEY, order_id) == 1


def test_a_restored_order_is_delivered_once(shop: Sandbox) -> None:
    pause(shop, CAOSHOP, paused=True)
    order_id = shop.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    waiting(shop, order_id)
    shop.pancake.set_status(shop.shop_id, order_id, OrderStatus.CANCELLED)
    shop.wait_for(lambda: bool(lines(shop, order_id, FulfilmentState.CANCELLED)), what="the cancel")
    pause(shop, CAOSHOP, paused=False)

    shop.pancake.restore_order(shop.shop_id, order_id)  # 6 -> 1

    shop.wait_for(lambda: bool(lines(shop, order_id, FulfilmentState.ANNOTATED)), what="the note")
    resume(shop, CAOSHOP, order_id)  # nothing left waiting
    assert units(shop, CAOSHOP) == {319: 1}
    assert credentials_written(shop, CAOSHOP, order_id) == 1


def test_a_partial_return_cancels_only_the_returned_units_not_yet_bought(shop: Sandbox) -> None:
    pause(shop, SHOPKEY, paused=True)
    order_id = shop.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 3}]
    )
    shop.wait_for(
        lambda: bool(lines(shop, order_id, FulfilmentState.ANNOTATED)), what="Netflix's note"
    )
    waiting(shop, order_id)
    _, canva = items(shop, order_id)

    shop.pancake.partly_return(shop.shop_id, order_id, {canva["id"]: 2})
    shop.wait_for(lambda: bool(lines(shop, order_id, FulfilmentState.CANCELLED)), what="the cancel")
    resume(shop, SHOPKEY, order_id)

    settled_to(shop, order_id, 2)
    assert units(shop, SHOPKEY) == {77: 1}, "the Canva unit not returned is still sold"
    assert units(shop, CAOSHOP) == {319: 1}
    assert credentials_written(shop, SHOPKEY, order_id) == 1
    assert alerts(shop) == []
