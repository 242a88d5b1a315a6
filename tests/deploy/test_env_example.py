"""deploy/.env.example lists every setting: it is what ``bridge.dev.env_example`` writes from
the settings classes, so a new setting without its line fails here."""

from __future__ import annotations

from pathlib import Path

from bridge.dev.env_example import render
from bridge.settings import Settings
from bridge.web.console.settings import ConsoleSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / ".env.example"


def test_the_example_is_what_the_settings_say() -> None:
    assert EXAMPLE.read_text() == render(), (
        "deploy/.env.example is stale: "
        "uv run python -m bridge.dev.env_example > deploy/.env.example"
    )


def test_every_setting_has_its_line() -> None:
    lines = {line.lstrip("#").split("=", 1)[0] for line in render().splitlines() if "=" in line}
    for settings in (Settings, ConsoleSettings):
        prefix = str(settings.model_config.get("env_prefix", ""))
        for name in settings.model_fields:
            assert f"{prefix}{name}".upper() in lines, name
    assert "BRIDGE_SECRET_KEY=" in render().splitlines()  # to fill in, not commented out
