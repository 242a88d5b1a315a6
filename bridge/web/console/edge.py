"""The console's outer edge: the headers every response carries, and ids refused before any
page runs.

Every response under ``/admin`` (pages, the admin library's lists, its CSV export, its static
files, the login page, redirects, errors) is sent with:

- ``Cache-Control: no-store``: a page may show credentials, and no browser or proxy keeps one;
- a Content-Security-Policy that runs only the console's own script files: no inline script
  but the admin library's page frame (its one inline script, which depends only on the theme, is
  rendered once at start and allowed by its SHA-256) and its two inline handlers (allowed by hash
  under ``'unsafe-hashes'``: those exact texts, which do nothing an attacker could use); nothing
  from another origin; no plugin, no ``<base>``, no form posted elsewhere, no framing. Inline
  *styles* are allowed (``style-src 'unsafe-inline'``): the library's templates carry dozens of
  ``style=`` attributes, and a style cannot run code; what an injected style could read is kept
  out by the escaping of every value the pages show;
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and
  ``X-Frame-Options: DENY`` (the CSP's ``frame-ancestors`` for older browsers).

A path segment of digits beyond a 64-bit integer names nothing the database can hold: it is a
404 here, before SQLite (which cannot bind it) or PostgreSQL (which refuses it) sees it. A number
out of range that reaches the database anyway (a query parameter of one of the admin library's
many routes) is a 400 (``out_of_range``, the console app's handler), never a 500.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from jinja2 import Environment
from sqlalchemy.exc import DataError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LARGEST_ID = 2**63 - 1
# What the databases raise for a number they cannot hold: SQLite's driver cannot bind it,
# PostgreSQL refuses it (numeric value out of range).
OUT_OF_RANGE: tuple[type[Exception], ...] = (OverflowError, DataError)
# Headers the edge decides: an answer's own value for one of them is replaced, not doubled.
REPLACED = {b"cache-control", b"pragma", b"expires"}
FIXED_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
# The admin library's frame and its inline handlers (the only inline code it has outside the
# templates the console overrides: list.html, detail.html, login.html).
FRAME_TEMPLATE = "@core/base.html"
HANDLER_TEMPLATES = ("@core/list.html", "@core/_pagination.html")
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
INLINE_HANDLER = re.compile(r'\son[a-z]+="([^"{}]*)"')
# What marks the end of a rendered fragment, so Jinja's dropping of one trailing newline at
# the end of a template cannot change the text that is hashed.
END = "\x00end"


def source_hash(text: str) -> str:
    """A CSP source allowing exactly ``text`` as an inline script or handler."""
    digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def library_inline_code(env: Environment) -> tuple[list[str], list[str]]:
    """The admin library's inline scripts (as rendered with this environment) and inline
    handlers that the console's pages carry."""
    assert env.loader is not None
    frame, _, _ = env.loader.get_source(env, FRAME_TEMPLATE)
    scripts = [
        env.from_string(fragment + END).render().removesuffix(END)
        for fragment in INLINE_SCRIPT.findall(frame)
    ]
    handlers = []
    for name in HANDLER_TEMPLATES:
        source, _, _ = env.loader.get_source(env, name)
        handlers += INLINE_HANDLER.findall(source)
    return scripts, sorted(set(handlers))


def content_security_policy(scripts: Iterable[str], handlers: Iterable[str]) -> str:
    script_src = ["'self'", *(source_hash(text) for text in scripts)]
    hashed_handlers = [source_hash(text) for text in handlers]
    if hashed_handlers:
        script_src += ["'unsafe-hashes'", *hashed_handlers]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src " + " ".join(script_src),
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def beyond_any_id(path: str) -> bool:
    """A segment of ``path`` is a whole number no 64-bit id column can hold."""
    return any(
        part.isdigit() and len(part) >= 19 and int(part) > LARGEST_ID for part in path.split("/")
    )


def out_of_range(request: Request, exc: Exception) -> Response:
    """The console app's answer to ``OUT_OF_RANGE``: the request asked for what cannot be."""
    return PlainTextResponse("A number in the request is out of range.", status_code=400)


class ConsoleEdge:
    """Headers on every response under ``prefix``; ids that cannot exist answered 404."""

    def __init__(self, app: ASGIApp, prefix: str, policy: str) -> None:
        self._app = app
        self._prefix = prefix
        self._headers = [*FIXED_HEADERS, (b"content-security-policy", policy.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self._prefix):
            await self._app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() not in REPLACED
                ]
                message["headers"] = [*kept, *self._headers]
            await send(message)

        if beyond_any_id(scope["path"]):
            answer = PlainTextResponse("There is nothing with that number.", status_code=404)
            await answer(scope, receive, with_headers)
            return
        await self._app(scope, receive, with_headers)
