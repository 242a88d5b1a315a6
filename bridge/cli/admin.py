"""``bridge admin``: who may log in to the web console (``/admin``), and its audit."""

from __future__ import annotations

from typing import Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, dash, print_json, print_table, say, when
from bridge.cli.support import read_connection, secret_option, secret_value, settings, writing

admin = typer.Typer(
    help=(
        "Users of the web console (/admin) and its audit.\n\n"
        "\b\nExample:\n  pancake-bridge admin add-user alice   # asks for the password"
    ),
    no_args_is_help=True,
)
app.add_typer(admin, name="admin")

PASSWORD_ENV = "BRIDGE_CONSOLE_PASSWORD"
UserName = Annotated[str, typer.Argument(metavar="NAME", help="The user name to log in with.")]


@admin.command("add-user")
def add_user(
    name: UserName,
    password: Annotated[
        str | None,
        secret_option(
            "--password", PASSWORD_ENV, "The password (12 characters or more; hashed, argon2id)."
        ),
    ] = None,
) -> None:
    """Add a console user, or set a user's new password.

    Setting a new password ends that user's sessions at once.

    \b
    Example:
      pancake-bridge admin add-user alice                       # asks twice, no echo
      pancake-bridge admin add-user alice --password - < pw     # one line of stdin
    """
    from bridge.db import utcnow
    from bridge.web.console.users import set_user

    current = settings()
    password = secret_value(password, flag="--password", envvar=PASSWORD_ENV, prompt="Password")
    assert password is not None  # needed: given, read or asked for (or refused)
    with writing(current) as session:
        created = set_user(session, name, password, utcnow())
    say(f"console user {name} {'added' if created else 'has a new password; their sessions ended'}")


@admin.command("remove-user")
def remove_user(name: UserName) -> None:
    """Remove a console user.

    Their sessions end at once (a copy of their cookie opens nothing).

    \b
    Example:
      pancake-bridge admin remove-user alice
    """
    from bridge.web.console.users import remove_user as remove

    with writing(settings()) as session:
        remove(session, name)
    say(f"console user {name} removed; their sessions ended")


@admin.command("list-users")
def list_users(as_json: JsonOption = False) -> None:
    """List the console users (never their password hashes).

    \b
    Example:
      pancake-bridge admin list-users --json
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        users = reads.console_users(conn)
    if as_json:
        print_json([reads.record(user) for user in users])
        return
    print_table(
        ["id", "user", "created", "password set", "last login"],
        [
            [u.id, u.username, when(u.created_at), when(u.password_set_at), when(u.last_login_at)]
            for u in users
        ],
    )


@admin.command("audit")
def audit(
    line: Annotated[
        int | None, typer.Option("--line", metavar="ID", help="Only this fulfilment's rows.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 100,
    as_json: JsonOption = False,
) -> None:
    """Show who revealed, retried or resent which line, and when.

    Newest first: every credential reveal, retry and resend done from the console.

    \b
    Example:
      pancake-bridge admin audit --line 42
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        rows = reads.console_audit(conn, line, limit)
    if as_json:
        print_json([reads.record(row) for row in rows])
        return
    print_table(
        ["id", "when", "user", "action", "line", "from"],
        [[r.id, when(r.at), r.username, r.action, r.fulfilment_id, dash(r.address)] for r in rows],
    )
