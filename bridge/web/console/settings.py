"""The console's settings: environment variables with the ``BRIDGE_CONSOLE_`` prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BRIDGE_CONSOLE_", extra="ignore")

    # Session cookies are Secure (sent over https only). A developer on plain http elsewhere than
    # localhost (browsers accept Secure cookies from http://localhost) sets this to true.
    insecure_cookies: bool = False
    # A session ends this long after its login, however active it is.
    session_hours: float = Field(default=12.0, gt=0)
    # Wrong passwords allowed per user name and per address within the window; past them the
    # login is refused (429) without the password even being checked, until the window ends.
    max_failures_per_user: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)
    failure_window_seconds: float = Field(default=900.0, gt=0)
