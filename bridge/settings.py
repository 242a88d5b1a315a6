"""The one settings object: environment variables with the ``BRIDGE_`` prefix."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bridge.errors import SettingsError

# Values people paste from examples; refused as a real key so a demo key never guards production.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "demo", "test"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_", extra="ignore")

    database_url: str = "sqlite:///bridge.db"
    redis_url: str | None = None
    # Keys prefix in Redis, so several bridges (or test runs) can share one server.
    redis_namespace: str = "pancake-bridge"
    secret_key: SecretStr | None = None
    pancake_base_url: str = "https://pos.pages.fm/api/v1"
    host: str = "127.0.0.1"
    port: int = 8080

    # How long a queued step may take before the sweep assumes its message was lost.
    lease_seconds: float = 120.0
    sweep_interval_seconds: float = 15.0
    # Delivery polling backoff: first wait, growth factor, ceiling (manual plans can take hours).
    poll_initial_seconds: float = 5.0
    poll_factor: float = 2.0
    poll_max_seconds: float = 600.0
    # Transient failures (Pancake 5xx, supplier reads) are retried this many times before `failed`.
    max_step_failures: int = 12
    # The API budget per supplier key (Shop API v1: 60 a minute, 10,000 a day). The margin keeps
    # a couple of requests in hand for clock and ordering differences between hosts.
    supplier_rate_limit: int = 60
    supplier_rate_window_seconds: float = 60.0
    supplier_daily_limit: int = 10_000
    supplier_rate_margin: int = 1
    # account/info is read this often per supplier (the key's own limits, permissions, expiry and
    # today's usage); a newly added supplier at once.
    supplier_account_check_seconds: float = Field(default=3600.0, gt=0)
    # Circuit breaker: this many consecutive transient failures pause a supplier, first for
    # breaker_pause_seconds, doubling while it keeps failing, up to breaker_max_pause_seconds.
    breaker_threshold: int = 5
    breaker_pause_seconds: float = 30.0
    breaker_max_pause_seconds: float = 900.0
    # An unknown purchase is settled against orders/list only this long after it started, so an
    # order the supplier commits late is still found; orders up to settle_margin_seconds older than
    # the attempt count too (the supplier's clock and 1-second timestamps).
    settle_delay_seconds: float = 60.0
    settle_margin_seconds: float = 5.0
    # A supplier may not know an order it just created (a replica behind): a refusal of
    # orders/status this soon after the purchase is retried with backoff, not handed to a person.
    status_grace_seconds: float = Field(default=600.0, ge=0)
    # A line about to be bought whose order was last read longer ago than this reads it again
    # first: the sale may have been cancelled while the line waited.
    order_reread_seconds: float = Field(default=600.0, ge=0)
    # How long a step may wait for budget before it reschedules itself instead.
    supplier_budget_wait_seconds: float = 20.0
    # A purchase answer slower than this is treated as lost (outcome unknown, never re-sent).
    supplier_timeout_seconds: float = 30.0
    pancake_timeout_seconds: float = 15.0
    worker_threads: int = 8
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
    # Catch-up for missed webhooks: every interval, each shop's orders updated since the last
    # complete read (less the overlap, for clock differences with Pancake) are read from the
    # API and go the way a webhook's order goes. A first read, or one after a long outage,
    # looks back no further than the lookback.
    catchup_interval_seconds: float = Field(default=60.0, gt=0)
    catchup_overlap_seconds: float = Field(default=300.0, ge=0)
    catchup_max_lookback_seconds: float = Field(default=7 * 24 * 3600.0, gt=0)
    log_level: str = Field(default="INFO")

    @model_validator(mode="after")
    def _lease_outlasts_a_purchase(self) -> Settings:
        # The sweep takes a line still `purchasing` past its lease for a dead worker; a live one
        # must have had its answer (or its timeout) well before that.
        if self.lease_seconds <= 2 * self.supplier_timeout_seconds:
            raise ValueError(
                "BRIDGE_LEASE_SECONDS must be more than twice BRIDGE_SUPPLIER_TIMEOUT_SECONDS"
            )
        return self

    def require_secret_key(self) -> str:
        """The key that encrypts stored secrets; refuses a missing or placeholder value."""
        value = self.secret_key.get_secret_value() if self.secret_key else ""
        if value.strip().lower() in PLACEHOLDER_SECRETS or len(value) < 16:
            raise SettingsError(
                "BRIDGE_SECRET_KEY must be set to a random value of at least 16 characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`); "
                "it encrypts stored API keys and delivered credentials."
            )
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
