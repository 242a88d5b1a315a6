"""Structured log events: a dotted event name plus ids, never keys or credentials."""

from __future__ import annotations

import logging
import re

_logger = logging.getLogger("bridge")

# Pancake puts api_key in the query string; any library that logs a URL would leak it.
_QUERY_SECRET = re.compile(r"(api_key|api_secret|secret|token)=[^&\s\"']+", re.IGNORECASE)
# A value can come from a client (an id, a path): a long one must not flood the log, and a
# line break in one must not forge a log line.
MAX_FIELD_CHARS = 200
MAX_LINE_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def redact(text: str) -> str:
    return _QUERY_SECRET.sub(r"\1=***", text)


def clip(text: str, limit: int) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (saying so)."""
    text = _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


class RedactingFilter(logging.Filter):
    """Redacts query secrets and clips over-long text (uvicorn's access log quotes the path).

    A record's arguments are cleaned one by one and stay arguments: uvicorn's access formatter
    unpacks them (client, method, path, version, status), so they cannot be folded into the
    message. Numbers are left as they are, for ``%d``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                arg if isinstance(arg, (int, float)) else _clean(str(arg)) for arg in record.args
            )
            return True  # the message is then a format string written in code
        message = record.getMessage()
        cleaned = _clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def _clean(text: str) -> str:
    cleaned = redact(text)
    return clip(cleaned, MAX_LINE_CHARS) if len(cleaned) > MAX_LINE_CHARS else cleaned


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``name key=value ...``; callers pass ids and states only, never secrets."""
    if _logger.isEnabledFor(level):
        details = " ".join(
            f"{key}={clip(str(value), MAX_FIELD_CHARS)}" for key, value in fields.items()
        )
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
    # Request lines of the HTTP clients add nothing our own events lack, and carry URLs;
    # starlette-admin announces its theme at every start.
    for noisy in ("httpx", "httpcore", "alembic", "starlette_admin"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
