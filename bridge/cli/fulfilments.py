"""``bridge fulfilments``: order lines, their state, and the operator's re-drives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, dash, print_json, print_table, say, when
from bridge.cli.support import database, reading, settings
from bridge.states import FulfilmentState

if TYPE_CHECKING:
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
    from workers.fulfilment.queries import SECRET_COLUMNS, list_fulfilments

    with reading(settings()) as session:
        lines = list_fulfilments(session, state=state, limit=limit)
    if as_json:
        print_json([line.model_dump(exclude=set(SECRET_COLUMNS)) for line in lines])
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
    """Show one line and its purchase attempts.

    Delivered credentials are never shown, only how many are stored.

    \b
    Example:
      pancake-bridge fulfilments show 42
    """
    from workers.fulfilment.queries import fulfilment_detail

    with reading(settings()) as session:
        detail = fulfilment_detail(session, fulfilment_id)
    attempts = [attempt.model_dump() for attempt in detail.attempts]
    if as_json:
        print_json({**detail.line, "credentials": detail.credentials, "attempts": attempts})
        return
    for key, value in {**detail.line, "credentials": detail.credentials}.items():
        say(f"{key:>18}: {value}")
    say("\npurchase attempts:")
    print_table(
        ["id", "supplier", "plan", "qty", "outcome", "trans_id", "code", "started", "finished"],
        [
            [
                a.id,
                a.supplier_name,
                a.plan_id,
                a.quantity,
                a.outcome,
                dash(a.trans_id),
                dash(a.error_code),
                when(a.started_at),
                when(a.finished_at),
            ]
            for a in detail.attempts
        ],
    )


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
