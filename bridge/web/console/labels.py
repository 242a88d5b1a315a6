"""Every value of the bridge's vocabularies, and every field, in the words the console shows.

One place: the list pages, the line page, the dashboard and the audit trails all call ``label``
and ``field_label``. The words here are English; the Vietnamese are in the catalogue
(``translations/vi/LC_MESSAGES/admin.po``), looked up at render time in the request's language.
A value without a label here, or a label without a Vietnamese translation, fails a test.
"""

from __future__ import annotations

import json
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from starlette_admin.i18n import gettext

from bridge.states import (
    LINE_STATE_WORDS,
    ORDER_STATE_WORDS,
    OUTCOME_WORDS,
    AttemptOutcome,
    FulfilmentState,
    OrderFailure,
    OrderState,
)
from bridge.supplier.vocabulary import SupplierStatus
from bridge.web.console.audit import AuditAction
from bridge.web.console.dashboard import Group, Health
from bridge.web.console.i18n import language_name, moment, zone_label
from mappings.audit import Action as MappingAction
from mappings.repository import amount_text


def N_(message: str) -> str:
    """Marks a message for the catalogue; translated where it is shown (``gettext``)."""
    return message


VOCABULARIES: dict[type[StrEnum], dict[str, str]] = {
    FulfilmentState: LINE_STATE_WORDS,
    OrderState: ORDER_STATE_WORDS,
    OrderFailure: {
        OrderFailure.PANCAKE_KEY: N_("Pancake refused the shop's key"),
        OrderFailure.PANCAKE_REFUSED: N_("Pancake refused the order"),
        OrderFailure.PANCAKE_UNAVAILABLE: N_("Pancake did not answer"),
        OrderFailure.OUT_OF_RANGE: N_("Impossible values"),
        OrderFailure.UNEXPECTED: N_("Unexpected error"),
        OrderFailure.SHOP_REMOVED: N_("Shop removed"),
    },
    AttemptOutcome: OUTCOME_WORDS,
    SupplierStatus: {
        SupplierStatus.PENDING: N_("Not started (delivered by hand)"),
        SupplierStatus.PROCESSING: N_("Being prepared"),
        SupplierStatus.COMPLETED: N_("Completed"),
        SupplierStatus.CANCELLED: N_("Cancelled by the supplier"),
        SupplierStatus.CANCELLED_NO_REFUND: N_("Cancelled, money not refunded"),
        SupplierStatus.REFUNDED: N_("Refunded to the balance"),
    },
    AuditAction: {
        AuditAction.REVEAL: N_("Revealed the codes"),
        AuditAction.RETRY: N_("Retried"),
        AuditAction.RESEND: N_("Resent to the note"),
        AuditAction.FULFIL: N_("Fulfilled the order"),
    },
    MappingAction: {
        MappingAction.ADD: N_("Added"),
        MappingAction.EDIT: N_("Changed"),
        MappingAction.REMOVE: N_("Removed"),
        MappingAction.ENABLE: N_("Turned on"),
        MappingAction.DISABLE: N_("Turned off"),
    },
    Health: {
        Health.OK: N_("Working"),
        Health.FAILING: N_("Failing"),
        Health.PAUSED: N_("Paused after failures"),
        Health.DISABLED: N_("Turned off"),
    },
    Group: {
        Group.DONE: N_("Done"),
        Group.IN_PROGRESS: N_("In progress"),
        Group.ATTENTION: N_("Needs a person"),
        Group.CANCELLED: N_("Cancelled"),
    },
}

