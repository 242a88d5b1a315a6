"""Running the bridge: ``run``, ``serve``, ``worker``, ``demo`` and ``db upgrade``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.invocation import program
from bridge.cli.output import note, say
from bridge.cli.support import (
    check_console_settings,
    settings,
    stop_signals_held,
    wait_for_stop,
)

if TYPE_CHECKING:
    from bridge.runtime.startup import DatabaseLock
    from bridge.runtime.wiring import Runtime
    from bridge.settings import Settings

# The console user `bridge run` suggests making first (the walk-through's, bridge/cli/sim.py).
CONSOLE_USER = "admin"


def _start(what: str, *, web: bool) -> tuple[Runtime, DatabaseLock | None]:
    """The runtime of ``what``, once everything a person can get wrong has been checked.

    In this order, each failure one sentence and exit 2 (``bridge.runtime.startup``), before any
    worker or server starts: the settings and the secret key, the database URL, the SQLite file
    not in use by another process (its lock is held until the process ends), the port free
    (``web``), the database reachable, migrated and opened by the key.
    """
    from bridge.runtime.startup import check_port, hold_database

    current = settings()
    current.require_secret_key()  # judged before the database is touched, the lock's file too
    lock = hold_database(current.database_url, what)
    runtime: Runtime | None = None
    try:
        if web:
            check_console_settings()
            check_port(current.host, current.port, setting="BRIDGE_PORT")
        # Imported once the cheap checks have passed: it brings in the web app and the workers.
        from bridge.runtime.wiring import Runtime

        runtime = Runtime(current)
        _started(runtime, what, web=web)
        return runtime, lock
    except BaseException:
        if runtime is not None:
            runtime.stop()
        if lock is not None:
            lock.release()
        raise


def _started(runtime: Runtime, what: str, *, web: bool) -> None:
    """Say where the data is, so a process on the wrong database is seen at once, and where the
    console is (with the command that makes its first user, when it has none)."""
    from bridge.db import describe_database
    from bridge.secrets import KeyProof

    current = runtime.settings
    note(f"{what}: database {describe_database(current.database_url)}")
    if runtime.key_proof is KeyProof.PREVIOUS:
        note(
            "the stored secrets are still under BRIDGE_SECRET_KEY_PREVIOUS: run "
            f"`{program()} secrets rotate` to move them to BRIDGE_SECRET_KEY"
        )
    if web:
        note(f"console: {console_url(current)}")
        if not _has_console_user(runtime):
            note(
                "no console user yet: make one (it asks for the password) with "
                f"`{program()} admin add-user {CONSOLE_USER}`"
            )


def console_url(current: Settings) -> str:
    """Where a person opens the console: below BRIDGE_PUBLIC_URL when it is set, else the
    address the server listens on (this machine's loopback when it listens on every one)."""
    if current.public_url:
        return current.public_url.rstrip("/") + "/admin/"
    host = "127.0.0.1" if current.host in ("0.0.0.0", "::", "") else current.host
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{current.port}/admin/"


def _has_console_user(runtime: Runtime) -> bool:
    from sqlmodel import Session

    from bridge.web.console.users import list_users

    with Session(runtime.engine) as session:
        return bool(list_users(session))


@app.command()
def run() -> None:
    """Run web, workers and scheduler in one process.

    The web server listens on BRIDGE_HOST:BRIDGE_PORT; Ctrl-C stops everything. On SQLite, one
    process at a time: a second one on the same file is refused.

    \b
    Example:
      pancake-bridge run
    """
    runtime, lock = _start("bridge run", web=True)
    try:
        runtime.start_workers()
        runtime.serve_forever()
    finally:
        runtime.stop()
        if lock is not None:
            lock.release()


@app.command()
def serve() -> None:
    """Run the web server only (webhooks).

    The workers run elsewhere (`bridge worker`), sharing the database and BRIDGE_REDIS_URL.

    \b
    Example:
      BRIDGE_REDIS_URL=redis://localhost:6379/0 pancake-bridge serve
    """
    runtime, lock = _start("bridge serve", web=True)
    try:
        runtime.serve_forever()
    finally:
        runtime.stop()
        if lock is not None:
            lock.release()


@app.command()
def worker() -> None:
    """Run the workers and the scheduler only.

    Runs until Ctrl-C or SIGTERM; start as many as you like next to `bridge serve`.

    \b
    Example:
      BRIDGE_REDIS_URL=redis://localhost:6379/0 pancake-bridge worker
    """
    with stop_signals_held():
        runtime, lock = _start("bridge worker", web=False)
        try:
            runtime.start_workers()
            note("bridge worker running; Ctrl-C to stop")
            wait_for_stop()
        finally:
            runtime.stop()
            if lock is not None:
                lock.release()


@app.command()
def demo(
    once: Annotated[
        bool, typer.Option("--once", help="Exit 0 once the sample order is fulfilled.")
    ] = False,
) -> None:
    """Run a self-contained demo with simulators.

    Starts simulated Pancake and supplier shops and the bridge, and fulfils a sample order;
    everything lives in a temporary directory that is removed afterwards.

    \b
    Example:
      pancake-bridge demo --once
    """
    from bridge.dev.demo import run_demo

    code = run_demo(once=once)
    if code:
        raise typer.Exit(code)


db = typer.Typer(
    help="Database maintenance.\n\n\b\nExample:\n  pancake-bridge db upgrade",
    no_args_is_help=True,
)
app.add_typer(db, name="db")


@db.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database to the newest schema.

    Applies the migrations shipped with the bridge to BRIDGE_DATABASE_URL. Every command does
    this by itself unless BRIDGE_AUTO_MIGRATE=false.

    \b
    Example:
      BRIDGE_DATABASE_URL=postgresql+psycopg://bridge@db/bridge pancake-bridge db upgrade
    """
    from bridge.db import describe_database, prepare_location
    from bridge.migrate import upgrade
    from bridge.runtime.startup import check_database_url, reporting_database_errors

    url = settings().database_url
    check_database_url(url)
    prepare_location(url)
    with reporting_database_errors(url):
        upgrade(url)
    say(f"database {describe_database(url)} is at the newest schema")
