"""The Orders list's "Fulfil" button: an order created before the shop fulfils from is bought
once when a console user asks, and the audit says who asked, when and from where."""

from __future__ import annotations

import httpx
from sqlmodel import Session, col, select

from bridge.dev.sandbox import Sandbox
from bridge.models import Order
from bridge.pancake.models import PancakeShop
from bridge.pancake.vocabulary import OrderStatus
from bridge.states import FulfilmentState, OrderState
from bridge.web.console.models import ConsoleAudit
from tests.e2e.world import CAOSHOP, NETFLIX
from tests.web.console.conftest import USER, csrf_token


def order_row(sandbox: Sandbox, order_id: str) -> Order | None:
    with Session(sandbox.runtime.engine) as session:
        return session.exec(select(Order).where(Order.order_id == order_id)).first()


def fulfil(client: httpx.Client, order_pk: int) -> httpx.Response:
    token = csrf_token(client, "/admin/order/list")
    return client.post(
        "/admin/_api/order/row-action",
        params={"name": "fulfil", "pk": str(order_pk)},
        headers={"X-CSRFToken": token},
    )


def test_a_console_user_fulfils_an_old_order_once_and_is_audited(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    sandbox, pancake = console_world, console_world.pancake
    with Session(sandbox.runtime.engine) as session:
        shop = session.get(PancakeShop, sandbox.shop_id)
        assert shop is not None
        connected = shop.fulfil_from
    [order_id] = pancake.add_old_orders(
        sandbox.shop_id, before=connected, items=[{"variation_id": NETFLIX, "quantity": 1}]
    )
    pancake.set_status(sandbox.shop_id, order_id, OrderStatus.PAID)
    sandbox.wait_for(
        lambda: getattr(order_row(sandbox, order_id), "state", None) == OrderState.SKIPPED,
        what="the old order to be skipped",
    )
    order = order_row(sandbox, order_id)
    assert order is not None
    assert order.id is not None

    answer = fulfil(logged_in, order.id)

    assert answer.status_code == 200, answer.text
    [line] = sandbox.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    assert len(sandbox.suppliers[CAOSHOP].ledger) == 1
    assert fulfil(logged_in, order.id).status_code == 200  # asked twice: bought once
    with Session(sandbox.runtime.engine) as session:
        audit = session.exec(select(ConsoleAudit).order_by(col(ConsoleAudit.id))).all()
        assert [(row.username, row.action, row.order_pk, row.fulfilment_id) for row in audit] == [
            (USER, "fulfil", order.id, None),
            (USER, "fulfil", order.id, None),
        ]
        assert all(row.address for row in audit)
    after = order_row(sandbox, order_id)
    assert after is not None
    assert (after.state, after.fulfil_asked_by) == (OrderState.SYNCED, USER)
    assert len(sandbox.suppliers[CAOSHOP].ledger) == 1


def test_the_fulfil_button_needs_its_csrf_token(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    order_id = console_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    console_world.wait_settled(order_id, lines=1, final=True)
    order = order_row(console_world, order_id)
    assert order is not None
    answer = logged_in.post(
        "/admin/_api/order/row-action", params={"name": "fulfil", "pk": str(order.id)}
    )
    assert answer.status_code == 403
    with Session(console_world.runtime.engine) as session:
        assert session.exec(select(ConsoleAudit)).all() == []
