"""``bridge orders``: Pancake orders as intake saw them, order-level failures, retries, and
fulfilling an order older than its shop."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, dash, print_json, print_table, say, when
from bridge.cli.support import database, reading, settings
from bridge.states import OrderState

orders = typer.Typer(
    help=(
        "Pancake orders, their failures, and re-drives.\n\n"
        "Intake reads each order from Pancake and makes one fulfilment per line; an order it "
        "cannot read (a refused key, a corrupt order, repeated errors) ends failed, with the "
        "reason.\n\n"
        "\b\nExample:\n  pancake-bridge orders list --state failed"
    ),
    no_args_is_help=True,
)
app.add_typer(orders, name="orders")

OrderId = Annotated[
    int, typer.Argument(metavar="ID", help="The bridge's order id (first column of `list`).")
]


@orders.command("list")
def list_(
    state: Annotated[
        OrderState | None,
        typer.Option("--state", help="Only orders in this state.", case_sensitive=False),
    ] = None,
    shop: Annotated[
        str | None, typer.Option("--shop", metavar="SHOP_ID", help="Only this shop's orders.")
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", min=1, help="At most this many orders, the last updated first."),
    ] = 100,
    as_json: JsonOption = False,
) -> None:
    """List orders: state, failures, when, and why an order failed.

    "when" is when the order failed, or else when the bridge last changed it.

    \b
    Example:
      pancake-bridge orders list --state failed --shop 4
    """
    from workers.fulfilment.queries import ORDER_HIDDEN_COLUMNS, list_orders

    with reading(settings()) as session:
        rows = list_orders(session, state=state, shop_id=shop, limit=limit)
    if as_json:
        print_json([row.model_dump(exclude=set(ORDER_HIDDEN_COLUMNS)) for row in rows])
        return
    print_table(
        ["id", "shop", "order", "state", "lines", "failures", "when", "reason"],
        [
            [
                o.id,
                o.shop_id,
                o.order_id,
                o.state,
                o.item_count,
                o.failures,
                when(o.failed_at or o.updated_at),
                o.last_error or "",
            ]
            for o in rows
        ],
    )


@orders.command("show")
def show(order_pk: OrderId, as_json: JsonOption = False) -> None:
    """Show one order and its lines.

    The order's customer data (kept encrypted for field placeholders) is never shown.

    \b
    Example:
      pancake-bridge orders show 7
    """
    from workers.fulfilment.queries import SECRET_COLUMNS, order_detail

    with reading(settings()) as session:
        detail = order_detail(session, order_pk)
    lines = [line.model_dump(exclude=set(SECRET_COLUMNS)) for line in detail.lines]
    if as_json:
        print_json({**detail.order, "lines": lines})
        return
    for key, value in detail.order.items():
        say(f"{key:>19}: {dash(value)}")
    say("\nlines:")
    print_table(
        ["id", "variation", "qty", "supplier", "plan", "state", "trans_id", "reason"],
        [
            [
                line["id"],
                dash(line["variation_id"]),
                line["quantity"],
                dash(line["supplier_name"]),
                dash(line["plan_id"]),
                line["state"],
                dash(line["trans_id"]),
                line["reason"] or line["last_error"] or "",
            ]
            for line in lines
        ],
    )


@orders.command("retry")
def retry(order_pk: OrderId) -> None:
    """Re-drive a failed order: intake reads it from Pancake again.

    Use it once the cause is fixed (e.g. the order was corrected in Pancake). An order that
    failed on the shop's Pancake key is retried by itself when `shops add` gives the shop a
    new key. Safe to run twice: an order in any other state is left alone.

    \b
    Example:
      pancake-bridge orders retry 7
    """
    from bridge.db import utcnow
    from workers.fulfilment.redrive import retry_order

    with database(settings()) as engine:
        outcome = retry_order(engine, order_pk, utcnow())
    if not outcome.changed:
        say(f"order {outcome.id} is {outcome.state}: nothing to retry")
    else:
        say(f"order {outcome.id} is {outcome.state} again; the next sweep reads it")


@orders.command("fulfil")
def fulfil(
    order_id: Annotated[
        str, typer.Argument(metavar="ORDER_ID", help="The order's id in Pancake, e.g. 1042.")
    ],
    shop: Annotated[
        str, typer.Option("--shop", metavar="SHOP_ID", help="The Pancake shop the order is of.")
    ],
) -> None:
    """Fulfil an order created before the shop fulfils from.

    Orders Pancake says were created before the shop was added (or before `shops add --since`)
    are its history and are never bought by themselves: they are listed as "skipped: before
    the shop was connected". This asks for one to be bought all the same: intake reads it
    within one sweep, and buys each line once if Pancake shows it in one of the shop's trigger
    statuses. Who asked and when is kept on the order (`orders show`). Safe to run twice.

    \b
    Example:
      pancake-bridge orders fulfil 1042 --shop 4
    """
    from bridge.cli.mappings import ACTOR  # the command line, as every audit names it
    from bridge.db import utcnow
    from workers.fulfilment.redrive import fulfil_order

    with database(settings()) as engine:
        outcome = fulfil_order(engine, shop, order_id, ACTOR, utcnow())
    if not outcome.changed:
        say(f"order {order_id} of shop {shop} is {outcome.state} (id {outcome.id}): nothing to do")
    else:
        say(
            f"order {order_id} of shop {shop} is {outcome.state} (id {outcome.id}); the next sweep "
            "reads it, and buys it if Pancake shows it in a trigger status"
        )
