"""``bridge fulfilments``: order lines, their state, and the operator's re-drives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

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
)
from bridge.cli.summary import LINE_GOES_ON, customer, line_state, outcome
from bridge.cli.support import database, read_connection, settings
from bridge.states import RETRYABLE, FulfilmentState

if TYPE_CHECKING:
    from bridge.cli.reads import LineDetail
    from workers.fulfilment.redrive import Redrive

fulfilments = typer.Typer(
    help=(
        "Order lines, their state, and re-drives.\n\n"
        "A fulfilment is one Pancake order line, bought once from one supplier plan.\n\n"
        "\b\nExample:\n  pancake-bridge fulfilments list --state needs_attention"
    ),
    no_args_is_help=True,
)
app.add_typer(fulfilments, name="fulfilments")

LineId = Annotated[
    int, typer.Argument(metavar="ID", help="The fulfilment id (first column of `list`).")
]


@fulfilments.command("list")
def list_(
    state: Annotated[
        FulfilmentState | None,
        typer.Option("--state", help="Only lines in this state.", case_sensitive=False),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="At most this many lines, newest first.")
    ] = 100,
    as_json: JsonOption = False,
) -> None:
    """List the newest lines and their state.

    The last column says why a line needs attention or failed.

    \b
    Example:
      pancake-bridge fulfilments list --state needs_attention
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        lines = reads.fulfilments(conn, state=state, limit=limit)
    if as_json:
        print_json([reads.record(line) for line in lines])
        return
    print_table(
        ["id", "shop", "order", "variation", "supplier", "plan", "qty", "state", "trans_id"]
        + ["reason"],
        [
            [
                f.id,
                f.shop_id,
                f.order_id,
                dash(f.variation_id),
                dash(f.supplier_name),
                dash(f.plan_id),
                dash(f.supplier_quantity),
                f.state,
                dash(f.trans_id),
                f.reason or f.last_error or "",
            ]
            for f in lines
        ],
    )


@fulfilments.command("show")
def show(fulfilment_id: LineId, as_json: JsonOption = False) -> None:
    """Show a line: item, customer, supplier, state, what to do.

    Then its purchase attempts; times are local (`TZ` to change). Delivered codes (credentials)
    are never shown, only how many arrived and how many are in the note. `--json` prints the
    whole record.

    \b
    Example:
      pancake-bridge fulfilments show 42
    """
    from bridge.cli import reads

    current = settings()
    with read_connection(current) as conn:
        detail = reads.fulfilment(conn, fulfilment_id)
        name = customer(conn, current, detail.line["order_pk"])
    if as_json:
        attempts = [reads.record(attempt) for attempt in detail.attempts]
        print_json(
            {
                **detail.line,
                "customer": name,
                "credentials": detail.credentials,
                "attempts": attempts,
            }
        )
        return
    summarise(detail, name)


def summarise(detail: LineDetail, name: str) -> None:
    line = detail.line
    what = line["item_name"] or line["variation_id"] or "an item the order did not name"
    order_command = command_line("orders", "show", str(line["order_pk"]))
    say(f"Line {line['id']}: {what} × {line['quantity']}")
    print_fields(
        [
            ("Order", f"{line['order_id']} in shop {line['shop_id']} ({order_command})"),
            ("Customer", name),
            ("Variation", line["variation_id"]),
            ("Supplier", supplier(line)),
            ("Supplier order", line["trans_id"]),
            ("State", line_state(line["state"])),
            ("Why", line["reason"]),
            ("Last error", line["last_error"] if line["last_error"] != line["reason"] else None),
            ("Codes", codes(line)),
            ("Received", local_time(line["created_at"])),
            ("Last change", local_time(line["updated_at"])),
            ("Next", next_step(line)),
        ]
    )
    if not detail.attempts:
        say("\nPurchase attempts: none")
        return
    say("\nPurchase attempts:")
    print_table(
        ["Attempt", "Supplier", "Plan", "Units", "Outcome", "Supplier order", "Code", "Started"],
        [
            [
                a.id,
                a.supplier_name,
                a.plan_id,
                a.quantity,
                outcome(a.outcome, a.settlement),
                dash(a.trans_id),
                dash(a.error_code),
                local_time(a.started_at),
            ]
            for a in detail.attempts
        ],
    )


def supplier(line: dict[str, Any]) -> str | None:
    """``caoshop, plan 319, 2 units``; None before a supplier was chosen."""
    if not line["supplier_name"]:
        return None
    units = line["supplier_quantity"]
    return f"{line['supplier_name']}, plan {line['plan_id']}" + (
        f", {units} unit{'s' if units != 1 else ''}" if units else ""
    )


def codes(line: dict[str, Any]) -> str:
    """How many codes arrived and how many are in the note (never the codes)."""
    if not line["delivered_count"]:
        return "none yet"
    return f"{line['delivered_count']} received, {line['annotated_count']} in the note"


def next_step(line: dict[str, Any]) -> str:
    """What a person does about the line, with the command to paste where there is one."""
    state, line_id = line["state"], str(line["id"])
    if state in RETRYABLE:
        cause = "what the reason says" if line["reason"] else "the cause"
        return f"fix {cause}, then run: {command_line('fulfilments', 'retry', line_id)}"
    if state == FulfilmentState.ANNOTATED:
        resend = command_line("fulfilments", "resend", line_id)
        return f"nothing. Should the note lose the codes: {resend}"
    return LINE_GOES_ON.get(state, "nothing: the bridge carries on")


@fulfilments.command("retry")
def retry(fulfilment_id: LineId) -> None:
    """Re-drive a needs_attention or failed line.

    The line resumes where it stopped (e.g. buys again after a balance top-up). Safe to run
    twice: a line in any other state is left alone.

    \b
    Example:
      pancake-bridge fulfilments retry 42
    """
    from bridge.db import utcnow
    from workers.fulfilment.redrive import retry_line

    with database(settings()) as engine:
        outcome = retry_line(engine, fulfilment_id, utcnow())
    say(retried(outcome))


@fulfilments.command("resend")
def resend(fulfilment_id: LineId) -> None:
    """Write a line's credentials into the note again.

    Only the blocks missing from the Pancake order note are written; nothing is bought.

    \b
    Example:
      pancake-bridge fulfilments resend 42
    """
    from bridge.db import utcnow
    from workers.fulfilment.redrive import resend_line

    with database(settings()) as engine:
        outcome = resend_line(engine, fulfilment_id, utcnow())
    say(f"line {outcome.id}: its note block will be rewritten where it is missing")


def retried(outcome: Redrive) -> str:
    if not outcome.changed:
        return f"line {outcome.id} is {outcome.state}: nothing to retry"
    return f"line {outcome.id} is {outcome.state} again; the next sweep picks it up"
