"""Running the bridge: ``run``, ``serve``, ``worker``, ``demo`` and ``db upgrade``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.output import note, say
from bridge.cli.support import settings

if TYPE_CHECKING:
    from bridge.runtime.wiring import Runtime


def _started(runtime: Runtime, what: str) -> None:
    """Say where the data is, so a process on the wrong database is seen at once."""
    from bridge.db import describe_database
    from bridge.secrets import KeyProof

    note(f"{what}: database {describe_database(runtime.settings.database_url)}")
    if runtime.key_proof is KeyProof.PREVIOUS:
        note(
            "the stored secrets are still under BRIDGE_SECRET_KEY_PREVIOUS: run "
            "`bridge secrets rotate` to move them to BRIDGE_SECRET_KEY"
        )


@app.command()
def run() -> None:
    """Run web, workers and scheduler in one process.

    The web server listens on BRIDGE_HOST:BRIDGE_PORT; Ctrl-C stops everything.

    \b
    Example:
      pancake-bridge run
    """
    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings())
    _started(runtime, "bridge run")
    runtime.start_workers()
    try:
        runtime.serve_forever()
    finally:
        runtime.stop()


@app.command()
def serve() -> None:
    """Run the web server only (webhooks).

    The workers run elsewhere (`bridge worker`), sharing the database and BRIDGE_REDIS_URL.

    \b
    Example:
      BRIDGE_REDIS_URL=redis://localhost:6379/0 pancake-bridge serve
    """
    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings())
    _started(runtime, "bridge serve")
    try:
        runtime.serve_forever()
    finally:
        runtime.stop()


@app.command()
def worker() -> None:
    """Run the workers and the scheduler only.

    Runs until Ctrl-C or SIGTERM; start as many as you like next to `bridge serve`.

    \b
    Example:
      BRIDGE_REDIS_URL=redis://localhost:6379/0 pancake-bridge worker
    """
    import signal
    import threading

    from bridge.runtime.wiring import Runtime

    runtime = Runtime(settings())
    _started(runtime, "bridge worker")
    runtime.start_workers()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    note("bridge worker running; Ctrl-C to stop")
    stop.wait()
    runtime.stop()


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

    url = settings().database_url
    prepare_location(url)
    upgrade(url)
    say(f"database {describe_database(url)} is at the newest schema")
