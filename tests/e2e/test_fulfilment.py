"""An order webhook becomes one supplier purchase per line and credentials in the order note."""

from __future__ import annotations

import json
import time

import httpx

from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from tests.conftest import FIXTURES
from tests.e2e.world import (
    CANVA,
    CHATGPT,
    NETFLIX,
    SPOTIFY,
    UNMAPPED,
    all_credentials,
    purchases_per_plan,
)
from workers.fulfilment.notes import begin_marker


def test_one_order_is_bought_once_and_its_credentials_land_in_the_note(world: Sandbox) -> None:
    order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 2}], note="Giao gấp")

    [line] = world.wait_settled(order_id, lines=1)

    assert line.state == FulfilmentState.ANNOTATED
    [purchase] = world.suppliers["caoshop-sim"].ledger
    assert (purchase.plan_id, purchase.quantity) == (319, 2)
    assert line.trans_id == purchase.trans_id
    note = world.note(order_id)
    assert note.startswith("Giao gấp\n\n"), "staff text is kept, first"
    for credential in purchase.items:
        assert note.count(credential) == 1


def test_multi_line_order_buys_mapped_lines_and_flags_the_unmapped_one(world: Sandbox) -> None:
    order_id = world.place_order(
        [
            {"variation_id": NETFLIX, "quantity": 1},
            {"variation_id": SPOTIFY, "quantity": 3},
            {"variation_id": UNMAPPED, "quantity": 1},
            {"variation_id": CANVA, "quantity": 1},
        ]
    )

    lines = world.wait_settled(order_id, lines=4)

    by_variation = {line.variation_id: line for line in lines}
    assert by_variation[UNMAPPED].state == FulfilmentState.NEEDS_ATTENTION
    assert (by_variation[UNMAPPED].reason or "").startswith("unmapped")
    for variation in (NETFLIX, SPOTIFY, CANVA):
        assert by_variation[variation].state == FulfilmentState.ANNOTATED
    assert purchases_per_plan(world) == {319: 1, 331: 1, 77: 1}
    spotify = [p for p in world.suppliers["caoshop-sim"].ledger if p.plan_id == 331]
    assert spotify[0].quantity == 6, "3 POS items x 2 supplier units"
    note = world.note(order_id)
    for credential in all_credentials(world):
        assert note.count(credential) == 1


def test_manual_plan_stays_pending_then_completes_later(world: Sandbox) -> None:
    order_id = world.place_order(
        [{"variation_id": CHATGPT, "quantity": 1}], bill_email="buyer@example.com"
    )
    supplier = world.suppliers["caoshop-sim"]
    world.wait_for(lambda: len(supplier.ledger) == 1, what="the manual purchase")
    [purchase] = supplier.ledger
    assert purchase.fields == {"email": "buyer@example.com"}

    time.sleep(1.0)  # several polls answer "pending"
    [line] = world.fulfilments(order_id)
    assert line.state == FulfilmentState.PURCHASED
    assert line.polls >= 2
    assert begin_marker(line.id or 0) not in world.note(order_id)

    supplier.complete_pending()
    [line] = world.wait_settled(order_id, lines=1)
    assert line.state == FulfilmentState.ANNOTATED
    [credential] = supplier.ledger[0].items
    assert world.note(order_id).count(credential) == 1


def test_replayed_and_out_of_order_webhooks_buy_each_line_exactly_once(world: Sandbox) -> None:
    order_id = world.pancake.create_order(
        world.shop_id,
        items=[{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 2}],
        status=0,
    )
    stale_new = world.pancake.order(world.shop_id, order_id) | {"type": "orders"}
    world.pancake.set_status(world.shop_id, order_id, 1)
    for _ in range(10):
        world.pancake.send_order_webhook(world.shop_id, order_id)
    # The stale "new" webhook arrives last, after the confirmed ones.
    response = httpx.post(
        world.webhook_url,
        content=json.dumps(stale_new),
        headers={"X-Bridge-Secret": world.webhook_secret},
    )
    assert response.json()["outcome"] in {"ignored:status", "duplicate"}

    world.wait_settled(order_id, lines=2)
    # Pancake echoes the bridge's own note update and staff keep editing: nothing is bought again.
    world.pancake.set_status(world.shop_id, order_id, 8)
    world.pancake.set_status(world.shop_id, order_id, 1)
    for _ in range(5):
        world.pancake.send_order_webhook(world.shop_id, order_id)
    assert world.pancake.wait_idle()
    time.sleep(1.0)

    assert purchases_per_plan(world) == {319: 1, 77: 1}
    note = world.note(order_id)
    for credential in all_credentials(world):
        assert note.count(credential) == 1
    assert all(line.state == FulfilmentState.ANNOTATED for line in world.fulfilments(order_id))


def test_the_multi_line_fixture_replayed_flows_end_to_end(world: Sandbox) -> None:
    body = (FIXTURES / "pancake" / "orders__multi_line_one_unmapped.json").read_bytes()
    fixture = json.loads(body)
    # Pancake holds the same order; the bridge reads it from there, not from the body.
    world.pancake.create_order(
        world.shop_id,
        order_id=fixture["id"],
        items=[
            {"variation_id": i["variation_id"], "quantity": i["quantity"]} for i in fixture["items"]
        ],
        status=1,
        bill_email=fixture["bill_email"],
    )
    for _ in range(3):
        response = httpx.post(
            world.webhook_url, content=body, headers={"X-Bridge-Secret": world.webhook_secret}
        )
        assert response.status_code == 200

    lines = world.wait_settled(fixture["id"], lines=3)

    states = sorted((line.variation_id or "", line.state) for line in lines)
    assert states == sorted(
        [
            (NETFLIX, FulfilmentState.ANNOTATED),
            (SPOTIFY, FulfilmentState.ANNOTATED),
            (UNMAPPED, FulfilmentState.NEEDS_ATTENTION),
        ]
    )
    assert purchases_per_plan(world) == {319: 1, 331: 1}
