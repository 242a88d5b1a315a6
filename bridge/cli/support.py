"""What every command shares: the settings, the secret box, the database, and secret options.

Everything heavy (pydantic settings, SQLAlchemy, the models) is imported inside these functions,
so that importing a command module, and ``bridge --help``, stays fast. The list and show
commands read with ``read_connection`` (SQL text through the driver: no SQLAlchemy, no models);
the others with sessions.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from bridge.cli.output import is_terminal

# The value of a secret option that means "read it from standard input".
STDIN = "-"
# What stops a long-running command: Ctrl-C, and a service manager's (or `kill`'s) SIGTERM.
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

if TYPE_CHECKING:
    from pydantic import ValidationError
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from bridge.cli.driver import Reader
    from bridge.errors import SettingsError
    from bridge.secrets import SecretBox
    from bridge.settings import Settings
    from bridge.supplier.budget import Budgets


def settings() -> Settings:
    """The settings from the environment (``BRIDGE_*``), with logging configured from them.

    Unusable values are a ``SettingsError`` naming the variables (never their values).
    """
    from pydantic import ValidationError

    from bridge.logs import configure
    from bridge.settings import get_settings

    try:
        current = get_settings()
    except ValidationError as exc:
        raise _unusable(exc, "BRIDGE_") from None
    configure(current.log_level, current.log_format)
    return current


def check_console_settings() -> None:
    """The console's settings (``BRIDGE_CONSOLE_*``), judged before a web server starts: a bad
    value is one sentence naming the variable, not a traceback from inside the runtime."""
    from pydantic import ValidationError

    from bridge.web.console.settings import ConsoleSettings

    try:
        ConsoleSettings()
    except ValidationError as exc:
        raise _unusable(exc, "BRIDGE_CONSOLE_") from None


def _unusable(exc: ValidationError, prefix: str) -> SettingsError:
    """The variables a settings object refused and why (never their values)."""
    from bridge.errors import SettingsError

    problems = "; ".join(
        (f"{prefix}{str(problem['loc'][0]).upper()}: " if problem["loc"] else "") + problem["msg"]
        for problem in exc.errors(include_url=False, include_input=False)
    )
    return SettingsError(f"the {prefix}* settings are not usable: {problems}")


def secret_box(settings: Settings) -> SecretBox:
    """The box for stored secrets: refuses a missing or weak ``BRIDGE_SECRET_KEY`` before the
    database is touched, then proves it against the stored check (a wrong key is one sentence,
    not a decryption traceback later); reads with ``BRIDGE_SECRET_KEY_PREVIOUS`` too."""
    from bridge.secrets import SecretBox, prove_key

    box = SecretBox.for_settings(settings)
    with database(settings) as engine:
        prove_key(engine, box)
    return box


def open_engine(settings: Settings) -> Engine:
    """An engine on the database, migrated first when ``auto_migrate`` is on (and needed); a
    database that cannot be opened is one sentence (``bridge.runtime.startup``)."""
    from bridge.runtime.startup import open_database

    return open_database(settings)


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """``open_engine`` for the length of a command."""
    engine = open_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def writing(settings: Settings) -> Iterator[Session]:
    """A session that commits when the block ends without an error."""
    from bridge.db import session_scope

    with database(settings) as engine, session_scope(engine) as session:
        yield session


@contextmanager
def reading(settings: Settings) -> Iterator[Session]:
    """A read-only session: on SQLite it never waits for (or blocks) a writer."""
    from sqlmodel import Session

    from bridge.db import READ_ONLY

    with database(settings) as engine, Session(engine) as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session


@contextmanager
def read_connection(settings: Settings) -> Iterator[Reader]:
    """A read-only connection through the database driver for the list and show commands'
    reads (``bridge.cli.reads``): one transaction, so what they print is one moment's; on
    SQLite it never waits for (or blocks) a writer. A database not at the newest schema, or
    one that does not open, goes the way of ``open_engine`` first (``bridge.cli.driver``)."""
    from bridge.cli.driver import reader

    with reader(settings) as conn:
        yield conn


@contextmanager
def key_budgets(current: Settings) -> Iterator[Budgets]:
    """Each key's shared budget (the workers spend from the same ones), for one command."""
    from bridge.supplier.budget import Budgets

    budgets = Budgets.from_settings(current)
    try:
        yield budgets
    finally:
        budgets.close()


def secret_option(flag: str, envvar: str, what: str) -> Any:
    """The option for a secret: a command line ends up in `ps` and the shell's history, so it
    also comes from ``envvar``, from standard input (``-``), or from a hidden prompt.

    Declare the parameter ``str | None = None`` and pass it through ``secret_value``.
    """
    return typer.Option(
        flag,
        envvar=envvar,
        show_envvar=True,
        metavar="SECRET",
        help=f"{what} `-` reads it from standard input (one line); missing on a terminal, it "
        "is asked for without echo.",
    )


def secret_value(
    value: str | None, *, flag: str, envvar: str, prompt: str, needed: bool = True
) -> str | None:
    """The secret an option (``secret_option``) stands for; None when it was not given and is
    not ``needed`` (the stored one stays).

    ``-`` reads one line of standard input (each ``-`` the next line, in the order of the
    command's options). A needed secret that was not given (nor in ``envvar``) is asked for with
    hidden input when standard input is a terminal, and is a usage error otherwise.
    """
    if value == STDIN:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise typer.BadParameter(
                "`-` reads the value from standard input, which gave none (one line per `-`)",
                param_hint=f"'{flag}'",
            )
        return line
    if value or not needed:
        return value or None
    if is_terminal(sys.stdin):
        entered: str = typer.prompt(prompt, hide_input=True)
        return entered
    raise typer.BadParameter(
        f"missing: give {flag} - with the value on standard input, or set {envvar}",
        param_hint=f"'{flag}'",
    )


@contextmanager
def stop_signals_held() -> Iterator[None]:
    """Keep Ctrl-C and SIGTERM for ``wait_for_stop`` for the length of the block; enter it
    before any thread starts.

    Blocked in this thread, and so in every thread started inside (they inherit the mask): no
    handler runs in the middle of whatever a thread is doing, and a signal sent while the
    command starts is kept until the wait takes it. (A handler that sets an Event can deadlock:
    a second signal arriving while the first handler holds the Event's lock waits on it forever.)
    The mask is as it was once the block ends, however it ends.
    """
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def wait_for_stop() -> signal.Signals:
    """Until Ctrl-C or SIGTERM (inside ``stop_signals_held``); which one it was.

    Taken with ``sigwait``, so no handler runs at all. Once taken, the signals are let through
    again in this thread: a second Ctrl-C during a slow shutdown stops the process at once.
    """
    received = signal.Signals(signal.sigwait(STOP_SIGNALS))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    return received
