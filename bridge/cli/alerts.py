"""``bridge alerts``: what needs an operator (a supplier balance too low, ...)."""

from __future__ import annotations

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, print_json, print_table, when
from bridge.cli.support import reading, settings

alerts = typer.Typer(
    help="What needs an operator.\n\n\b\nExample:\n  pancake-bridge alerts list",
    no_args_is_help=True,
)
app.add_typer(alerts, name="alerts")


@alerts.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the alerts, newest first.

    \b
    Example:
      pancake-bridge alerts list --json
    """
    from workers.alerts.queries import list_alerts

    with reading(settings()) as session:
        records = list_alerts(session)
    if as_json:
        print_json([alert.model_dump() for alert in records])
        return
    print_table(
        ["kind", "subject", "count", "last seen", "message"],
        [[a.kind, a.subject, a.count, when(a.last_seen_at), a.message] for a in records],
    )
