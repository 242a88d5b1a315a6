"""The web console at ``/admin``, built on starlette-admin and mounted on the bridge's web app.

Middleware, outermost first: starlette-admin's own (timezone, the per-request database session,
which is read-only here), then the signed session cookie, flash messages, CSRF (a signed
double-submit token on every POST, header or form field) and last the refusal of anonymous
requests. The console's edge (``edge.ConsoleEdge``: no-store, the Content-Security-Policy, ids
that cannot exist) wraps it all. The console's own scripts are files in ``static/console/``,
served with the library's (a file there of the same name would win over the library's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette_admin.contrib.sqlmodel import Admin
from starlette_admin.i18n import gettext as _
from starlette_admin.routing import route

from bridge.errors import BridgeError
from bridge.secrets import SecretBox
from bridge.web.console.auth import ConsoleAuth
from bridge.web.console.catalogues import CATALOGUE_REFRESH_SECONDS, LiveCatalogues
from bridge.web.console.dashboard import Balances
from bridge.web.console.edge import (
    OUT_OF_RANGE,
    ConsoleEdge,
    content_security_policy,
    library_inline_code,
    out_of_range,
)
from bridge.web.console.errors import answer
from bridge.web.console.i18n import ConsoleLocale, i18n_config, install, timezone_config
from bridge.web.console.keys import Purpose, derive
from bridge.web.console.labels import TEMPLATE_HELPERS
from bridge.web.console.mapping_pages import MappingsPage, UnmappedPage
from bridge.web.console.pages import DashboardPage, LinePage, SuppliersPage
from bridge.web.console.readings import SupplierReadings
from bridge.web.console.settings import ConsoleSettings
from bridge.web.console.store import read_only
from bridge.web.console.throttle import Throttle
from bridge.web.console.views import model_views
from workers.queue.context import Context
from workers.queue.dispatch import Send as QueueSend

BASE_URL = "/admin"
SESSION_COOKIE = "bridge_console"
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass
class Console:
    """What the console needs from the runtime. ``mount`` is handed to ``create_app``."""

    engine: Engine
    box: SecretBox
    secret_key: str
    # The workers' context: Pancake's live variations, and each key's budget used today.
    ctx: Context | None = None
    # The queue, to ask the workers for fresh supplier readings (balances, catalogues): the
    # console never calls a supplier itself. None: it shows what is stored, never asks.
    dispatch: Callable[[Iterable[QueueSend]], None] | None = None
    settings: ConsoleSettings = field(default_factory=ConsoleSettings)

    def mount(self, app: Starlette) -> None:
        ctx = self.ctx
        balances = Balances(
            SupplierReadings(self.engine, self.dispatch),
            ctx.supplier_budget if ctx is not None else None,
        )
        catalogues = SupplierReadings(
            self.engine, self.dispatch, refresh_seconds=CATALOGUE_REFRESH_SECONDS
        )
        throttle = Throttle(self.engine, derive(self.secret_key, Purpose.THROTTLE), self.settings)
        install()
        admin = ConsoleAdmin(
            read_only(self.engine),
            title="pancake-bridge",
            base_url=BASE_URL,
            route_name="admin",
            templates_dir=str(TEMPLATES),
            static_dir=str(STATIC),
            index_view=DashboardPage(self.engine, balances, self.settings.timezone),
            auth_provider=ConsoleAuth(self.engine, throttle, self.settings),
            secret_key=derive(self.secret_key, Purpose.ADMIN).hex(),
            i18n_config=i18n_config(),
            timezone_config=timezone_config(self.settings.timezone.key),
            middlewares=[
                Middleware(
                    SessionMiddleware,
                    secret_key=derive(self.secret_key, Purpose.SESSION).hex(),
                    session_cookie=SESSION_COOKIE,
                    max_age=int(self.settings.session_hours * 3600),
                    path=BASE_URL,
                    same_site="strict",
                    https_only=not self.settings.insecure_cookies,
                ),
                Middleware(ConsoleLocale),
            ],
        )
        # The words and times every template may show (labels.TEMPLATE_HELPERS).
        admin.templates.env.globals.update(TEMPLATE_HELPERS)
        fulfilments, *others = model_views(self.engine)
        mapping_pages = [
            MappingsPage(self.engine, LiveCatalogues(self.engine, ctx, catalogues)),
            UnmappedPage(self.engine),
        ]
        for view in [fulfilments, *mapping_pages, SuppliersPage(self.engine, balances)]:
            admin.add_view(view)
        for view in [*others, LinePage(self.engine, self.box)]:
            admin.add_view(view)
        admin.mount_to(app)
        # What a page did not catch of the error tree, answered in one place.
        admin.app.add_exception_handler(BridgeError, answer)
        for kind in OUT_OF_RANGE:
            admin.app.add_exception_handler(kind, out_of_range)
        policy = content_security_policy(*library_inline_code(admin.templates.env))
        app.add_middleware(ConsoleEdge, prefix=BASE_URL, policy=policy)


class ConsoleAdmin(Admin):
    @route("/_api/{key}/action", methods=["POST"], name="action")
    async def handle_action(self, request: Request) -> Response:
        """The library's batch action, which answers 500 when its ``name`` is missing."""
        if not request.query_params.get("name"):
            return JSONResponse({"msg": _("Missing 'name' parameter")}, status_code=400)
        answer: Response = await super().handle_action(request)
        return answer
