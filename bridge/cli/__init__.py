"""The ``bridge`` (also ``pancake-bridge``) command line, built on Typer.

The root app is ``app``; every command group lives in a module of its own that adds itself to
it (``service``, ``shops``, ``suppliers``, ``mappings``, ``fulfilments``, ``orders``, ``alerts``,
``stock``, ``admin``, ``doctor``, ``sim``).
``main`` runs it and is the one place where errors become exit statuses (``bridge.cli.exits``).
The command modules import nothing heavy at module level: ``bridge --help`` reads no settings
and touches no database.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from bridge.cli import exits
from bridge.cli.output import note

PROG_NAMES = ("bridge", "pancake-bridge")
DIST_NAME = "pancake-bridge"
# Help is plain click formatting: Rich-formatted help measured 0.25-0.5 s more per `--help`.
MARKUP_MODE = None

app = typer.Typer(
    name="bridge",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=MARKUP_MODE,
    context_settings={"help_option_names": ["--help", "-h"], "max_content_width": 100},
)


def _show_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        sys.stdout.write(f"{DIST_NAME} {version(DIST_NAME)}\n")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Print the version (pancake-bridge <version>) and exit.",
        ),
    ] = False,
) -> None:
    """Fulfil Pancake POS orders from Shop API v1 supplier shops.

    Settings come from BRIDGE_* environment variables (BRIDGE_DATABASE_URL, BRIDGE_SECRET_KEY,
    BRIDGE_REDIS_URL, ...). Every command has its own --help.

    \b
    Example:
      pancake-bridge fulfilments list --state needs_attention
    """


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (0 ok, 1 failed or not found, 2 refused)."""
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`bridge stock status | head -1`): that is not an error. Point
        # stdout at /dev/null so the interpreter's last flush does not fail again (see "Note on
        # SIGPIPE" in the Python docs for the signal module).
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return exits.OK
    return code


def _run(args: list[str]) -> int:
    command = typer.main.get_command(_app_for(args))
    try:
        with command.make_context(_prog_name(), args) as ctx:
            result = command.invoke(ctx)
    except typer.Exit as done:
        return done.exit_code
    except typer.TyperException as usage:  # click's usage errors: bad option, wrong choice
        show = getattr(usage, "show", None)
        if callable(show):
            show()
        else:
            note(f"Error: {usage.format_message()}")
        return usage.exit_code
    except typer.Abort:
        note("Aborted!")
        return exits.FAILED
    except KeyboardInterrupt:
        note("")
        return 130
    except Exception as exc:
        code = exits.report(exc)
        if code is None:
            raise
        return code
    return result if isinstance(result, int) else exits.OK


def _app_for(args: list[str]) -> typer.Typer:
    """``app`` with only the command or group that ``args`` start with, when they name one.

    Typer builds the click command of every command it is given, reading each function's
    parameters; for all of them that is ~0.05 s of every run on a loaded machine, and one runs.
    The same inside a group: ``bridge mappings list`` builds ``list`` only, not the group's
    other eleven commands. The root's help (``bridge``, ``bridge --help``), a group's help and
    a name that is not a command (click then suggests the closest one) get the whole app or
    group, so what a person sees is unchanged.
    """
    if not args or args[0].startswith("-"):
        return app
    name = args[0]
    groups = [group for group in app.registered_groups if group.name == name]
    commands = [command for command in app.registered_commands if _name(command) == name]
    if not groups and not commands:
        return app
    only = copy.copy(app)
    only.registered_groups = [_group_for(group, args[1:]) for group in groups]
    only.registered_commands = commands
    return only


def _group_for(group: typer.models.TyperInfo, args: list[str]) -> typer.models.TyperInfo:
    """``group`` with only the command ``args`` start with, when they name one."""
    inner = group.typer_instance
    if not args or args[0].startswith("-") or inner is None or inner.registered_groups:
        return group
    commands = [command for command in inner.registered_commands if _name(command) == args[0]]
    if not commands:
        return group
    narrowed = copy.copy(inner)
    narrowed.registered_commands = commands
    only = copy.copy(group)
    only.typer_instance = narrowed
    return only


def _name(command: typer.models.CommandInfo) -> str | None:
    """A root command's name as Typer derives it (``def doctor`` is ``doctor``)."""
    if command.name:
        return command.name
    callback = command.callback
    return typer.main.get_command_name(callback.__name__) if callback is not None else None


def _prog_name() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name in PROG_NAMES else "bridge"


# The command groups add themselves to `app` when imported, in the order `--help` lists them.
COMMAND_GROUPS = (
    "service",
    "shops",
    "suppliers",
    "mappings",
    "mapping_transfer",  # mappings export, import and check
    "orders",
    "fulfilments",
    "alerts",
    "stock",
    "admin",  # the web console's users and audit
    "doctor",  # `bridge doctor` and `bridge secrets`
    "sim",  # the simulators on their own
)
for _group in COMMAND_GROUPS:
    importlib.import_module(f"bridge.cli.{_group}")

__all__ = ["COMMAND_GROUPS", "app", "main"]
