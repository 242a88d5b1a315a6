"""Structured log events: a dotted event name plus ids, never keys or credentials.

``event("purchase.bought", id=12)`` is one line: JSON (one object per line, for a log
collector) when the output is not a terminal, ``name key=value`` on one. Ids bound with
``bound(...)`` (the request id of a web request, the line of a worker step) join every event
logged inside it. Redaction is by construction: an event field whose name says secret
(``api_key``, ``token``, ``password``, ``credentials`` …) is never written, query secrets in any
text (``?api_key=…``) are masked in our lines, the HTTP libraries' lines and tracebacks alike.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from enum import StrEnum
from typing import IO, Any

_logger = logging.getLogger("bridge")
_bound: ContextVar[tuple[tuple[str, object], ...]] = ContextVar("bridge_log_ids", default=())
# A field named like this is a secret whatever its value: it is written as "***".
_SECRET_NAME = re.compile(
    r"api_?key|secret|token|password|passwd|credential|authorization|cookie", re.IGNORECASE
)
MASK = "***"


class LogFormat(StrEnum):
    AUTO = "auto"  # JSON when the output is not a terminal, text when it is
    JSON = "json"
    TEXT = "text"


# Pancake puts api_key in the query string, and the bridge's webhook URL carries its token there
# (bridge.routes.WEBHOOK_TOKEN_PARAM): any library that logs a URL would leak them.
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


# starlette-admin's login code logs the name typed at the login form (``login failed:
# username='…'``, at WARNING; ``login attempt``/``login success`` at INFO), so a password typed
# into the name field would land in the log. The bridge keeps names only as digests, and its own
# ``console.login.*`` events say what happened without them.
_LOGIN_FORM_LOGGERS = ("starlette_admin.auth",)


class DropLoginFormLines(logging.Filter):
    """Drops every line of the library's login code, at any level.

    Dropped, not rewritten: the lines' only content beyond our own events is what was typed, and
    a filter keyed on the logger rather than on a message's wording keeps working when the
    library rewords or adds a line. Installed on the handlers, so it holds whatever level a
    deployment gives the ``starlette_admin`` logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(_LOGIN_FORM_LOGGERS)


def _clean(text: str) -> str:
    cleaned = redact(text)
    return clip(cleaned, MAX_LINE_CHARS) if len(cleaned) > MAX_LINE_CHARS else cleaned


@contextmanager
def bound(**ids: object) -> Iterator[None]:
    """Every event inside carries ``ids`` (the context's: a thread, a task, a request)."""
    token = _bound.set(tuple({**dict(_bound.get()), **ids}.items()))
    try:
        yield
    finally:
        _bound.reset(token)


def _field(name: str, value: object) -> object:
    if _SECRET_NAME.search(name):
        return MASK
    if isinstance(value, bool | int | float) or value is None:
        return value
    return clip(redact(str(value)), MAX_FIELD_CHARS)


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log ``name key=value ...``; callers pass ids and states only, never secrets."""
    if _logger.isEnabledFor(level):
        data = {key: _field(key, value) for key, value in {**dict(_bound.get()), **fields}.items()}
        details = " ".join(f"{key}={value}" for key, value in data.items())
        _logger.log(level, "%s %s", name, details, extra={"event": name, "fields": data})


class TextFormatter(logging.Formatter):
    """``time level logger message``, tracebacks redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return redact(super().formatException(ei))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event`` and its fields (our
    events), or ``message`` (a library's line); ``exc`` holds a traceback, redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        name = getattr(record, "event", None)
        fields = getattr(record, "fields", None)
        if isinstance(name, str) and isinstance(fields, dict):
            line["event"] = name
            line.update({key: value for key, value in fields.items() if key not in line})
        else:
            line["message"] = record.getMessage()
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def protect_library_loggers() -> None:
    """Redact query secrets in what the HTTP libraries log, whatever the logging setup is."""
    for name in ("httpx", "httpcore", "uvicorn.access", "uvicorn.error"):
        _protect(logging.getLogger(name))


def _protect(filterer: logging.Filterer) -> None:
    for kind in (RedactingFilter, DropLoginFormLines):
        if not any(isinstance(f, kind) for f in filterer.filters):
            filterer.addFilter(kind())


def handler_for(stream: IO[str] | None, log_format: str = LogFormat.AUTO) -> logging.Handler:
    """A handler writing to ``stream`` (standard error) in ``log_format``, redacting."""
    out = stream or sys.stderr
    chosen = LogFormat(log_format)
    if chosen is LogFormat.AUTO:
        chosen = LogFormat.TEXT if out.isatty() else LogFormat.JSON
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter() if chosen is LogFormat.JSON else TextFormatter())
    _protect(handler)
    return handler


def configure(
    level: str = "INFO", log_format: str = LogFormat.AUTO, stream: IO[str] | None = None
) -> None:
    """Log to ``stream`` (standard error) in ``log_format``; a process that has set up logging
    already (a test's capture) keeps its handlers, which get the redaction filter."""
    logging.basicConfig(level=level.upper(), handlers=[handler_for(stream, log_format)])
    for installed in logging.getLogger().handlers:
        _protect(installed)
    protect_library_loggers()
    # Request lines of the HTTP clients add nothing our own events lack, and carry URLs;
    # starlette-admin announces its theme at every start.
    for noisy in ("httpx", "httpcore", "alembic", "starlette_admin"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
