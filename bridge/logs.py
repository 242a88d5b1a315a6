"""Structured log events: a dotted event name plus ids, never keys or credentials."""

from __future__ import annotations

import logging

_logger = logging.getLogger("bridge")


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``name key=value ...``; callers pass ids and states only, never secrets."""
    if _logger.isEnabledFor(level):
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        _logger.log(level, "%s %s", name, details)


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
