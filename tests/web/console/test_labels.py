"""The console's words: every value of its vocabularies has a label, every message it shows has
its Vietnamese, the browser's languages pick the right one, and times read to the minute in the
shop's zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from starlette_admin import i18n as library

import bridge.web.console
from bridge.web.console.i18n import compiled, install, moment, negotiated, zone_label
from bridge.web.console.labels import FIELDS, VOCABULARIES, field_label, label, shown

SHOP = ZoneInfo("Asia/Ho_Chi_Minh")
CONSOLE = Path(bridge.web.console.__file__).parent
# Babel's extractors: jinja2's for the templates (``_()``, ``gettext``, ``ngettext``), Python's
# for the modules, with the marker and the lazy form the console uses.
METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("*.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "N_": None}


def console_messages() -> set[str | tuple[str, str]]:
    """Each message id the console's templates and modules show (a plural: both forms)."""
    found: set[str | tuple[str, str]] = set()
    for _, _, message, _, _ in extract_from_dir(str(CONSOLE), METHODS, OPTIONS, KEYWORDS):
        found.add(message if isinstance(message, str) else (message[0], message[1]))
    return found


@pytest.fixture
def vietnamese() -> Iterator[None]:
    install()
    library.set_locale("vi")
    try:
        yield
    finally:
        library.set_locale("en")


def translated(message: str | tuple[str, str]) -> bool:
    catalogue = compiled("vi")
    if isinstance(message, tuple):
        return catalogue.ngettext(*message, 1) not in message
    return catalogue.gettext(message) != message


@pytest.mark.parametrize("vocabulary", list(VOCABULARIES), ids=lambda v: v.__name__)
def test_every_value_of_a_vocabulary_has_a_label_in_both_languages(
    vocabulary: type[StrEnum],
) -> None:
    words = VOCABULARIES[vocabulary]
    assert set(words) == {value.value for value in vocabulary}, "a value without a label"
    untranslated = [text for text in words.values() if not translated(text)]
    assert untranslated == [], "labels without Vietnamese"


def test_every_message_the_console_shows_has_its_vietnamese() -> None:
    messages = console_messages()
    assert len(messages) > 150  # the extraction found the templates' and the modules' messages
    assert "Retry: buy it again" in messages
    assert [m for m in messages if not translated(m)] == []
    assert [name for name, text in FIELDS.items() if not translated(text)] == []


@pytest.mark.usefixtures("vietnamese")
def test_a_value_reads_in_the_request_language() -> None:
    assert label("needs_attention") == "Cần người xử lý"
    assert field_label("supplier_quantity") == "Số đơn vị đã mua"
    assert shown(True) == "có"
    library.set_locale("en")
    assert label("needs_attention") == "Needs a person"
    assert field_label("supplier_quantity") == "Units bought"
    assert label(None) == ""


def test_stored_values_read_as_the_cli_prints_them() -> None:
    assert shown({"email": "khách@ví.dụ"}) == '{"email": "khách@ví.dụ"}'  # JSON, not Python
    assert (shown(False), shown(None), shown(125000.0), shown(99.5)) == ("no", "", "125000", "99.5")


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("vi-VN,vi;q=0.9,en-US;q=0.8,en;q=0.7", "vi"),
        ("vi", "vi"),
        ("en-GB,en;q=0.9", "en"),
        ("fr-FR,fr;q=0.9,vi;q=0.8", "vi"),  # the first the console speaks
        ("en;q=0.5,vi;q=0.9", "vi"),  # by weight, not order
        ("de-DE", "en"),  # none: English
        ("vi;q=0,en", "en"),  # q=0 means "not this"
        ("", "en"),
        (None, "en"),
        ("%%%, ;q=x", "en"),
    ],
)
def test_the_browser_languages_choose_the_console_language(
    header: str | None, language: str
) -> None:
    assert negotiated(header) == language


@pytest.mark.usefixtures("vietnamese")
def test_a_moment_is_to_the_minute_in_the_shop_zone_with_the_zone_shown() -> None:
    at = datetime(2026, 12, 7, 9, 2, 22, 817162, tzinfo=UTC)
    assert moment(at, SHOP) == "07/12/2026 16:02 UTC+07:00"
    assert moment(at.replace(tzinfo=None), SHOP) == "07/12/2026 16:02 UTC+07:00"  # stored UTC
    assert moment(None, SHOP) == ""
    assert zone_label(SHOP) == "UTC+07:00"