# The columns and fields the console shows, by their name in the tables (and in the mapping
# audit's snapshots).
FIELDS: dict[str, str] = {
    "id": N_("ID"),
    "order_id": N_("Order"),
    "order_pk": N_("Order (internal no.)"),
    "shop_id": N_("Shop"),
    "item_name": N_("Item"),
    "variation_id": N_("Variation"),
    "quantity": N_("Quantity"),
    "state": N_("State"),
    "supplier_name": N_("Supplier"),
    "plan_id": N_("Plan"),
    "supplier_quantity": N_("Units bought"),
    "trans_id": N_("Supplier order no."),
    "supplier_status": N_("Supplier's status"),
    "reason": N_("Reason"),
    "last_error": N_("Last error"),
    "delivered_count": N_("Codes received"),
    "annotated_count": N_("Codes in the note"),
    "failures": N_("Failed tries"),
    "created_at": N_("Created"),
    "updated_at": N_("Last change"),
    "item_count": N_("Items"),
    "failure_kind": N_("Why it failed"),
    "failed_at": N_("Failed at"),
    "placed_at": N_("Placed"),
    "predates_shop": N_("Older than the shop"),
    "fulfil_asked_by": N_("Fulfilment asked by"),
    "fulfil_asked_at": N_("Fulfilment asked at"),
    "kind": N_("Kind"),
    "subject": N_("About"),
    "message": N_("Message"),
    "count": N_("Times"),
    "resolved": N_("Resolved"),
    "last_seen_at": N_("Last seen"),
    "at": N_("When"),
    "username": N_("Who"),
    "action": N_("What"),
    "fulfilment_id": N_("Line"),
    "address": N_("From address"),
    "units": N_("Units per item"),
    "fields_template": N_("Order fields sent"),
    "priority": N_("Priority"),
    "enabled": N_("On"),
    "stock_sync": N_("Sync Pancake stock"),
    "manual_stock": N_("Manual plans' stock"),
    "max_cost": N_("Max cost per item"),
    "checked_price": N_("Price when saved"),
    "name": N_("Name"),
}


def label(value: object, vocabulary: type[StrEnum] = FulfilmentState) -> str:
    """``value`` of ``vocabulary`` in the request's language ("" for none; a value the
    vocabulary does not know, as it is)."""
    if value is None:
        return ""
    text = str(value)
    words = VOCABULARIES[vocabulary]
    return gettext(words[text]) if text in words else text


def field_label(name: str) -> str:
    return gettext(FIELDS[name]) if name in FIELDS else name


def choices(vocabulary: type[StrEnum]) -> list[tuple[str, str]]:
    """(value, label) pairs for a list page's column and its filter, in the request's language."""
    return [(value, gettext(words)) for value, words in VOCABULARIES[vocabulary].items()]


def shown(value: object) -> str:
    """A stored value as ``bridge mappings history`` prints it: yes/no, JSON (not Python's
    ``{'email': ...}``), amounts without ``.0``; "" for none (an empty cell stays empty)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        return amount_text(value)
    return str(value)


# Alerts the workers raise under a fixed kind; a supplier's own error codes are kinds too (an
# open set), shown in words made from the code.
ALERT_KINDS: dict[str, str] = {
    "needs_attention": N_("A line needs a person"),
    "order_failed": N_("An order failed"),
    "note_failed": N_("The note could not be written"),
    "supplier_paused": N_("Supplier paused"),
    "cancelled_after_purchase": N_("Cancelled after it was bought"),
    "late_purchase": N_("Bought late"),
    "insufficient_balance": N_("Supplier balance too low"),
    "redirected": N_("Supplier moved"),
}


def alert_kind(kind: str | None) -> str:
    if not kind:
        return ""
    if kind in ALERT_KINDS:
        return gettext(ALERT_KINDS[kind])
    return kind.replace("_", " ").capitalize()


# What every template may call (the admin library's too: a column shown in words).
TEMPLATE_HELPERS: dict[str, Any] = {
    "moment": moment,
    "zone_label": zone_label,
    "label": label,
    "field_label": field_label,
    "shown": shown,
    "alert_kind": alert_kind,
    "get_locale_display_name": language_name,  # the library's switcher's names, replaced
    "V": SimpleNamespace(
        fulfilment=FulfilmentState,
        order=OrderState,
        failure=OrderFailure,
        attempt=AttemptOutcome,
        supplier_status=SupplierStatus,
        audit=AuditAction,
        mapping=MappingAction,
        health=Health,
        group=Group,
    ),
}
