"""The admin library's views of the bridge's tables: lists with search, sort and paging.

Every view is read-only (no create, edit, delete or import): the bridge's state changes only
through its own functions, which the row actions call. The columns are named one by one, so an
encrypted column (``*_enc``) or a password hash can never appear, nor be exported.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette_admin import row_action
from starlette_admin.actions import link_row_action
from starlette_admin.contrib.sqlmodel import ModelView
from starlette_admin.exceptions import ActionFailed
from starlette_admin.flash import flash

from bridge.db import utcnow
from bridge.errors import BridgeError
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.supplier.models import Supplier
from bridge.web.console.audit import AuditAction
from bridge.web.console.auth import client_address_for_audit, console_user
from bridge.web.console.errors import error_text
from bridge.web.console.lines import fulfil, redrive
from bridge.web.console.models import ConsoleAudit
from workers.alerts.models import Alert
from workers.fulfilment.redrive import Redrive


def columns(names: str) -> Any:
    """The listed columns (space-separated), as names: the admin library takes those where its
    annotation says field objects."""
    return names.split()


class ReadOnlyView(ModelView):
    exporters = ["csv"]
    importers: list[str] = []
    page_size = 25
    row_actions: list[str] | None = ["view"]
    actions: list[str] | None = []

    def can_create(self, request: Request) -> bool:
        return False

    def can_edit(self, request: Request) -> bool:
        return False

    def can_delete(self, request: Request) -> bool:
        return False

    def can_import(self, request: Request) -> bool:
        return False


def said(action: AuditAction, outcome: Redrive) -> str:
    if action is AuditAction.FULFIL:
        if not outcome.changed:
            return f"Order {outcome.id} is {outcome.state}: nothing to fulfil."
        return (
            f"Order {outcome.id} is {outcome.state}; the next sweep reads it, and buys it if "
            "Pancake shows it in a trigger status."
        )
    if not outcome.changed:
        return f"Line {outcome.id} is {outcome.state}: nothing to {action}."
    if action is AuditAction.RESEND:
        return f"Line {outcome.id}: its credentials will be written into the note again."
    return f"Line {outcome.id} is {outcome.state} again; the next sweep picks it up."


class FulfilmentView(ReadOnlyView):
    fields = columns(
        "id order_id shop_id item_name quantity state supplier_name plan_id trans_id "
        "reason last_error delivered_count annotated_count failures created_at updated_at"
    )
    exclude_fields_from_list = ["shop_id", "last_error", "annotated_count", "failures"]
    searchable_fields = ["order_id", "item_name", "state", "supplier_name", "trans_id", "reason"]
    sortable_fields = ["id", "state", "supplier_name", "created_at", "updated_at"]
    fields_default_sort = [("id", True)]
    row_actions = ["view", "open", "retry", "resend"]

    def __init__(self, engine: Engine) -> None:
        super().__init__(
            Fulfilment,
            icon="fa fa-list-check",
            menu_label="Fulfilments",
            display_name="Fulfilments",
        )
        self._engine = engine

    @link_row_action(name="open", text="Credentials and attempts", icon_class="fa fa-key")
    def open_row_action(self, request: Request, pk: Any) -> str:
        return str(request.url_for("admin:line", fulfilment_id=int(pk)))

    @row_action(
        name="retry",
        text="Retry",
        confirmation="Buy this line again from where it stopped (e.g. after a balance top-up)?",
        icon_class="fa fa-rotate-right",
        submit_btn_text="Retry",
    )
    async def retry_row_action(self, request: Request, pk: Any) -> None:
        await self._redrive(request, AuditAction.RETRY, pk)

    @row_action(
        name="resend",
        text="Resend to the note",
        confirmation="Write this line's stored credentials into the Pancake note where missing?",
        icon_class="fa fa-paper-plane",
        submit_btn_text="Resend",
    )
    async def resend_row_action(self, request: Request, pk: Any) -> None:
        await self._redrive(request, AuditAction.RESEND, pk)

    async def _redrive(self, request: Request, action: AuditAction, pk: Any) -> None:
        try:
            outcome = await run_in_threadpool(
                redrive,
                self._engine,
                action,
                int(pk),
                console_user(request),
                client_address_for_audit(request),
                utcnow(),
            )
        except BridgeError as exc:
            raise ActionFailed(error_text(exc)) from None
        event(f"console.{action}", logging.INFO, id=int(pk), changed=outcome.changed)
        flash(request, said(action, outcome), "success" if outcome.changed else "info")


class OrderView(ReadOnlyView):
    fields = columns(
        "id shop_id order_id state item_count failures last_error failure_kind failed_at "
        "placed_at predates_shop fulfil_asked_by fulfil_asked_at created_at updated_at"
    )
    exclude_fields_from_list = ["predates_shop", "fulfil_asked_at"]
    searchable_fields = ["order_id", "state", "last_error"]
    sortable_fields = ["id", "state", "placed_at", "updated_at"]
    fields_default_sort = [("updated_at", True)]
    row_actions = ["view", "fulfil"]

    def __init__(self, engine: Engine) -> None:
        super().__init__(Order, icon="fa fa-receipt", display_name="Orders")
        self._engine = engine

    @row_action(
        name="fulfil",
        text="Fulfil",
        confirmation=(
            "Buy this order although it was created before the shop fulfils from? It is "
            "bought if Pancake shows it in a trigger status, each line once."
        ),
        icon_class="fa fa-cart-shopping",
        submit_btn_text="Fulfil",
    )
    async def fulfil_row_action(self, request: Request, pk: Any) -> None:
        try:
            outcome = await run_in_threadpool(
                fulfil,
                self._engine,
                int(pk),
                console_user(request),
                client_address_for_audit(request),
                utcnow(),
            )
        except BridgeError as exc:
            raise ActionFailed(error_text(exc)) from None
        event("console.fulfil", logging.INFO, id=int(pk), changed=outcome.changed)
        flash(request, said(AuditAction.FULFIL, outcome), "success" if outcome.changed else "info")


class SupplierView(ReadOnlyView):
    """The suppliers' rows as stored; their live balance and budget are on the Suppliers page."""

    fields = columns(
        "name base_url enabled failure_streak paused_until last_failure rate_limit "
        "daily_limit key_expires_at account_read_at created_at"
    )
    searchable_fields = ["name", "base_url"]

    def __init__(self) -> None:
        super().__init__(
            Supplier, icon="fa fa-store", menu_label="Supplier rows", display_name="Supplier rows"
        )


class AlertView(ReadOnlyView):
    fields = columns("id kind subject message count resolved created_at last_seen_at")
    searchable_fields = ["kind", "subject", "message"]
    sortable_fields = ["id", "kind", "last_seen_at"]
    fields_default_sort = [("last_seen_at", True)]

    def __init__(self) -> None:
        super().__init__(Alert, icon="fa fa-bell", display_name="Alerts")


class AuditView(ReadOnlyView):
    fields = columns("id at username action fulfilment_id order_pk address")
    searchable_fields = ["username", "action"]
    sortable_fields = ["id", "at", "username", "action", "fulfilment_id"]
    fields_default_sort = [("id", True)]

    def __init__(self) -> None:
        super().__init__(
            ConsoleAudit, icon="fa fa-user-shield", menu_label="Audit", display_name="Audit"
        )


def model_views(engine: Engine) -> list[ModelView]:
    return [FulfilmentView(engine), OrderView(engine), AlertView(), SupplierView(), AuditView()]
