"""Login, sessions and the refusal of anonymous requests.

The session cookie is Starlette's signed cookie (HttpOnly, SameSite=Strict, Secure unless
``BRIDGE_CONSOLE_INSECURE_COOKIES``) holding only a random session id; the session itself is a
row on the server (``sessions``), looked up on every request, so logout, a new password and the
user's removal end it at once. The login form is starlette-admin's; this provider puts the
throttle and the login queue (``login_queue``) in front of it.
"""

from __future__ import annotations

import logging
import math
from functools import partial
from typing import Any
from urllib.parse import urlencode

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp
from starlette_admin.auth import AdminUser, AuthProvider
from starlette_admin.exceptions import LoginFailed
from starlette_admin.i18n import gettext

from bridge.db import utcnow
from bridge.logs import event
from bridge.web.console.login_queue import LoginQueue
from bridge.web.console.sessions import Lifetime, end_session, open_session, session_user
from bridge.web.console.settings import ConsoleSettings
from bridge.web.console.throttle import Subjects, Throttle
from bridge.web.console.users import verify

# Routes of the admin app an anonymous request may reach: the login form and its assets.
OPEN_ROUTES = frozenset({"login", "static"})
WRONG = "Wrong user name or password."
SESSION_KEY = "sid"  # the session id's key in the signed cookie


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a proxy named in BRIDGE_TRUSTED_PROXIES
    forwarded (bridge/web/proxies.py); what the throttle counts by."""
    return request.client.host if request.client else "unknown"


def client_address_for_audit(request: Request) -> str:
    """The client's address and, when a trusted proxy named it, that proxy: what the audit of
    a console action records (``203.0.113.7 via 127.0.0.1``)."""
    from bridge.web.proxies import forwarded_by  # here: this file's imports are another change's

    proxy = forwarded_by(request)
    address = client_address(request)
    return f"{address} via {proxy}" if proxy is not None else address


def console_user(request: Request) -> str:
    """The user name of the request's session (only ever called behind ``RefuseAnonymous``)."""
    user: AdminUser = request.state.admin_user
    return user.username


class ConsoleAuth(AuthProvider):
    def __init__(self, engine: Engine, throttle: Throttle, settings: ConsoleSettings) -> None:
        super().__init__(login_path="/login", logout_path="/logout")
        self._engine = engine
        self._throttle = throttle
        self._lifetime = Lifetime.of(settings)
        self._queue = LoginQueue(settings.max_concurrent_logins, settings.login_queue_seconds)

    async def render_login(self, request: Request, templates: Jinja2Templates) -> Response:
        if request.method != "POST" or getattr(request.state, "admin_user", None) is not None:
            return await super().render_login(request, templates)
        form = await request.form()
        subjects = self._throttle.subjects(str(form.get("username") or ""), client_address(request))
        wait = await run_in_threadpool(self._throttle.attempt, subjects, utcnow())
        if wait is not None:
            event("console.login.throttled", logging.WARNING)
            error = gettext("Too many wrong passwords: try again in %(seconds)s s.")
            return _refused(request, templates, error % {"seconds": f"{wait:.0f}"}, wait)
        async with self._queue.turn() as admitted:
            if admitted:
                request.state.console_subjects = subjects
                return await super().render_login(request, templates)
        await run_in_threadpool(self._throttle.unchecked, subjects)
        event("console.login.busy", logging.WARNING)
        error = gettext("Too many logins at once: try again shortly.")
        return _refused(request, templates, error, self._queue.wait)

    async def login(
        self, username: str, password: str, remember_me: bool, request: Request
    ) -> Response | None:
        subjects: Subjects = request.state.console_subjects
        user = await self._queue.check(partial(verify, self._engine, username, password, utcnow()))
        if user is None or user.id is None:
            event("console.login.failed", logging.WARNING)
            raise LoginFailed(gettext(WRONG))
        await run_in_threadpool(self._throttle.succeeded, subjects)
        session_id = await run_in_threadpool(
            open_session, self._engine, user.id, self._lifetime, utcnow()
        )
        request.session.clear()
        request.session[SESSION_KEY] = session_id
        event("console.login", user=user.id)
        return None

    async def logout(self, request: Request) -> Response | None:
        session_id = request.session.get(SESSION_KEY)
        if isinstance(session_id, str):
            await run_in_threadpool(end_session, self._engine, session_id)
        request.session.clear()
        return None

    async def authenticate(self, request: Request) -> AdminUser | None:
        session: dict[str, Any] = request.session
        session_id = session.get(SESSION_KEY)
        if not isinstance(session_id, str):
            session.clear()  # nothing, or a cookie of an older release: log in again
            return None
        user = await run_in_threadpool(
            session_user, self._engine, session_id, self._lifetime, utcnow()
        )
        if user is None:
            session.clear()
            return None
        return AdminUser(username=user.username)

    def get_middleware(self) -> Middleware:
        return Middleware(RefuseAnonymous, provider=self)


class RefuseAnonymous(BaseHTTPMiddleware):
    """Every route but the login form refuses a request without a valid session: a page is
    redirected to the login form (and back after it), anything else is answered 401."""

    def __init__(self, app: ASGIApp, provider: ConsoleAuth) -> None:
        super().__init__(app)
        self._provider = provider

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        user = await self._provider.authenticate(request)
        request.state.admin_user = user
        request.state.is_anonymous = user is None
        if user is not None or _route_name(request) in OPEN_ROUTES:
            return await call_next(request)
        if request.method in ("GET", "HEAD") and "/_api/" not in request.url.path:
            login = request.url_for(request.app.state.ROUTE_NAME + ":login")
            query = urlencode({"next": str(request.url)})
            return RedirectResponse(f"{login}?{query}", status_code=303)
        return JSONResponse({"ok": False, "error": "log in first"}, status_code=401)


def _route_name(request: Request) -> str | None:
    for route in request.scope["app"].routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            name: str | None = getattr(route, "name", None)
            return name
    return None


def _refused(
    request: Request, templates: Jinja2Templates, error: str, retry_after: float
) -> Response:
    """The login form again, answered 429 with when to come back."""
    return templates.TemplateResponse(
        request=request,
        name="login.html",
        context={"error": error},
        status_code=429,
        headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
    )
