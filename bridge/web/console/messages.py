"""The console's own messages, as Babel extracts them from its templates and modules: what the
Vietnamese catalogue must translate (a test checks it does)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

CONSOLE = Path(__file__).parent
# The jinja2 extractor reads ``_()``, ``gettext`` and ``ngettext`` calls; the Python one also
# the marker and the lazy form the console's modules use.
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "lazy_gettext": None,
    "N_": None,
}


def console_messages() -> set[str | tuple[str, str]]:
    """Each message id (a plural: its singular and plural forms) the console shows."""
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(CONSOLE), METHODS, OPTIONS, KEYWORDS, strip_comment_tags=True
    ):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found
