"""A shop's webhook in Pancake: where it must point (below the bridge's public URL, with the
shop's token in its query), whose URL it holds now as Pancake shows it, the settings
``bridge shops connect`` sends, and what an answer or a current webhook shows wrong
(``bridge doctor`` reads the same).

The docs show one webhook URL per shop and do not promise ``GET /shops`` shows it: an owner that
cannot be told is ``UNKNOWN``, and nothing is taken over without ``--replace``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from bridge.errors import ConfigError, Failed, Refused
from bridge.logs import MASK
from bridge.pancake.schemas import ListedShop, ShopWebhook
from bridge.routes import WEBHOOK_PATH, WEBHOOK_SECRET_HEADER, WEBHOOK_TOKEN_PARAM

if TYPE_CHECKING:
    from bridge.pancake.client import PancakeClient

# What the bridge acts on: orders start fulfilment, stock changes a stock sync.
WEBHOOK_TYPES = ("orders", "variations_warehouses")
PANCAKE_WEBHOOK_PAGE = "Cấu hình → Cấu hình ứng dụng → Webhook"


def public_url(value: str | None) -> str:
    """The bridge's address as Pancake reaches it (``--public-url`` or ``BRIDGE_PUBLIC_URL``),
    without a trailing slash.

    Refused: no value, anything but an absolute http(s) URL, user info, a query or a fragment,
    and ``http://`` to anything but this machine (Pancake would carry the webhook secret across
    the Internet unencrypted; the simulators on localhost need no TLS).
    """
    if not value or not value.strip():
        raise ConfigError(
            "no public URL: give --public-url https://bridge.example.com or set "
            "BRIDGE_PUBLIC_URL to the address Pancake reaches this bridge at"
        )
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigError("the public URL is not a URL, e.g. https://bridge.example.com") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError(
            f"the public URL {shown_url(value)} must be an absolute http(s) URL, e.g. "
            "https://bridge.example.com"
        )
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ConfigError(
            f"the public URL {shown_url(value)} must have no user, query or fragment: it is the "
            "address Pancake sends webhooks to, the bridge adds the shop's path and token"
        )
    if parts.scheme == "http" and not _loopback(host):
        raise ConfigError(
            f"the public URL {shown_url(value)} is http://: Pancake would send the webhook "
            "secret unencrypted; use https:// (http:// is for this machine only, e.g. the "
            "simulators)"
        )
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def webhook_url(public: str, shop_id: str, token: str | None = None) -> str:
    """The URL a shop's webhooks go to, below the bridge's public URL (``public_url``), with the
    shop's token (``webhook_tokens.url_token``) when given. It holds a secret: print it with
    ``shown_url``."""
    url = public + WEBHOOK_PATH.format(shop_id=quote(shop_id, safe=""))
    return url if token is None else f"{url}?{urlencode({WEBHOOK_TOKEN_PARAM: token})}"


def url_token_in(url: str) -> str | None:
    """The token a webhook URL carries (the last one, as the endpoint reads it), if any."""
    try:
        values = [v for k, v in parse_qsl(urlsplit(url.strip()).query) if k == WEBHOOK_TOKEN_PARAM]
    except ValueError:
        return None
    return values[-1] if values else None


def shown_url(url: str) -> str:
    """A URL fit to print: no user info, and every query value masked (ours carries the shop's
    token; another integration's may carry its own), the names kept: ``…/4?token=***``."""
    try:
        parts = urlsplit(url.strip())
        netloc = parts.netloc.rsplit("@", 1)[-1]
    except ValueError:
        return "(not a URL)"
    masked = "&".join(
        f"{name}={MASK}" if sep else MASK
        for name, sep, _ in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, masked, "")) or "(empty)"


def same_url(a: str, b: str) -> bool:
    """The same address, as far as a webhook's sender is concerned (case of scheme and host, a
    trailing slash), whatever token it carries: the token is checked on its own."""

    def key(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
        parts = urlsplit(url.strip())
        query = parse_qsl(parts.query, keep_blank_values=True)
        rest = [(k, v) for k, v in query if k != WEBHOOK_TOKEN_PARAM]
        return (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), rest)

    try:
        return key(a) == key(b)
    except ValueError:
        return False


class WebhookOwner(StrEnum):
    """Whose URL a shop's webhook holds."""

    NONE = "none"  # no URL set
    HERE = "here"  # this bridge's URL for the shop
    ELSEWHERE = "elsewhere"  # another URL: another integration, or this bridge at another address
    UNKNOWN = "unknown"  # Pancake did not show it


@dataclass(frozen=True)
class CurrentWebhook:
    """A shop's webhook as Pancake shows it; ``reason`` says why the owner is UNKNOWN."""

    owner: WebhookOwner
    # Its URL may carry a token (ours or another integration's): never in a repr.
    settings: ShopWebhook = field(default_factory=ShopWebhook, repr=False)
    reason: str = ""

    @property
    def url(self) -> str | None:
        """The URL set, fit to print (no query, no user info)."""
        return shown_url(self.settings.url) if self.settings.url else None


