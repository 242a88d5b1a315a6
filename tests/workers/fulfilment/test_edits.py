"""Orders staff change after intake (``workers/fulfilment/reconcile.py``), through the steps that
see the change: a report (webhook or catch-up, with the items' digest), intake reading the order
again, a waiting line re-reading it before buying. Each ends with exactly the units the order
asks for bought, counted in the supplier's ledger."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from bridge.db import session_scope
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.pancake.client import PancakeClient
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import items_digest
from bridge.states import FulfilmentState, OrderState
from tests.e2e.world import CANVA, NETFLIX, SPOTIFY
from tests.workers.fulfilment.conftest import Desk, Taken
from workers.fulfilment.annotate import annotate
from workers.fulfilment.cancel import ALERT_KIND
from workers.fulfilment.deliver import deliver
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import purchase
from workers.fulfilment.reported import order_reported
from workers.queue.dispatch import ANNOTATE, INTAKE, PURCHASE, Send

CANCELLED, CONFIRMED, PARTLY_RETURNED = 6, 1, 15


def units(simulator: SupplierSimulator) -> Counter[int]:
    """Units bought per plan, as the supplier's books hold them."""
    bought: Counter[int] = Counter()
    for purchase_made in simulator.ledger:
        bought[purchase_made.plan_id] += purchase_made.quantity
    return bought


def item_ids(desk: Desk, order_id: str) -> list[int]:
    return [item["id"] for item in desk.sandbox.pancake.order(desk.shop_id, order_id)["items"]]


def report(desk: Desk, order_id: str) -> list[Send]:
    """Report the order as Pancake shows it now, with its items' digest, as the catch-up does
    (and the webhook endpoint, from the body)."""
    remote: dict[str, Any] = desk.sandbox.pancake.order(desk.shop_id, order_id)
    with session_scope(desk.ctx.engine) as session:
        shop = session.get(PancakeShop, desk.shop_id)
        assert shop is not None
        _, sends = order_reported(
            session.connection(),
            desk.shop_id,
            order_id,
            status=remote["status"],
            item_count=len(remote["items"]),
            triggers=shop.trigger_statuses,
            now=desk.clock(),
            lease=timedelta(seconds=desk.ctx.settings.lease_seconds),
            items_digest=items_digest(remote["items"]),
        )
    return sends


def read_again(desk: Desk, taken: Taken) -> list[Send]:
    """The order's report asks intake to read it again, and intake does: what it sends."""
    assert report(desk, taken.order_id) == [Send(INTAKE, taken.order_pk)]
    return intake(desk.ctx, taken.order_pk)


def buy(desk: Desk, sends: list[Send]) -> None:
    """Run the purchases ``sends`` asks for."""
    for send in sends:
        assert send.actor == PURCHASE, send
        purchase(desk.ctx, send.entity_id)


def test_more_units_after_the_purchase_are_bought_once(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    buy(desk, taken.sends)
    [item] = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 3)
    sends = read_again(desk, taken)

    [more] = desk.lines(taken.order_pk)[1:]
    assert sends == [Send(PURCHASE, more.id or 0)]
    assert (more.quantity, more.line_key) == (2, f"+2:item:{item}")
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 3}
    # Seen again (the echo of a note update, the catch-up's overlap): nothing read, nothing bought.
    reads = desk.order_reads(taken.order_id)
    assert report(desk, taken.order_id) == []
    assert desk.order_reads(taken.order_id) == reads
    assert intake(desk.ctx, taken.order_pk) == []
    assert units(desk.caoshop) == {319: 3}


def test_fewer_units_not_yet_bought_are_cancelled_and_the_rest_bought(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 3}])
    [first] = taken.line_ids
    [item] = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 1)
    sends = read_again(desk, taken)

    old, rest = desk.lines(taken.order_pk)
    assert (old.id, old.state) == (first, FulfilmentState.CANCELLED)
    assert "no longer asks for these 3 unit(s)" in (old.reason or "")
    assert (rest.quantity, rest.state) == (1, FulfilmentState.PENDING)
    # The purchase message sent for the old line arrives: it buys nothing.
    assert purchase(desk.ctx, first) == []
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 1}
    assert desk.open_alerts() == {}, "nothing bought was given up"


