"""The admin library's views of the bridge's tables: lists with search, sort and paging.

Every view is read-only (no create, edit, delete or import): the bridge's state changes only
through its own functions, which the row actions call. The columns are named one by one, so an
encrypted column (``*_enc``) or a password hash can never appear, nor be exported.

Each column is labelled in the request's language (``labels.FIELDS``), a column of a vocabulary
shows its words (the export keeps the stored values), times are in the shop's zone to the
minute, and the columns that matter come first: on a phone they are the ones on screen.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette_admin import row_action
from starlette_admin.actions import link_row_action
from starlette_admin.contrib.sqlmodel import ModelView
from starlette_admin.exceptions import ActionFailed
from starlette_admin.fields import DateTimeField, EnumField, StringField
from starlette_admin.flash import flash
from starlette_admin.i18n import gettext as _
from starlette_admin.i18n import lazy_gettext
from starlette_admin.types import RowActionsDisplayType

from bridge.db import utcnow
from bridge.errors import BridgeError
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.states import FulfilmentState, OrderFailure, OrderState
from bridge.web.console.audit import AuditAction
from bridge.web.console.auth import client_address_for_audit, console_user
from bridge.web.console.errors import error_text
from bridge.web.console.exports import ListGuards
from bridge.web.console.i18n import MOMENT
from bridge.web.console.labels import FIELDS, choices, label
from bridge.web.console.lines import fulfil
from bridge.web.console.models import ConsoleAudit
from workers.alerts.models import Alert
from workers.fulfilment.redrive import Redrive


def columns(names: str, **vocabularies: type[StrEnum]) -> Any:
    """The listed columns (space-separated), as names (the admin library takes those where its
    annotation says field objects); a column of a vocabulary as a field that shows its words."""
    return [
        EnumField(
            name,
            choices_loader=partial(_words, vocabularies[name]),
            coerce=str,
        )
        if name in vocabularies
        else name
        for name in names.split()
    ]


def _words(vocabulary: type[StrEnum], request: Request) -> list[tuple[str, str]]:
    return choices(vocabulary)


class ReadOnlyView(ListGuards, ModelView):
    importers: list[str] = []
    page_size = 25
    row_actions: list[str] | None = ["view"]
    row_actions_display_type = RowActionsDisplayType.INLINE_LINKS
    actions: list[str] | None = []

    def __init__(self, model: type[Any], **options: Any) -> None:
        super().__init__(model, **options)
        for field in self.fields:
            if field.name in FIELDS:
                # Lazy: the label is read at render time, in the request's language.
                field.label = lazy_gettext(FIELDS[field.name])
            if isinstance(field, DateTimeField):
                field.output_format = MOMENT

    def can_create(self, request: Request) -> bool:
        return False

    def can_edit(self, request: Request) -> bool:
        return False

    def can_delete(self, request: Request) -> bool:
        return False

    def can_import(self, request: Request) -> bool:
        return False


def said(action: AuditAction, outcome: Redrive) -> str:
    """What the console tells its user after a retry, resend or fulfil, in their language."""
    if action is AuditAction.FULFIL:
        state = label(outcome.state, OrderState)
        if not outcome.changed:
            return _("Order %(id)s: %(state)s. Nothing to fulfil.") % {
                "id": outcome.id,
                "state": state,
            }
        return _(
            "Order %(id)s: %(state)s. The next sweep reads it, and buys it if Pancake shows it "
            "in a trigger status."
        ) % {"id": outcome.id, "state": state}
    state = label(outcome.state, FulfilmentState)
    if not outcome.changed:
        nothing = {
            AuditAction.RETRY: _("Line %(id)s: %(state)s. Nothing to retry."),
            AuditAction.RESEND: _("Line %(id)s: %(state)s. Nothing to resend."),
        }
        return nothing.get(action, _("Line %(id)s: %(state)s.")) % {
            "id": outcome.id,
            "state": state,
        }
    if action is AuditAction.RESEND:
        return _("Line %(id)s: its codes will be written into the note again.") % {"id": outcome.id}
    return _("Line %(id)s: %(state)s again. The next sweep picks it up.") % {
        "id": outcome.id,
        "state": state,
    }


class FulfilmentView(ReadOnlyView):
    """The lines. Each opens its one page (``/admin/lines/{id}``: the line, its attempts, its
    audit, and the Retry, Resend and Reveal buttons): the library's own detail page is off."""

    # State, reason and the Open link first (a phone shows them), then what identifies it.
    fields = columns(
        "state reason order_id item_name quantity supplier_name plan_id trans_id id shop_id "
        "last_error delivered_count annotated_count failures created_at updated_at",
        state=FulfilmentState,
    )
    # What a 1280 px screen shows whole: the line's own page has the rest.
    exclude_fields_from_list = [
        "id",
        "quantity",
        "shop_id",
        "last_error",
        "delivered_count",
        "annotated_count",
        "failures",
        "created_at",
    ]
    searchable_fields = ["order_id", "item_name", "state", "supplier_name", "trans_id", "reason"]
    sortable_fields = ["id", "state", "supplier_name", "created_at", "updated_at"]
    fields_default_sort = [("id", True)]
    row_actions = ["open"]
    row_click_navigate = False

    def __init__(self, engine: Engine) -> None:
        super().__init__(
            Fulfilment,
            icon="fa fa-list-check",
            menu_label=lazy_gettext("Fulfilments"),
            display_name=lazy_gettext("Fulfilments"),
        )
        self._engine = engine

    def can_view_detail(self, request: Request) -> bool:
        return False  # a line has one page: the console's own

    @link_row_action(name="open", text=lazy_gettext("Open"), icon_class="fa fa-folder-open")
    def open_row_action(self, request: Request, pk: Any) -> str:
        return str(request.url_for("admin:line", fulfilment_id=int(pk)))