def read_webhook(client: PancakeClient, shop_id: str, wanted_url: str) -> CurrentWebhook:
    """The shop's webhook where Pancake shows it (``GET /shops``, whose webhook fields the docs
    do not promise), compared with ``wanted_url``.

    A refused key is a ``ConfigError``; ``PancakeUnavailable`` (try again) is the caller's. Any
    other failure to read it makes the owner UNKNOWN, with the reason.
    """
    from bridge.pancake.errors import PancakeRequestError

    try:
        shops = client.list_shops()
    except PancakeRequestError as exc:
        if exc.status in (401, 403):
            raise ConfigError(
                f"Pancake refused shop {shop_id}'s API key ({exc}): save the right one with "
                f"`bridge shops add {shop_id} --api-key -`"
            ) from None
        return CurrentWebhook(WebhookOwner.UNKNOWN, reason=f"GET /shops could not be read: {exc}")
    return webhook_owner(shops, shop_id, wanted_url)


def webhook_owner(shops: Sequence[ListedShop], shop_id: str, wanted_url: str) -> CurrentWebhook:
    """Whose URL the shop's webhook holds, from what ``GET /shops`` listed."""
    entries = [shop for shop in shops if shop.is_shop(shop_id)]
    if len(entries) != 1:
        if len(entries) > 1:
            reason = f"GET /shops lists shop {shop_id} {len(entries)} times"
        elif any(shop.is_shop(shop_id) is None for shop in shops):
            reason = f"GET /shops does not say which of its shops is shop {shop_id}"
        else:
            reason = f"GET /shops does not list shop {shop_id}"
        return CurrentWebhook(WebhookOwner.UNKNOWN, reason=reason)
    settings = entries[0].webhook
    if "url" not in settings.shown:
        reason = "GET /shops does not show the shop's webhook fields"
        return CurrentWebhook(WebhookOwner.UNKNOWN, settings, reason)
    if not (settings.url or "").strip():
        return CurrentWebhook(WebhookOwner.NONE, settings)
    if same_url(settings.url or "", wanted_url):
        return CurrentWebhook(WebhookOwner.HERE, settings)
    return CurrentWebhook(WebhookOwner.ELSEWHERE, settings)


def webhook_request(url: str, secret: str, current: CurrentWebhook) -> ShopWebhook:
    """The settings that point a shop's webhook at ``url`` (with its token) and ``secret`` in
    its header.

    The shop owner's address for Pancake's error e-mails is kept when Pancake showed one (a
    partial body may clear what it leaves out); the URL's other settings (types, headers)
    belonged to whatever held it before and are replaced.
    """
    email = current.settings.email if current.owner is not WebhookOwner.UNKNOWN else None
    return ShopWebhook(
        enable=True,
        url=url,
        types=list(WEBHOOK_TYPES),
        headers={WEBHOOK_SECRET_HEADER: secret},
        **({"email": email} if email else {}),
    )


def refuse_to_take_over(current: CurrentWebhook, shop_id: str) -> None:
    """``Refused`` when pointing the webhook here could cut another integration off (the docs
    show one webhook URL per shop) or Pancake did not show whether it would."""
    flag = "add --replace to point it here anyway"
    if current.owner is WebhookOwner.ELSEWHERE:
        ours = (
            urlsplit(current.settings.url or "")
            .path.rstrip("/")
            .endswith(WEBHOOK_PATH.format(shop_id=quote(shop_id, safe="")))
        )
        whose = "a pancake-bridge URL at another address" if ours else "another integration's"
        raise Refused(
            f"shop {shop_id}'s webhook already goes to {current.url} ({whose}); a shop has one "
            f"webhook URL, so pointing it here stops webhooks reaching that one: {flag}"
        )
    if current.owner is WebhookOwner.UNKNOWN:
        raise Refused(
            f"cannot tell whether shop {shop_id}'s webhook is in use ({current.reason}): look in "
            f"Pancake ({PANCAKE_WEBHOOK_PAGE}), then {flag}"
        )


@dataclass(frozen=True)
class Connecting:
    """What ``connect_shop`` read and sent: the webhook before, the settings sent (or that would
    be, on a dry run), whether they were sent, and what Pancake's answer shows otherwise."""

    found: CurrentWebhook
    request: ShopWebhook = field(repr=False)  # the URL's token and the header's secret
    sent: bool = False
    problems: tuple[str, ...] = ()


