"""The one place the console turns the bridge's error tree into what a person sees.

``NotFound`` is a 404, ``Refused`` a 409, any other ``OperatorError`` a 400 and ``Failed`` (or
any other ``BridgeError``) a 502, each answered with its sentence (``answer``, also the console
app's handler for what a page did not catch); an action posted from a page (``back_with_error``)
instead goes back to that page with the message flashed, except a thing that does not exist,
which is the 404. Messages are the same sentences the CLI prints, with its
flags put as the form's words (``FORM_WORDS``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette_admin.flash import flash

from bridge.errors import BridgeError, Failed, NotFound, OperatorError, Refused

# Checked in order: the first class that matches decides.
STATUSES: tuple[tuple[type[BridgeError], int], ...] = (
    (NotFound, 404),
    (Refused, 409),
    (OperatorError, 400),
    (Failed, 502),
    (BridgeError, 502),
)
# The command line's words in the shared messages, and what the form calls the same thing.
FORM_WORDS = {
    "save it unchecked with --offline": "tick “Save without checking the catalogue”",
    "save it anyway with --allow-loss": "tick “Save even at a loss”",
    "with --fields": "in the plan's fields",
    "--units": "Units",
    "--plan": "The plan",
}


def status_for(exc: BridgeError) -> int:
    return next(status for kind, status in STATUSES if isinstance(exc, kind))


def error_text(exc: BridgeError | str) -> str:
    """The error's sentence, in the console's words."""
    message = exc if isinstance(exc, str) else str(exc.args[0] if exc.args else exc)
    for cli, form in FORM_WORDS.items():
        message = message.replace(cli, form)
    return message


def answer(request: Request, exc: Exception) -> Response:
    """The error's status and sentence; the console app's handler for any ``BridgeError``."""
    assert isinstance(exc, BridgeError)
    return PlainTextResponse(error_text(exc), status_code=status_for(exc))


def back_with_error(request: Request, exc: BridgeError, back: str) -> Response:
    """An action posted from a page that the bridge refused: back to ``back`` with the message
    flashed (a thing that does not exist: its 404)."""
    if isinstance(exc, NotFound):
        return answer(request, exc)
    flash(request, error_text(exc), "error")
    return RedirectResponse(back, status_code=303)
