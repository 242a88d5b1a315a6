"""The one settings object: environment variables with the ``BRIDGE_`` prefix."""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from string import ascii_lowercase, ascii_uppercase, digits
from typing import Annotated

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bridge.errors import SettingsError
from bridge.logs import LogFormat

APP_NAME = "pancake-bridge"
# Values people paste from examples; refused as a real key so a demo key never guards production.
# Compared with letters and digits only, lower case: `Your_Secret_Key_Here` is the same value.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "secret",
        "secret-key",
        "secretkey",
        "your-secret-key",
        "your-secret-key-here",
        "your-key-here",
        "replace-me",
        "password",
        "demo",
        "test",
        "example",
        "placeholder",
    }
)
# Phrases that make a key a placeholder wherever they appear (`changeme-changeme-changeme`).
PLACEHOLDER_PHRASES = ("changeme", "replaceme", "yoursecret", "secretkeyhere", "placeholder")
# Fernet's own key is 128 bits of AES plus 128 of HMAC; a passphrase below 128 bits of estimated
# entropy is the weakest link. The estimate is length x log2(the alphabet of the character classes
# used), which is what a random key from those classes holds.
MIN_SECRET_KEY_BITS = 128
# Fewer distinct characters than this is a pattern, not a random key (`aaaa…`, `0000…`, `abab…`);
# a random 32-character hex key has fewer with a probability below one in a million.
MIN_SECRET_KEY_DISTINCT = 8
# string.punctuation plus the space; anything else outside ASCII letters and digits counts so.
OTHER_ALPHABET = 33
MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def _normalised(value: str) -> str:
    return "".join(c for c in value.lower() if c.isalnum())


def estimated_bits(value: str) -> float:
    """The entropy of ``value`` if it were random over the character classes it uses."""
    classes = (ascii_lowercase, ascii_uppercase, digits)
    alphabet = sum(len(chars) for chars in classes if any(c in chars for c in value))
    if any(not any(c in chars for chars in classes) for c in value):
        alphabet += OTHER_ALPHABET
    return len(value) * math.log2(alphabet) if alphabet > 1 else 0.0


def secret_key_problem(value: str) -> str | None:
    """What makes ``value`` unfit to be BRIDGE_SECRET_KEY (a clause), or None if it is fit."""
    if not value.strip():
        return "is not set"
    placeholders = {_normalised(p) for p in PLACEHOLDER_SECRETS}
    normalised = _normalised(value)
    if normalised in placeholders or any(p in normalised for p in PLACEHOLDER_PHRASES):
        return "is a placeholder"
    if len(set(value)) < MIN_SECRET_KEY_DISTINCT:
        return f"repeats characters (only {len(set(value))} distinct)"
    bits = estimated_bits(value)
    if bits < MIN_SECRET_KEY_BITS:
        return f"is too weak (about {bits:.0f} bits of entropy, {MIN_SECRET_KEY_BITS} needed)"
    return None