class OrderView(ReadOnlyView):
    fields = columns(
        "state failure_kind order_id shop_id item_count last_error id failures failed_at "
        "placed_at predates_shop fulfil_asked_by fulfil_asked_at created_at updated_at",
        state=OrderState,
        failure_kind=OrderFailure,
    )
    exclude_fields_from_list = ["predates_shop", "fulfil_asked_at", "failures", "created_at"]
    searchable_fields = ["order_id", "state", "last_error"]
    sortable_fields = ["id", "state", "placed_at", "updated_at"]
    fields_default_sort = [("updated_at", True)]
    row_actions = ["view", "fulfil"]

    def __init__(self, engine: Engine) -> None:
        super().__init__(
            Order,
            icon="fa fa-receipt",
            menu_label=lazy_gettext("Orders"),
            display_name=lazy_gettext("Orders"),
        )
        self._engine = engine

    @row_action(
        name="fulfil",
        text=lazy_gettext("Fulfil"),
        confirmation=lazy_gettext(
            "Buy this order although it was created before the shop fulfils from? It is "
            "bought if Pancake shows it in a trigger status, each line once."
        ),
        icon_class="fa fa-cart-shopping",
        submit_btn_text=lazy_gettext("Fulfil"),
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


class AlertView(ReadOnlyView):
    fields = [
        # A plain text column (searchable), shown in words.
        StringField(
            "kind",
            list_template="console/fields/alert_kind.html",
            detail_template="console/fields/alert_kind.html",
        ),
        *columns("subject message count resolved last_seen_at id created_at"),
    ]
    searchable_fields = ["kind", "subject", "message"]
    sortable_fields = ["id", "kind", "last_seen_at"]
    fields_default_sort = [("last_seen_at", True)]

    def __init__(self) -> None:
        super().__init__(
            Alert,
            icon="fa fa-bell",
            menu_label=lazy_gettext("Alerts"),
            display_name=lazy_gettext("Alerts"),
        )


class AuditView(ReadOnlyView):
    fields = columns("at username action fulfilment_id order_pk address id", action=AuditAction)
    searchable_fields = ["username", "action"]
    sortable_fields = ["id", "at", "username", "action", "fulfilment_id"]
    fields_default_sort = [("id", True)]

    def __init__(self) -> None:
        super().__init__(
            ConsoleAudit,
            icon="fa fa-user-shield",
            menu_label=lazy_gettext("Audit"),
            display_name=lazy_gettext("Audit"),
        )


def model_views(engine: Engine) -> list[ModelView]:
    """The lists. The suppliers have no list here: the Suppliers page shows their rows with
    their live state (one entry in the menu)."""
    return [FulfilmentView(engine), OrderView(engine), AlertView(), AuditView()]
