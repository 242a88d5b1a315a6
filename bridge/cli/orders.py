"""``bridge orders``: Pancake orders as intake saw them, order-level failures, retries, and
fulfilling an order older than its shop."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.output import (
    JsonOption,
    command_line,
    dash,
    local_time,
    print_fields,
    print_json,
    print_table,
    say,
    when,
)
from bridge.cli.summary import customer, line_state, order_state
from bridge.cli.support import database, read_connection, settings
from bridge.states import RETRYABLE, TERMINAL, OrderFailure, OrderState

if TYPE_CHECKING:
    from bridge.cli.reads import AnyRow, OrderRead

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
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        rows = reads.orders(conn, state=state, shop_id=shop, limit=limit)
    if as_json:
        print_json([reads.record(row) for row in rows])
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
    """Show an order: customer, state, what to do, its lines.

    Also when Pancake placed it and when the bridge heard of it (local time, `TZ` to change).

    Of the customer's data (kept encrypted for field placeholders) only the name is shown.
    `--json` prints the whole record.

    \b
    Example:
      pancake-bridge orders show 7
    """
    from bridge.cli import reads

    current = settings()
    with read_connection(current) as conn:
        detail = reads.order(conn, order_pk)
        name = customer(conn, current, order_pk)
    if as_json:
        lines = [reads.record(line) for line in detail.lines]
        print_json({**detail.order, "customer": name, "lines": lines})
        return
    summarise(detail, name)


def summarise(detail: OrderRead, name: str) -> None:
    order = detail.order
    say(f"Order {order['order_id']} in shop {order['shop_id']} (the bridge's order {order['id']})")
    asked = order["fulfil_asked_by"]
    print_fields(
        [
            ("Customer", name),
            ("Placed", local_time(order["placed_at"])),
            ("Received", local_time(order["created_at"])),
            ("State", order_state(order["state"])),
            ("Why", order["last_error"]),
            ("Failed tries", order["failures"] or None),
            ("Fulfil asked", asked and f"by {asked}, {local_time(order['fulfil_asked_at'])}"),
            ("Lines", tally(detail.lines)),
            ("Next", next_step(detail)),
        ]
    )
    if not detail.lines:
        return
    say("\nLines:")
    print_table(
        ["Line", "Item", "Qty", "Supplier", "Plan", "State", "Supplier order", "Why"],
        [
            [
                line.id,
                dash(line.item_name or line.variation_id),
                line.quantity,
                dash(line.supplier_name),
                dash(line.plan_id),
                line_state(line.state),
                dash(line.trans_id),
                line.reason or line.last_error or "",
            ]
            for line in detail.lines
        ],
    )


def tally(lines: list[AnyRow]) -> str:
    """``3: 2 Done: codes in the note, 1 Needs a person``."""
    counts = Counter(line_state(line.state) for line in lines)
    return f"{len(lines)}" + (
        ": " + ", ".join(f"{n} {words}" for words, n in counts.items()) if counts else ""
    )


def next_step(detail: OrderRead) -> str:
    """What a person does about the order, with the command to paste where there is one."""
    order = detail.order
    state = order["state"]
    if state == OrderState.FAILED:
        if order["failure_kind"] == OrderFailure.PANCAKE_KEY:
            add = command_line("shops", "add", str(order["shop_id"]), "--api-key", "-")
            return f"give the shop a key Pancake accepts ({add}); the order is then read again"
        retry = command_line("orders", "retry", str(order["id"]))
        return f"fix the cause in Pancake, then run: {retry}"
    if state == OrderState.PENDING:
        return "nothing: the bridge reads it from Pancake"
    if state == OrderState.CANCELLED:
        return "nothing: the order was cancelled in Pancake"
    if state == OrderState.SKIPPED:
        if order["predates_shop"] and not order["fulfil_asked_by"]:
            fulfil = command_line(
                "orders", "fulfil", str(order["order_id"]), "--shop", str(order["shop_id"])
            )
            return f"nothing; to buy it all the same: {fulfil}"
        return "nothing: Pancake shows it in a status the shop does not fulfil"
    waiting = [line for line in detail.lines if line.state in RETRYABLE]
    if waiting:
        first = command_line("fulfilments", "show", str(waiting[0].id))
        ids = ", ".join(str(line.id) for line in waiting)
        return f"line(s) {ids} need a person: {first}"
    if all(line.state in TERMINAL for line in detail.lines):
        return "nothing: every line is done"
    return "nothing: the bridge is fulfilling its lines"


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