def default_database_path() -> Path:
    """``bridge.db`` in the per-user data directory (Linux: ``~/.local/share/pancake-bridge``).

    Not the working directory: a command run from elsewhere would silently open a new, empty
    database there.
    """
    from platformdirs import user_data_path

    return user_data_path(APP_NAME, appauthor=False) / "bridge.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_path()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    database_url: str = Field(default_factory=default_database_url)
    redis_url: str | None = None
    # Keys prefix in Redis, so several bridges (or test runs) can share one server.
    redis_namespace: str = "pancake-bridge"
    secret_key: SecretStr | None = None
    # The key before the last rotation: read with (never written with), so stored secrets still
    # open until `bridge secrets rotate` has moved them to secret_key. Not checked for strength:
    # rotating away from a weak key is what it is for.
    secret_key_previous: SecretStr | None = None
    pancake_base_url: str = "https://pos.pages.fm/api/v1"
    host: str = "127.0.0.1"
    port: int = 8080
    # The bridge's address as Pancake reaches it (https://bridge.example.com, any reverse proxy's
    # prefix included): `shops connect` points each shop's webhook below it, `doctor` checks
    # that each shop's webhook does. Checked where it is used, so a bad value stops no command.
    public_url: str | None = None

    # How long a queued step may take before the sweep assumes its message was lost.
    lease_seconds: float = 120.0
    sweep_interval_seconds: float = 15.0
    # Every worker process beats this often (its row in worker_processes, and the queue's own
    # heartbeat in Redis); one silent for the timeout counts as dead, and what it held (its
    # purchases, its queued messages, the scheduler) is taken back at once, not after the lease.
    heartbeat_seconds: float = Field(default=3.0, gt=0)
    heartbeat_timeout_seconds: float = Field(default=10.0, gt=0)
    # Delivery polling backoff: first wait, growth factor, ceiling (manual plans can take hours).
    poll_initial_seconds: float = 5.0
    poll_factor: float = 2.0
    poll_max_seconds: float = 600.0
    # Past the ceiling, a line that has waited long waits this share of its wait so far between
    # polls (after 10 hours, an hour): a customer waits at most that much longer than the
    # supplier took, and a day's wait costs 44 reads instead of 150. 0: the ceiling only.
    poll_wait_share: float = Field(default=0.1, ge=0, le=1)
    # No line waits for its supplier longer than this (since it was bought, or since units last
    # arrived): it stops in needs_attention, with an alert, and a retry polls it again.
    delivery_give_up_hours: float = Field(default=72.0, gt=0)
    # Transient failures (Pancake 5xx, supplier reads) are retried this many times before `failed`.
    max_step_failures: int = 12
    # The API budget per supplier key (Shop API v1: 60 a minute, 10,000 a day). The margin keeps
    # that many requests a window in hand (the limiter needs none: bridge.supplier.budget).
    supplier_rate_limit: int = 60
    supplier_rate_window_seconds: float = 60.0
    supplier_daily_limit: int = 10_000
    supplier_rate_margin: int = 0
    # account/info is read this often per supplier (the key's own limits, permissions, expiry and
    # today's usage); a newly added supplier at once.
    supplier_account_check_seconds: float = Field(default=3600.0, gt=0)
    # Circuit breaker: this many consecutive transient failures pause a supplier, first for
    # breaker_pause_seconds, doubling while it keeps failing, up to breaker_max_pause_seconds.
    breaker_threshold: int = 5
    breaker_pause_seconds: float = 30.0
    breaker_max_pause_seconds: float = 900.0
    # An unknown purchase is bought again only when orders/list has not shown it this long after
    # it was sent, so an order the supplier commits or lists late is still found; orders up to
    # settle_margin_seconds older than the attempt count too (the supplier's clock and 1-second
    # timestamps).
    settle_delay_seconds: float = 60.0
    settle_margin_seconds: float = 5.0
    # Before that, orders/list is looked at this long after the send, then at twice as long each
    # time (2, 4, 8, 16, 32 s), and an order found is adopted at once; 0: no early looks.
    settle_first_look_seconds: float = Field(default=2.0, ge=0)
    # A supplier may not know an order it just created (a replica behind): a refusal of
    # orders/status this soon after the purchase is retried with backoff, not handed to a person.
    # As long, an answer that may yet clear up is given: a status the bridge does not know, or
    # an order completed with fewer units than bought (the rest may follow).
    status_grace_seconds: float = Field(default=600.0, ge=0)
    # A line about to be bought whose order was last read longer ago than this reads it again
    # first: the sale may have been cancelled while the line waited.
    order_reread_seconds: float = Field(default=600.0, ge=0)
    # How long a step may wait for budget before it reschedules itself instead.
    supplier_budget_wait_seconds: float = 20.0
    # Every supplier request ends within this, connect, send and read together (however slowly
    # the answer trickles in): a purchase not answered whole by then is treated as lost (outcome
    # unknown, settled, never re-sent), a read is tried again later.
    supplier_timeout_seconds: float = Field(default=30.0, gt=0)
    # A supplier answer larger than this, decompressed, is refused unread past it (a purchase's:
    # outcome unknown): a catalogue page of 100 products is a few hundred KB.
    supplier_max_answer_bytes: int = Field(default=2 * 1024 * 1024, ge=64 * 1024)
    pancake_timeout_seconds: float = 15.0
    worker_threads: int = Field(default=8, ge=1)
    # The share of a process's worker threads one supplier's calls may hold at once (at least
    # one thread): a hung supplier delays its own lines only; its calls past the share are
    # refused at once and their lines come back later.
    supplier_thread_share: float = Field(default=0.5, gt=0, le=1)
    auto_migrate: bool = True
    # Stock sync: Pancake's sellable quantity follows supplier stock. The switch governs the
    # automatic triggers (periodic, after a purchase, webhooks); `bridge stock sync` always works.
    stock_sync_enabled: bool = True
    stock_sync_interval_seconds: float = 300.0
    # A burst of stock webhooks or purchases within this window causes one sync.
    stock_debounce_seconds: float = 2.0
    # Entries per `variations/update_quantity` call.
    stock_push_batch_size: int = Field(default=100, ge=1)
    # The share of each supplier key's daily request limit that catalogue reads may spend: syncs
    # are spaced out (whatever triggers them) so that purchases always keep the rest.
    stock_sync_daily_budget_share: float = Field(default=0.5, gt=0, le=1)
    # A plan the catalogue read could not see keeps its variations' last pushed value for this
    # long after its last good reading; then it counts 0 (Pancake must not sell on a stale count).
    stock_stale_hours: float = Field(default=6.0, gt=0)
    # Catch-up for missed webhooks: every interval, each shop's orders updated since the last
    # complete read (less the overlap, for clock differences with Pancake) are read from the
    # API and go the way a webhook's order goes. A first read, or one after a long outage,
    # looks back no further than the lookback.
    catchup_interval_seconds: float = Field(default=60.0, gt=0)
    catchup_overlap_seconds: float = Field(default=300.0, ge=0)
    catchup_max_lookback_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    log_level: str = Field(default="INFO")
    # auto: one JSON object per line when standard error is not a terminal (systemd's journal,
    # a container's log), readable lines on a terminal; or json, or text, whatever the output.
    log_format: LogFormat = LogFormat.AUTO

    # Webhook events (hashes and ids, never bodies) are kept this long: a body replayed within
    # the window is recognised as a duplicate. Older rows are pruned by the scheduler.
    webhook_retention_days: float = Field(default=30.0, gt=0)
    # Stock sync runs (the history `bridge stock status` shows) are kept this long; orders, their
    # lines and every purchase attempt are kept forever (workers/fulfilment/retention.py).
    stock_run_retention_days: float = Field(default=90.0, gt=0)
    # Slow and oversized HTTP clients are cut off (bridge/web/limits.py, bridge/web/guard.py):
    # the request head (line and headers) must arrive within the header timeout and fit the
    # header bytes, the body within the body timeout and the body bytes; an idle keep-alive
    # connection is closed after the keep-alive seconds.
    http_header_timeout_seconds: float = Field(default=10.0, gt=0)
    http_body_timeout_seconds: float = Field(default=30.0, gt=0)
    http_keep_alive_seconds: int = Field(default=5, gt=0)
    http_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    http_max_path_bytes: int = Field(default=2048, ge=64)
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Open connections the web serves at once; past it, a new connection's request is answered
    # 503 with Retry-After as soon as its head is in, its body unread (bridge/web/limits.py).
    # The process's open-file limit is raised to fit it when the system allows.
    http_max_connections: int = Field(default=1000, ge=1)
    # Request-body bytes held in memory at once across the process: a body is reserved (its
    # declared length, or chunk by chunk) when a route starts reading it, after the route has
    # checked the URL and credentials, and released when the request ends. A body that does not
    # fit is answered 503 with Retry-After, unread; bodies over 64 KiB may fill only 7/8 of it,
    # so ordinary webhooks still get in while large ones hold the rest.
    http_max_buffered_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # The proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or networks
    # (127.0.0.1, 10.0.0.0/8, ::1), separated by commas or spaces. None by default: a request's
    # address is the peer's, even on loopback, so a proxy in front must be named here for the
    # console's throttle and audit to see the staff member's address (the audit then says which
    # proxy passed it on). A peer not named here cannot change its address with a header.
    trusted_proxies: Annotated[tuple[IPvAnyNetwork, ...], NoDecode] = ()
    # Intake refuses an order with a line of more units than this (a corrupt or hostile order:
    # 10**20 would otherwise fail to store on every try, and nobody sells that many keys at once).
    intake_max_quantity: int = Field(default=10_000, ge=1)
    # Operator notifications (workers/alerts/notify.py): apprise URLs, separated by commas or
    # spaces; Telegram is `tgram://BOT_TOKEN/CHAT_ID`. Empty: alerts are still recorded
    # (`bridge alerts list`), nothing is sent. The URLs carry tokens: never logged or printed.
    alert_urls: SecretStr = SecretStr("")
    # A supplier balance read below this (the supplier's currency, e.g. VND) raises an alert;
    # unset: no balance alerts (a refused purchase, INSUFFICIENT_BALANCE, still raises one).
    alert_balance_threshold: float | None = Field(default=None, ge=0)
    # A notification that could not be sent is retried with backoff up to this wait, for as
    # long as it takes: an alert is never dropped because the channel was down.
    alert_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # Observe (bridge/metrics.py, bridge/web/observe.py). Every process of a host (`serve`,
    # each `worker`) writes its counters and histograms into the metrics folder, so the /metrics
    # of any web process there covers them all; unset, /metrics shows only the process that
    # serves it (all of `bridge run`). A folder on local disk (tmpfs), one per host.
    metrics_dir: Path | None = None
    # When set, /metrics answers only `Authorization: Bearer <token>` (else 401).
    metrics_token: SecretStr | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        return value.replace(",", " ").split() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _lease_outlasts_a_purchase(self) -> Settings:
        # The sweep takes a line still `purchasing` past its lease for a dead worker; a live one
        # must have had its answer (or its timeout) well before that.
        if self.lease_seconds <= 2 * self.supplier_timeout_seconds:
            raise ValueError(
                "BRIDGE_LEASE_SECONDS must be more than twice BRIDGE_SUPPLIER_TIMEOUT_SECONDS"
            )
        # A live process must be able to miss a beat (a slow database write) without being
        # taken for dead.
        if self.heartbeat_timeout_seconds < 2 * self.heartbeat_seconds:
            raise ValueError(
                "BRIDGE_HEARTBEAT_TIMEOUT_SECONDS must be at least twice BRIDGE_HEARTBEAT_SECONDS"
            )
        return self

    def require_secret_key(self) -> str:
        """The key that encrypts stored secrets; refuses a missing, placeholder or weak value."""
        value = self.secret_key.get_secret_value() if self.secret_key else ""
        problem = secret_key_problem(value)
        if problem is not None:
            raise SettingsError(
                f"BRIDGE_SECRET_KEY {problem}: it encrypts stored API keys and delivered "
                f"credentials, so make a random one with `{MAKE_A_KEY}`."
            )
        return value

    def previous_secret_keys(self) -> tuple[str, ...]:
        """The keys stored secrets may still be under, besides the current one."""
        previous = self.secret_key_previous
        value = previous.get_secret_value() if previous else ""
        return (value,) if value.strip() else ()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
