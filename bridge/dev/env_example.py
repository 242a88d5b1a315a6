"""``deploy/.env.example``, written from the settings classes themselves: every setting with its
default and the comment its field carries in the source, so the file cannot fall behind the code
(tests/deploy/test_env_example.py compares them).

    uv run python -m bridge.dev.env_example > deploy/.env.example
"""

from __future__ import annotations

import inspect
import re
import sys
from typing import Any

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from bridge.settings import Settings
from bridge.web.console.settings import ConsoleSettings

HEADER = """\
# Every setting of pancake-bridge, with its default. Written by
# `uv run python -m bridge.dev.env_example` from the settings' own source: do not edit by hand.
#
# Compose: copy to deploy/.env (chmod 600); compose itself sets the database and Redis URLs.
# systemd: copy to /etc/pancake-bridge/bridge.env (chmod 600, owner root) and set them here.
# Lines left commented keep the default. Never commit the filled-in file.

# The PostgreSQL password compose gives its database (compose only).
POSTGRES_PASSWORD=
# The port compose publishes the web on, on the host's loopback only (compose only).
#BRIDGE_WEB_PORT=8080
"""
# Settings a deployment must give: written uncommented, with no value.
REQUIRED = frozenset({"BRIDGE_SECRET_KEY"})
FIELD = re.compile(r"^    (\w+): ")


def _comments(settings: type[BaseSettings]) -> dict[str, list[str]]:
    """Each field's comment lines, as written just above it in the class body."""
    found: dict[str, list[str]] = {}
    pending: list[str] = []
    for line in inspect.getsource(settings).splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            pending.append(stripped.lstrip("#").strip())
            continue
        match = FIELD.match(line)
        if match:
            found[match.group(1)] = pending
        pending = []
    return found


def _default(value: Any) -> str:
    if value is None or value is PydanticUndefined or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple, set, frozenset)):
        return ",".join(str(item) for item in value)
    return str(value)


def render() -> str:
    parts = [HEADER]
    for settings, title in ((Settings, "The bridge"), (ConsoleSettings, "The web console")):
        prefix = str(settings.model_config.get("env_prefix", ""))
        comments = _comments(settings)
        parts.append(f"\n# ---- {title} ({prefix}*) ----\n")
        for name, field in settings.model_fields.items():
            variable = f"{prefix}{name}".upper()
            default = "" if field.default_factory is not None else _default(field.default)
            lines = [f"# {text}" if text else "#" for text in comments.get(name, [])]
            assignment = f"{variable}={default}"
            lines.append(assignment if variable in REQUIRED else f"#{assignment}")
            parts.append("\n".join(lines) + "\n")
    return "".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
