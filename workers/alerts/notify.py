"""The operator's channels: the entries of ``BRIDGE_ALERT_URLS``, sent to through apprise.

apprise speaks Telegram (``tgram://BOT_TOKEN/CHAT_ID``, the documented default), Slack, e-mail,
webhooks (Zalo-friendly JSON) and many more from one URL each. A channel is known by two
names that carry no secret: its fingerprint (a hash of the URL), which the outbox stores, and
its label (the scheme and its place in the setting: ``tgram #1``), which logs and the CLI
show. The URL itself holds the bot token or password and is never logged, stored or printed.

apprise is imported on the first send (half a second with its plugins), so the scheduler and
the other CLI commands never pay for it. Its own logger is kept out of ours: at debug level it
prints request URLs, tokens included. What a failed send reports is the service's HTTP status,
read from apprise's per-call log capture, or a fixed phrase: nothing it could have quoted.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.settings import Settings

if TYPE_CHECKING:
    from apprise import AppriseResult

APP_ID = "pancake-bridge"
# A whole send (every retry apprise makes within it) gives up after this: a channel that hangs
# holds one worker thread for at most this long, and the outbox tries again later.
SEND_TIMEOUT_SECONDS = 60.0
# apprise's plugins log a refused request as "... error=<HTTP status>."
_STATUS = re.compile(r"\berror=(\d{3})\b")

_load_lock = threading.Lock()
_loaded = False


@dataclass(frozen=True)
class Channel:
    url: str = field(repr=False)
    fingerprint: str
    label: str


@dataclass(frozen=True)
class Delivery:
    """What became of one message on one channel; ``error`` names no URL."""

    channel: Channel
    sent: bool
    error: str | None = None


def configured(settings: Settings) -> bool:
    """Are notifications on? (Cheap: no apprise import.)"""
    return bool(settings.alert_urls.get_secret_value().strip())


def channels(settings: Settings) -> list[Channel]:
    """The configured channels, in the order of the setting; a URL given twice counts once."""
    if not configured(settings):
        return []
    _load()
    from apprise.utils.parse import parse_urls

    found: dict[str, Channel] = {}
    # apprise's own splitting: commas inside a URL (mailto://…?to=a,b) stay in it.
    for url in parse_urls(settings.alert_urls.get_secret_value()):  # type: ignore[no-untyped-call]
        fingerprint = hashlib.sha256(url.encode()).hexdigest()[:16]
        scheme = url.split("://", 1)[0].lower() if "://" in url else "?"
        found.setdefault(fingerprint, Channel(url, fingerprint, f"{scheme} #{len(found) + 1}"))
    return list(found.values())


def _notifier() -> Any:
    _load()
    import apprise

    return apprise.Apprise(asset=apprise.AppriseAsset(app_id=APP_ID, storage_mode="memory"))


def usable(channel: Channel) -> bool:
    """Does apprise understand the channel's URL (a known scheme, the parts it needs)? Sends
    nothing: ``bridge doctor`` asks, ``bridge alerts test`` sends."""
    try:
        return bool(_notifier().add(channel.url))
    except Exception:  # noqa: BLE001 - a plugin's parser failing is an unusable URL
        return False


def send(channel: Channel, title: str, body: str, *, problem: bool) -> Delivery:
    """Send one message on ``channel``; never raises (a broken plugin is a failed send)."""
    import apprise

    notifier = _notifier()
    try:
        if not notifier.add(channel.url):
            return Delivery(channel, False, "not a URL apprise can use")
        result = notifier.notify(
            body=body,
            title=title,
            notify_type=apprise.NotifyType.FAILURE if problem else apprise.NotifyType.SUCCESS,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=SEND_TIMEOUT_SECONDS,
        )
    except Exception as exc:  # noqa: BLE001 - the outbox retries; its text may quote the URL
        return Delivery(channel, False, f"unexpected {type(exc).__name__}")
    if result:
        return Delivery(channel, True)
    return Delivery(channel, False, _why(result))


def send_test(settings: Settings, message: str) -> list[Delivery]:
    """``bridge alerts test``: ``message`` on every configured channel, now."""
    return [
        send(channel, "pancake-bridge: test", message, problem=False)
        for channel in channels(settings)
    ]


def _why(result: AppriseResult) -> str:
    if result.timeout_count:
        return "timed out"
    for entry in result.logs():
        match = _STATUS.search(entry.message)
        if match:
            return f"HTTP {match.group(1)}"
    return "not accepted (unreachable or refused)"


def _load() -> None:
    """Import apprise and its plugins once, quietly."""
    global _loaded
    with _load_lock:
        if _loaded:
            return
        # Debug records (request URLs) are never even made; the warnings its per-call capture
        # reads stay in apprise.
        library = logging.getLogger("apprise")
        library.setLevel(logging.WARNING)
        library.propagate = False
        library.addHandler(logging.NullHandler())
        # requests (apprise's HTTP client) logs each request line through urllib3 at debug
        # level: the path holds a Telegram bot token. The bridge's own clients use httpx.
        logging.getLogger("urllib3").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            # Its e-mail plugin imports imghdr, deprecated since Python 3.11: a warning about
            # apprise's code, once, that the operator can do nothing about.
            warnings.filterwarnings("ignore", "'imghdr' is deprecated", DeprecationWarning)
            from apprise.plugins import N_MGR

            N_MGR.load_modules()  # type: ignore[no-untyped-call]
        _loaded = True
