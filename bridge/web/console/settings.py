"""The console's settings: environment variables with the ``BRIDGE_CONSOLE_`` prefix."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_CONSOLE_", extra="ignore")

    # Session cookies are Secure (sent over https only). A developer on plain http elsewhere than
    # localhost (browsers accept Secure cookies from http://localhost) sets this to true.
    insecure_cookies: bool = False
    # The shop's time zone: every time the console shows (lists, line page, dashboard) is in it.
    timezone: ZoneInfo = ZoneInfo("Asia/Ho_Chi_Minh")
    # A session ends this long after its login, however active it is.
    session_hours: float = Field(default=12.0, gt=0)
    # A session also ends after this many minutes without a request.
    session_idle_minutes: float = Field(default=60.0, gt=0)
    # Wrong passwords allowed per user name from one address (IPv6: one /64), and per address
    # whatever the names, within the window; past them the login is refused (429) without the
    # password even being checked, until the window ends. Failures from elsewhere never count.
    max_failures_per_user: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)
    failure_window_seconds: float = Field(default=900.0, gt=0)
    # Passwords checked at once (argon2id takes 64 MiB and ~0.2 s of a core each); further logins
    # wait their turn, and are answered 429 after waiting this many seconds.
    max_concurrent_logins: int = Field(default=2, ge=1)
    login_queue_seconds: float = Field(default=10.0, gt=0)