def connect_shop(
    client: PancakeClient,
    shop_id: str,
    url: str,
    secret: str,
    *,
    replace: bool = False,
    dry_run: bool = False,
    on_found: Callable[[Connecting], None] = lambda _: None,
    on_sending: Callable[[Connecting], None] = lambda _: None,
) -> Connecting:
    """Point the shop's webhook at ``url`` (carrying the shop's token) with ``secret``: read
    whose URL it holds now, refuse to take over another's (``Refused``, unless ``replace``),
    send the settings (unless ``dry_run``) and compare Pancake's answer with them. ``on_found``
    sees the plan before anything is refused or sent (a front end prints it); ``on_sending``
    right before the PUT, once nothing is refused (the caller stores what Pancake will send).

    ``Failed`` when Pancake does not answer (nothing changed, or, for the PUT, perhaps changed:
    safe to repeat); ``ConfigError`` when it refuses the key or the settings. Never quotes the
    secret or the token.
    """
    from bridge.http_errors import redact
    from bridge.pancake.errors import PancakeError, PancakeRequestError, PancakeUnavailable

    try:
        found = read_webhook(client, shop_id, url)
    except PancakeUnavailable as exc:
        raise Failed(f"Pancake did not answer ({exc}): nothing changed; try again") from None
    plan = Connecting(found, webhook_request(url, secret, found))
    on_found(plan)
    if not replace:
        refuse_to_take_over(found, shop_id)
    if dry_run:
        return plan
    on_sending(plan)
    try:
        answer = client.configure_webhook(shop_id, plan.request)
    except PancakeError as exc:
        said = redact(str(exc), [secret, url_token_in(url) or ""])
        if isinstance(exc, PancakeRequestError):
            raise Failed(f"Pancake refused the webhook settings ({said})") from None
        raise Failed(
            f"Pancake did not answer ({said}): it may or may not have taken the settings; "
            "run the command again (it is safe to repeat)"
        ) from None
    return Connecting(found, plan.request, True, tuple(answer_problems(plan.request, answer)))


def answer_problems(sent: ShopWebhook, answer: ShopWebhook) -> list[str]:
    """What Pancake's answer to the PUT shows otherwise than sent; empty when all is as sent.

    The docs list every field but the headers in the answer: a field sent and not shown is a
    problem, headers not shown are not (a header shown must carry the secret as sent). Never
    quotes a header's value or the URL's token.
    """
    problems: list[str] = []
    for name in sorted(sent.shown - {"headers"}):
        alias = f"webhook_{name}"
        wanted, got = getattr(sent, name), getattr(answer, name)
        if name not in answer.shown:
            problems.append(f"{alias} is not in the answer")
        elif name == "types" and set(got or []) != set(wanted or []):
            problems.append(f"{alias} is {got}, not {wanted}")
        elif name == "url" and not same_url(got or "", wanted or ""):
            problems.append(f"{alias} is {shown_url(got or '')}, not {shown_url(wanted or '')}")
        elif name == "url" and url_token_in(got or "") != url_token_in(wanted or ""):
            problems.append(f"{alias} does not carry the token as sent")
        elif name not in ("types", "url") and got != wanted:
            problems.append(f"{alias} is {got!r}, not {wanted!r}")
    if "headers" in answer.shown:
        for header, value in (sent.headers or {}).items():
            if answer.header(header) != value:
                problems.append(f"webhook_headers does not carry {header} as sent")
    return problems


def webhook_problems(
    current: CurrentWebhook,
    secret_matches: Callable[[str], bool],
    token_matches: Callable[[str], bool],
    shop_id: str,
) -> list[tuple[str, str]]:
    """What keeps a webhook that points here from working, each as (problem, fix): disabled, a
    type the bridge needs missing, a token in its URL that is not the shop's (made from a secret
    since replaced), or (when Pancake shows the headers) a secret that is not the stored one, as
    after a rotation of BRIDGE_SECRET_KEY. A URL without a token is no problem here: the header
    may be enough (``lacks_token`` says whether it is all there is)."""
    settings = current.settings
    connect = f"`bridge shops connect {shop_id}`"
    renew = f"`bridge shops connect {shop_id} --new-secret`"
    problems: list[tuple[str, str]] = []
    if settings.enable is False:
        problems.append(("it is disabled", connect))
    if settings.types is not None:
        missing = [kind for kind in WEBHOOK_TYPES if kind not in settings.types]
        if missing:
            problems.append((f"it does not send {', '.join(missing)}", connect))
    token = url_token_in(settings.url or "")
    if token is not None and not token_matches(token):
        problems.append((f"the token in its URL is not shop {shop_id}'s", connect))
    if settings.headers is not None:
        sent = settings.header(WEBHOOK_SECRET_HEADER)
        if sent is None:
            problems.append((f"it sends no {WEBHOOK_SECRET_HEADER} header", renew))
        elif not secret_matches(sent):
            problems.append(
                (
                    f"its {WEBHOOK_SECRET_HEADER} is not shop {shop_id}'s stored secret",
                    f"{renew}, or store the one Pancake sends with "
                    f"`bridge shops add {shop_id} --webhook-secret -`",
                )
            )
    return problems


def lacks_token(current: CurrentWebhook) -> bool:
    """A webhook URL without the shop's token: only the header authenticates it, and some shops'
    Pancake sends no custom header (DESIGN.md §4), so its webhooks may all be refused."""
    return url_token_in(current.settings.url or "") is None
