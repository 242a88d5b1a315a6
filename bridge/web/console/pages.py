"""The console's hand-written pages, for what the admin library's lists cannot show: the
dashboard, the suppliers' state, one line with its attempts, audit and (on demand,
audited) credentials."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette_admin.flash import flash
from starlette_admin.i18n import gettext as _
from starlette_admin.i18n import lazy_gettext
from starlette_admin.routing import route
from starlette_admin.views import CustomView

from bridge.db import utcnow
from bridge.errors import BridgeError, NotFound
from bridge.logs import event
from bridge.models import Fulfilment
from bridge.secrets import SecretBox
from bridge.web.console.audit import AuditAction, audit_of
from bridge.web.console.auth import client_address_for_audit, console_user
from bridge.web.console.dashboard import (
    GROUPS,
    Balances,
    Dashboard,
    SupplierState,
    dashboard,
    supplier_states,
)
from bridge.web.console.errors import back_with_error
from bridge.web.console.lines import redrive, reveal
from bridge.web.console.store import reading
from bridge.web.console.views import said
from workers.fulfilment.queries import fulfilment_detail

# A page that shows credentials must not be kept by the browser or a proxy.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class Page(CustomView):
    def render(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        assert self._admin is not None, "mounted by the admin"
        response = self._admin._template_response(
            request=request, name=name, context=context, status_code=status
        )
        response.headers.update(NO_STORE)
        return response


class LinePage(Page):
    """``/admin/lines/{id}``: a line, its purchase attempts and its audit; reveal, retry, resend."""

    path = "/lines"
    add_to_menu = False

    def __init__(self, engine: Engine, box: SecretBox) -> None:
        super().__init__(
            menu_label=lazy_gettext("Line"), path=self.path, route_name="lines", add_to_menu=False
        )
        self._engine = engine
        self._box = box

    @route("")
    async def index(self, request: Request) -> Response:
        return RedirectResponse(str(request.url_for("admin:list", key="fulfilment")))

    @route("/{fulfilment_id:int}", name="line")
    async def line(self, request: Request) -> Response:
        return await self._show(request, None)

    @route("/{fulfilment_id:int}/reveal", methods=["POST"], name="line_reveal")
    async def reveal(self, request: Request) -> Response:
        fulfilment_id: int = request.path_params["fulfilment_id"]
        try:
            items = await run_in_threadpool(
                reveal,
                self._engine,
                self._box,
                fulfilment_id,
                console_user(request),
                client_address_for_audit(request),
                utcnow(),
            )
        except NotFound:
            return await self._show(request, None)
        event("console.reveal", logging.WARNING, id=fulfilment_id)
        return await self._show(request, items)

    @route("/{fulfilment_id:int}/{action:str}", methods=["POST"], name="line_redrive")
    async def redrive(self, request: Request) -> Response:
        fulfilment_id: int = request.path_params["fulfilment_id"]
        try:
            action = AuditAction(request.path_params["action"])
        except ValueError:
            action = AuditAction.REVEAL  # neither retry nor resend: refused below
        if action not in (AuditAction.RETRY, AuditAction.RESEND):
            return Response("unknown action", status_code=404)
        back = str(request.url_for("admin:line", fulfilment_id=fulfilment_id))
        try:
            outcome = await run_in_threadpool(
                redrive,
                self._engine,
                action,
                fulfilment_id,
                console_user(request),
                client_address_for_audit(request),
                utcnow(),
            )
        except BridgeError as exc:
            return back_with_error(request, exc, back)
        event(f"console.{action}", logging.INFO, id=fulfilment_id, changed=outcome.changed)
        flash(request, said(action, outcome), "success" if outcome.changed else "info")
        return RedirectResponse(back, status_code=303)

    async def _show(self, request: Request, credentials: list[str] | None) -> Response:
        fulfilment_id: int = request.path_params["fulfilment_id"]

        def load() -> tuple[Any, Any, bool]:
            with reading(self._engine) as session:
                detail = fulfilment_detail(session, fulfilment_id)
                line = session.get(Fulfilment, fulfilment_id)
                revealable = line is not None and bool(line.credentials_enc)
                return detail, audit_of(session, fulfilment_id), revealable

        try:
            detail, audit, revealable = await run_in_threadpool(load)
        except NotFound:
            return self.render(
                request,
                "console/missing.html",
                {"what": _("There is no line %(id)s.") % {"id": fulfilment_id}},
                404,
            )
        return self.render(
            request,
            "console/line.html",
            {
                "title": _("Line %(id)s") % {"id": fulfilment_id},
                "detail": detail,
                "audit": audit,
                "credentials": credentials,
                # Reveal is offered only when there is something to reveal.
                "revealable": revealable,
            },
        )


class DashboardPage(Page):
    """``/admin/``: today's lines by state, webhook-to-note times, lines needing attention,
    suppliers, the last stock sync, and lines per hour by state."""

    def __init__(self, engine: Engine, balances: Balances | None, zone: ZoneInfo) -> None:
        super().__init__(
            menu_label=lazy_gettext("Dashboard"), icon="fa fa-gauge", path="/", route_name="index"
        )
        self._engine = engine
        self._balances = balances
        self._zone = zone

    @route("")
    async def index(self, request: Request) -> Response:
        def load() -> Dashboard:
            now = utcnow()
            with reading(self._engine) as session:
                found = dashboard(session, now, self._zone)
                return replace(found, suppliers=supplier_states(session, self._balances, now))

        board = await run_in_threadpool(load)
        return self.render(
            request,
            "console/dashboard.html",
            {"title": _("Dashboard"), "board": board, "groups": GROUPS},
        )


class SuppliersPage(Page):
    """``/admin/suppliers``: balance (as the workers last read it, with its age), health (the
    circuit breaker), limits and clock of each."""

    def __init__(self, engine: Engine, balances: Balances | None) -> None:
        super().__init__(
            menu_label=lazy_gettext("Suppliers"),
            icon="fa fa-truck",
            path="/suppliers",
            route_name="suppliers",
        )
        self._engine = engine
        self._balances = balances

    @route("")
    async def index(self, request: Request) -> Response:
        def load() -> list[SupplierState]:
            with reading(self._engine) as session:
                return supplier_states(session, self._balances, utcnow())

        states = await run_in_threadpool(load)
        return self.render(
            request, "console/suppliers.html", {"title": _("Suppliers"), "suppliers": states}
        )
