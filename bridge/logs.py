"""Structured log events: a dotted event name plus ids, never keys or credentials."""

from __future__ import annotations

import logging
import re

_logger = logging.getLogger("bridge")

# Pancake puts api_key in the query string; any library that logs a URL would leak it.
_QUERY_SECRET = re.compile(r"(api_key|api_secret|secret|token)=[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    return _QUERY_SECRET.sub(r"\1=***", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``name key=value ...``; callers pass ids and states only, never secrets."""
    if _logger.isEnabledFor(level):
        details = " ".join(f"{key}={value}" for key, value in fields.items())
        _logger.log(level, "%s %s", name, details)


def protect_library_loggers() -> None:
    """Redact query secrets in what the HTTP libraries log, whatever the logging setup is."""
    for name in ("httpx", "httpcore", "uvicorn.access", "uvicorn.error"):
        library = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in library.filters):
            library.addFilter(RedactingFilter())


def configure(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    protect_library_loggers()
    # Request lines of the HTTP clients add nothing our own events lack, and carry URLs.
    for noisy in ("httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
