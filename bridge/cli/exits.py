"""The one place that turns an error into what the operator sees and the exit status.

* ``OperatorError`` (``ConfigError``, ``SettingsError``, ``Refused``): ``error: <message>`` on
  stderr, exit 2 (fix the input and run again); every start-up failure a person can cause (a
  database URL, a database down, a port in use, a SQLite file another process holds) is one,
  made a sentence by ``bridge/runtime/startup.py``;
* a usage error (unknown option, a value that is not one of the choices): Typer's usage and
  ``Error: <message>`` on stderr, exit 2;
* ``NotFound`` and any other ``LookupError``: ``error: <message>``, exit 1;
* ``Failed`` (the command ran and did not succeed): ``error: <message>``, exit 1.

Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from bridge.cli.output import error
from bridge.errors import Failed, OperatorError

OK = 0
FAILED = 1
USAGE = 2


# Checked in order: the first class that matches decides.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (OperatorError, USAGE),
    (LookupError, FAILED),
    (Failed, FAILED),
)


def exit_code_for(exc: BaseException) -> int | None:
    """The exit status for an error a command may raise on purpose, or None for a bug."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None


def report(exc: BaseException) -> int | None:
    """Print ``error: <message>`` for an expected error and return its exit status."""
    code = exit_code_for(exc)
    if code is not None:
        message = exc.args[0] if isinstance(exc, LookupError) and exc.args else exc
        error(message)
    return code
