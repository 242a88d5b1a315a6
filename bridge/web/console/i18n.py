"""The console's languages (Vietnamese, English) and times (the shop's zone), through the admin
library's own i18n: its ``I18nConfig`` and language switcher, its translation catalogues (the
``admin`` gettext domain, which its templates and ours read), its ``TimezoneConfig``.

What the library does not do is here, small: it ships no Vietnamese, so ours is added to its
catalogues at start (``install``), compiled from the ``.po`` beside this module with Babel (no
binary ``.mo`` to rebuild and forget); and it reads ``Accept-Language`` only when the header is
exactly one of its locale names, so ``ConsoleLocale`` negotiates the header (``vi-VN,vi;q=0.9,
en;q=0.8``) with Babel after the library has read its cookie.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette_admin import i18n as library
from starlette_admin.i18n import I18nConfig, TimezoneConfig

# The console's languages, the switcher's order. A browser that asks for neither gets English.
LOCALES = ("vi", "en")
FALLBACK = "en"
COOKIE = "language"
DOMAIN = "admin"
CATALOGUES = Path(__file__).parent / "translations"
# A moment to the minute, with its zone: "07/12/2026 16:02 UTC+07:00" (Babel's pattern).
MOMENT = "dd/MM/yyyy HH:mm 'UTC'xxx"
ZONE = "'UTC'xxx"


def catalogue_path(locale: str) -> Path:
    return CATALOGUES / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def compiled(locale: str) -> Translations:
    """The ``.po`` catalogue of ``locale`` as gettext translations (fuzzy entries left out, as
    ``pybabel compile`` leaves them)."""
    with catalogue_path(locale).open("rb") as source:
        catalogue = read_po(source, locale=locale, domain=DOMAIN)
    binary = BytesIO()
    write_mo(binary, catalogue)
    binary.seek(0)
    return Translations(fp=binary, domain=DOMAIN)


def install() -> None:
    """Add Vietnamese to the admin library's locales: our catalogue holds its messages and ours
    (English needs none: the messages are English)."""
    for locale in LOCALES:
        if locale not in library.SUPPORTED_LOCALES:
            library.SUPPORTED_LOCALES.append(locale)
    library.translations["vi"] = compiled("vi")


def i18n_config() -> I18nConfig:
    # The header is read by ConsoleLocale (negotiated), not by the library (exact match only).
    return I18nConfig(
        default_locale=FALLBACK,
        language_cookie_name=COOKIE,
        language_header_name=None,
        language_switcher=list(LOCALES),
    )


def timezone_config(zone: str) -> TimezoneConfig:
    """Every time in the shop's zone, whatever the browser's: the database keeps UTC."""
    return TimezoneConfig(
        default_timezone=zone,
        timezone_cookie_name=None,
        database_timezone="UTC",
        timezone_switcher=None,
        use_user_locale_timezone=False,
    )


def accepted(header: str) -> list[str]:
    """``Accept-Language``'s languages, most wanted first (``q=0`` ones left out)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        name, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name and name != "*" and weight > 0:
            ranked.append((-weight, position, name.strip()))
    return [name for _, _, name in sorted(ranked)]


def negotiated(header: str | None) -> str:
    """The console language a browser's ``Accept-Language`` asks for (Babel's negotiation:
    ``vi-VN`` is Vietnamese, ``en-GB`` English)."""
    if header:
        for wanted in accepted(header):
            try:
                found = Locale.negotiate([wanted], LOCALES, sep="-")
            except (ValueError, UnknownLocaleError):
                continue
            if found is not None:
                return str(found)
    return FALLBACK


class ConsoleLocale:
    """The language of a request: the switcher's cookie, else the browser's languages."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            conn = HTTPConnection(scope)
            chosen = conn.cookies.get(COOKIE)
            library.set_locale(
                chosen if chosen in LOCALES else negotiated(conn.headers.get("accept-language"))
            )
        await self._app(scope, receive, send)


def language_name(locale: str) -> str:
    """A language as its speakers write it ("Tiếng Việt", "English"): the library's switcher
    capitalises only the first letter ("Tiếng việt")."""
    return Locale.parse(locale).display_name or locale


def moment(value: datetime | None, zone: tzinfo | None = None) -> str:
    """``value`` in the shop's zone to the minute, zone shown; "" for none. ``zone`` defaults
    to the request's (the library's TimezoneMiddleware set it from the console's setting)."""
    if value is None:
        return ""
    return format_datetime(
        value, MOMENT, tzinfo=zone or library.get_tzinfo(), locale=library.get_locale()
    )


def zone_label(zone: tzinfo | None = None) -> str:
    """The zone as ``moment`` shows it ("UTC+07:00"), for a chart or a column that shows
    hours alone."""
    return format_datetime(
        datetime.now(zone or library.get_tzinfo()), ZONE, locale=library.get_locale()
    )