def test_fewer_units_than_bought_raise_the_alert_until_the_order_asks_for_them_again(
    desk: Desk,
) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 3}])
    buy(desk, taken.sends)
    [bought] = desk.caoshop.ledger
    [item] = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 1)
    assert read_again(desk, taken) == []

    subject = f"{desk.shop_id}:{taken.order_id}:variation {NETFLIX}"
    alert = desk.open_alerts()[(ALERT_KIND, subject)]
    assert "no longer asks for 2 unit(s)" in alert
    assert bought.trans_id in alert
    assert units(desk.caoshop) == {319: 3}

    # Staff raise it back: those units are wanted again, nothing more is bought.
    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 3)
    assert read_again(desk, taken) == []
    assert (ALERT_KIND, subject) not in desk.open_alerts()
    assert units(desk.caoshop) == {319: 3}


def test_a_swapped_variation_is_one_line_removed_and_one_added(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [netflix] = taken.line_ids
    [item] = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.swap_item_variation(desk.shop_id, taken.order_id, item, CANVA)
    sends = read_again(desk, taken)

    assert desk.line(netflix).state == FulfilmentState.CANCELLED
    [canva] = desk.lines(taken.order_pk)[1:]
    assert (canva.variation_id, canva.quantity) == (CANVA, 1)
    assert purchase(desk.ctx, netflix) == []
    buy(desk, sends)
    assert units(desk.caoshop) == {}
    assert units(desk.shopkey) == {77: 1}


def test_a_variation_swapped_after_its_purchase_alerts_and_buys_the_new_one(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    buy(desk, taken.sends)
    [item] = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.swap_item_variation(desk.shop_id, taken.order_id, item, CANVA)
    buy(desk, read_again(desk, taken))

    assert units(desk.caoshop) == {319: 1}
    assert units(desk.shopkey) == {77: 1}
    subject = f"{desk.shop_id}:{taken.order_id}:variation {NETFLIX}"
    assert "no longer asks for 1 unit(s)" in desk.open_alerts()[(ALERT_KIND, subject)]


def test_two_items_of_one_variation_keep_a_line_each(desk: Desk) -> None:
    taken = desk.take_in(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": NETFLIX, "quantity": 1}]
    )
    buy(desk, taken.sends)
    first, second = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, second, 2)
    sends = read_again(desk, taken)

    keys = [line.line_key for line in desk.lines(taken.order_pk)]
    assert keys == [f"item:{first}", f"item:{second}", f"+2:item:{second}"]
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 3}
    # The first item moves its unit to the second (staff fix a mistake): nothing changes hands.
    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, first, 0)
    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, second, 3)
    assert read_again(desk, taken) == []
    assert units(desk.caoshop) == {319: 3}
    assert desk.open_alerts() == {}


def test_a_restored_order_is_fulfilled_once(desk: Desk) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = taken.line_ids
    desk.sandbox.pancake.set_status(desk.shop_id, taken.order_id, CANCELLED)
    assert read_again(desk, taken) == []
    assert desk.order_row(taken.order_pk).state == OrderState.CANCELLED

    desk.sandbox.pancake.restore_order(desk.shop_id, taken.order_id)
    sends = read_again(desk, taken)

    assert desk.order_row(taken.order_pk).state == OrderState.SYNCED
    assert purchase(desk.ctx, line) == [], "the cancelled line stays cancelled"
    buy(desk, sends)
    assert units(desk.caoshop) == {319: 1}
    assert report(desk, taken.order_id) == [], "restored and read: nothing more to do"


def test_credentials_kept_out_of_a_cancelled_order_are_written_when_it_is_restored(
    desk: Desk,
) -> None:
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = taken.line_ids
    purchase(desk.ctx, line)
    assert deliver(desk.ctx, line) == [Send(ANNOTATE, taken.order_pk)]
    desk.sandbox.pancake.set_status(desk.shop_id, taken.order_id, CANCELLED)
    assert read_again(desk, taken) == []
    assert annotate(desk.ctx, taken.order_pk) == []  # kept out of the cancelled order
    [bought] = desk.caoshop.ledger
    assert desk.line(line).state == FulfilmentState.NEEDS_ATTENTION

    desk.sandbox.pancake.restore_order(desk.shop_id, taken.order_id)
    assert read_again(desk, taken) == [Send(ANNOTATE, taken.order_pk)]
    assert annotate(desk.ctx, taken.order_pk) == []

    assert desk.line(line).state == FulfilmentState.ANNOTATED
    assert all(credential in desk.note(taken.order_id) for credential in bought.items)
    assert units(desk.caoshop) == {319: 1}
    assert desk.open_alerts() == {}, "the sale came back: the cancel's alert is resolved"


