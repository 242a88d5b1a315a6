"""A note that landed, where the customer sees it: end to end on both backends, against the
Pancake simulator over real HTTP. What counts is the order Pancake shows afterwards, the
supplier's ledger and the alert rows.

A shop whose Pancake replaces the whole order on a PUT keeps the order's items, customer, status
and staff's note; a locked order (Pancake answers success and changes nothing) is never written
and is flagged with one alert; `--deliver-to` puts the credentials in the printed note, or in
both; a second annotate writes nothing new.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment
from bridge.pancake.shops import add_shop
from bridge.pancake.vocabulary import NoteDelivery
from bridge.states import FulfilmentState
from tests.e2e.world import CAOSHOP, NETFLIX
from workers.alerts.models import Alert
from workers.fulfilment.notes import begin_marker
from workers.fulfilment.redrive import resend_line

STAFF = "Khách quen, giao trước 9h.\nGọi trước khi giao."
BUYER = {"bill_full_name": "Tran Thi B", "bill_phone_number": "0911222333"}
# What a note update must leave as it was (the simulator's order fields).
UNTOUCHED = ("items", "status", "bill_full_name", "bill_phone_number", "shipping_address")


def order_of(world: Sandbox, order_id: str) -> dict[str, Any]:
    return world.pancake.order(world.shop_id, order_id)


def ended(world: Sandbox, order_id: str, state: FulfilmentState) -> Fulfilment:
    """The order's one line, once it is in ``state`` and Pancake has sent every webhook."""
    world.wait_for(
        lambda: [line.state for line in world.fulfilments(order_id)] == [state],
        what=f"the line to be {state}",
    )
    assert world.pancake.wait_idle()
    [line] = world.fulfilments(order_id)
    return line


def puts(world: Sandbox, order_id: str) -> int:
    return world.pancake.count_calls("PUT", f"/orders/{order_id}")


def credentials(world: Sandbox) -> list[str]:
    return [item for purchase in world.suppliers[CAOSHOP].ledger for item in purchase.items]


def open_alerts(world: Sandbox) -> list[Alert]:
    with session_scope(world.runtime.engine) as session:
        return list(session.exec(select(Alert).where(col(Alert.resolved).is_(False))))


def deliver_to(world: Sandbox, where: NoteDelivery) -> None:
    with session_scope(world.runtime.engine) as session:
        add_shop(session, world.runtime.box, world.shop_id, deliver_to=where)


def test_credentials_on_a_replacing_pancake_leave_the_rest_of_the_order_intact(
    world: Sandbox,
) -> None:
    world.pancake.put_mode = "replace"
    order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 1}], note=STAFF, **BUYER)
    before = order_of(world, order_id)

    line = ended(world, order_id, FulfilmentState.ANNOTATED)

    after = order_of(world, order_id)
    assert {key: after.get(key) for key in UNTOUCHED} == {key: before[key] for key in UNTOUCHED}
    [credential] = credentials(world)
    assert line.id is not None
    assert after["note"].startswith(STAFF + "\n\n" + begin_marker(line.id) + "\n")
    assert after["note"].count(credential) == 1
    # One PUT. (Reads are counted in tests/workers/fulfilment/test_annotate_landed.py: here
    # the start-up catch-up and the webhooks may each have intake read the order.)
    assert puts(world, order_id) == 1

    # A second annotate (an operator's resend) finds it all there: nothing is written.
    assert resend_line(world.runtime.engine, line.id, utcnow()).changed
    ended(world, order_id, FulfilmentState.ANNOTATED)
    assert puts(world, order_id) == 1
    assert order_of(world, order_id)["note"] == after["note"]
    assert len(world.suppliers[CAOSHOP].ledger) == 1, "bought once"
    assert open_alerts(world) == []


def test_a_locked_order_is_flagged_and_nothing_is_written(world: Sandbox) -> None:
    order_id = world.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}], note=STAFF, is_locked=True
    )

    line = ended(world, order_id, FulfilmentState.NEEDS_ATTENTION)
    world.wait_for(lambda: bool(open_alerts(world)), what="the alert")

    assert puts(world, order_id) == 0
    assert order_of(world, order_id)["note"] == STAFF
    assert len(world.suppliers[CAOSHOP].ledger) == 1, "bought once, the credentials kept"
    [alert] = open_alerts(world)
    assert (alert.kind, alert.subject) == ("needs_attention", str(line.id))
    assert "locked" in alert.message


def test_deliver_to_the_printed_note_or_both(world: Sandbox) -> None:
    deliver_to(world, NoteDelivery.NOTE_PRINT)
    printed_only = world.place_order(
        [{"variation_id": NETFLIX, "quantity": 1}], note=STAFF, **BUYER
    )
    first = ended(world, printed_only, FulfilmentState.ANNOTATED)
    deliver_to(world, NoteDelivery.BOTH)
    both = world.place_order([{"variation_id": NETFLIX, "quantity": 1}], note=STAFF, **BUYER)
    second = ended(world, both, FulfilmentState.ANNOTATED)

    first_credential, second_credential = credentials(world)
    order = order_of(world, printed_only)
    assert order["note"] == STAFF
    assert first.id is not None
    assert order["note_print"].startswith(begin_marker(first.id) + "\n")
    assert order["note_print"].count(first_credential) == 1
    order = order_of(world, both)
    assert order["note"].startswith(STAFF + "\n\n")
    assert second.id is not None
    for name in ("note", "note_print"):
        assert begin_marker(second.id) in order[name], name
        assert order[name].count(second_credential) == 1, name
    assert (puts(world, printed_only), puts(world, both)) == (1, 1)
    assert open_alerts(world) == []
