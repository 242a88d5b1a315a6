"""``bridge alerts``: what needs an operator (a supplier balance too low, ...), and its channels."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, print_json, print_table, say, when
from bridge.cli.support import read_connection, settings, writing
from bridge.errors import Failed

if TYPE_CHECKING:
    from datetime import datetime

alerts = typer.Typer(
    help=(
        "What needs an operator, and where they hear of it.\n\n"
        "Each alert is sent once per incident to BRIDGE_ALERT_URLS, and once more when it "
        "clears.\n\n"
        "\b\nExample:\n  pancake-bridge alerts list"
    ),
    no_args_is_help=True,
)
app.add_typer(alerts, name="alerts")

TEST_MESSAGE = "A test from pancake-bridge: alerts reach this channel."


@alerts.command("list")
def list_(as_json: JsonOption = False) -> None:
    """List the alerts, newest first.

    \b
    Example:
      pancake-bridge alerts list --json
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        records = reads.alerts(conn)
    if as_json:
        print_json([reads.record(alert) for alert in records])
        return
    print_table(
        ["kind", "subject", "id", "count", "state", "last seen", "sent", "message"],
        [
            [
                a.kind,
                a.subject,
                a.id,
                a.count,
                "resolved" if a.resolved else "open",
                when(a.last_seen_at),
                _sent(a.notified_at, a.send_failures, a.last_send_error),
                a.message,
            ]
            for a in records
        ],
    )


def _sent(notified_at: datetime | None, failures: int, error: str | None) -> str:
    """Whether the channels heard of it: failed sends first, with the last reason."""
    if failures:
        return f"{failures} failed ({error})"
    return "yes" if notified_at else "-"


@alerts.command("test")
def send_test_message(
    message: Annotated[
        str, typer.Option("--message", help="The text to send.", show_default=False)
    ] = TEST_MESSAGE,
) -> None:
    """Send one message now to every channel of BRIDGE_ALERT_URLS.

    Says for each channel whether it took the message; exits 1 when none did, or none is
    configured. Channels are named by their kind and place in the setting, never by URL.

    \b
    Example:
      BRIDGE_ALERT_URLS=tgram://BOT_TOKEN/CHAT_ID pancake-bridge alerts test
    """
    from workers.alerts.notify import send_test

    deliveries = send_test(settings(), message)
    if not deliveries:
        raise Failed(
            "BRIDGE_ALERT_URLS is not set: alerts are recorded but sent nowhere "
            "(Telegram: tgram://BOT_TOKEN/CHAT_ID)"
        )
    print_table(
        ["channel", "result"],
        [[d.channel.label, "sent" if d.sent else f"not sent: {d.error}"] for d in deliveries],
    )
    if not any(d.sent for d in deliveries):
        raise Failed("no channel took the message")


@alerts.command("resolve")
def resolve(
    alert_id: Annotated[int, typer.Argument(metavar="ID", help="The alert id (`list`).")],
) -> None:
    """Close an alert by hand once it is dealt with.

    For alerts whose end the bridge cannot see, such as a purchase for an order cancelled in
    Pancake. The channels hear that it is resolved. An alert whose condition still holds (a
    line still needing attention) is raised again on the next sweep.

    \b
    Example:
      pancake-bridge alerts resolve 7
    """
    from bridge.db import utcnow
    from workers.alerts.store import resolve_alert_id

    with writing(settings()) as session:
        changed = resolve_alert_id(session, alert_id, utcnow())
    say(f"alert {alert_id}: resolved" if changed else f"alert {alert_id} was not open")