def test_a_partial_return_cancels_only_the_returned_units_not_yet_bought(desk: Desk) -> None:
    taken = desk.take_in(
        [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 3}]
    )
    netflix, canva = taken.line_ids
    purchase(desk.ctx, netflix)  # Canva waits, unbought
    netflix_item, canva_item = item_ids(desk, taken.order_id)

    desk.sandbox.pancake.partly_return(desk.shop_id, taken.order_id, {canva_item: 2})
    sends = read_again(desk, taken)

    assert desk.order_row(taken.order_pk).state == OrderState.SYNCED
    assert desk.line(netflix).state != FulfilmentState.CANCELLED
    assert desk.line(canva).state == FulfilmentState.CANCELLED
    assert purchase(desk.ctx, canva) == []
    buy(desk, sends)
    assert units(desk.shopkey) == {77: 1}, "the unit not returned is still sold"
    assert units(desk.caoshop) == {319: 1}
    assert desk.open_alerts() == {}
    # The same return seen again (our own note update echoed): nothing read.
    reads = desk.order_reads(taken.order_id)
    assert report(desk, taken.order_id) == []
    assert desk.order_reads(taken.order_id) == reads

    # The bought unit comes back too: it cannot be undone, so a person hears of it.
    desk.sandbox.pancake.partly_return(desk.shop_id, taken.order_id, {netflix_item: 1})
    assert read_again(desk, taken) == []
    subject = f"{desk.shop_id}:{taken.order_id}:variation {NETFLIX}"
    assert "no longer asks for 1 unit(s)" in desk.open_alerts()[(ALERT_KIND, subject)]
    assert units(desk.caoshop) == {319: 1}


def test_a_line_that_waited_sees_the_edit_before_buying(desk: Desk) -> None:
    """No report told the bridge of the edit; the line's copy of the order is old."""
    taken = desk.take_in([{"variation_id": SPOTIFY, "quantity": 3}])
    [line] = taken.line_ids
    [item] = item_ids(desk, taken.order_id)
    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 1)
    desk.clock.advance(desk.ctx.settings.order_reread_seconds + 1)

    sends = purchase(desk.ctx, line)

    assert desk.line(line).state == FulfilmentState.CANCELLED
    [rest] = desk.lines(taken.order_pk)[1:]
    assert sends == [Send(PURCHASE, rest.id or 0)]
    buy(desk, sends)
    assert units(desk.caoshop) == {331: 2}, "one POS unit of Spotify is 2 supplier units"


def test_an_edit_read_by_intake_while_a_line_reads_the_order_again_wins(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A waiting line reads the order (3 units, an edit no report told of); before it records
    that read, staff make it 2 and the edit's intake records its newer read: the line's older
    answer must not add the third unit back."""
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = taken.line_ids
    [item] = item_ids(desk, taken.order_id)
    desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 3)
    desk.clock.advance(desk.ctx.settings.order_reread_seconds + 1)
    read = PancakeClient.get_order
    intake_sends: list[Send] = []
    edited: list[bool] = []

    def edited_while_answering(client: PancakeClient, shop_id: str, order_id: str) -> Any:
        remote = read(client, shop_id, order_id)
        if not edited:  # the line's read (the intake's own read goes through as it is)
            edited.append(True)
            desk.sandbox.pancake.set_item_quantity(desk.shop_id, taken.order_id, item, 2)
            desk.clock.advance(1)  # the edit's intake reads after the line began its read
            intake_sends.extend(read_again(desk, taken))
        return remote

    monkeypatch.setattr(PancakeClient, "get_order", edited_while_answering)
    sends = purchase(desk.ctx, line)
    monkeypatch.undo()
    buy(desk, intake_sends + [send for send in sends if send.actor == PURCHASE])

    assert sum(units(desk.caoshop).values()) == 2, "the order asks for 2 units, bought once"
