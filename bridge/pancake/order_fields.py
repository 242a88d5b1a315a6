"""The fields a Pancake order has, for checking a mapping's ``{order.<path>}`` placeholders when
they are typed rather than when an order finds them empty.

The names are the order's fields as the POS API docs list them (``GET /shops/<id>/orders/<id>``,
"Parameter Type Description"), with those the docs' own sample, live payloads and the webhook
bodies add. Pancake adds fields freely, so a field missing here is a name to add, not proof the
order lacks it; every field a placeholder can usefully read (the buyer's name, phone, e-mail,
address, the items) is here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

# Top-level fields of an order.
ORDER_FIELDS = frozenset(
    {
        # the docs' field table
        "account",
        "activated_combo_products",
        "advanced_platform_fee",
        "assigning_care",
        "assigning_care_id",
        "assigning_seller",
        "assigning_seller_id",
        "bank_transfer_images",
        "bill_email",
        "bill_full_name",
        "bill_phone_number",
        "call_laters",
        "cash",
        "charged_by_card",
        "charged_by_fundiin",
        "charged_by_kredivo",
        "charged_by_momo",
        "charged_by_qrpay",
        "charged_by_vnpay",
        "cod",
        "cost_surcharge",
        "creator",
        "creator_id",
        "custom_id",
        "customer",
        "customer_pay_fee",
        "customer_referral_code",
        "discount",
        "discount_by_customer_level",
        "duplicated_customer",
        "duplicated_phone",
        "einvoices",
        "estimate_delivery_date",
        "histories",
        "id",
        "inserted_at",
        "is_free_shipping",
        "is_from_ecommerce",
        "is_linked_partner",
        "is_locked",
        "items",
        "last_editor",
        "last_editor_id",
        "last_update_status_at",
        "lock_order_by_user",
        "marketer",
        "money_to_collect",
        "note",
        "note_image",
        "note_print",
        "order_currency",
        "order_returned_ids",
        "order_sources",
        "page_id",
        "partner",
        "partner_fee",
        "pke_mkter",
        "printing_count",
        "received_at_shop",
        "returned_reason",
        "shipping_address",
        "shipping_fee",
        "shop_customer_address_id",
        "shop_customer_id",
        "shop_id",
        "status",
        "status_history",
        "surcharge",
        "tags",
        "tax",
        "time_assign_care",
        "time_assign_marketer",
        "time_send_partner",
        "total_discount",
        "total_price",
        "total_quantity",
        "transfer_money",
        "updated_at",
        "viewing",
        "warehouse_id",
        "warehouse_info",
        # live payloads and webhook bodies
        "event_type",
        "fee_marketplace",
        "marketplace_id",
        "order_sources_name",
        "status_name",
        "system_id",
        "total_price_after_sub_discount",
        "type",
    }
)
# Fields that hold a list: a placeholder reads one element by its index (``items.0.…``).
LIST_FIELDS = frozenset(
    {
        "activated_combo_products",
        "bank_transfer_images",
        "call_laters",
        "einvoices",
        "histories",
        "items",
        "note_image",
        "status_history",
        "tags",
        "viewing",
    }
)


@dataclass(frozen=True)
class UnknownField:
    """A placeholder path an order cannot fill; ``suggestion`` is the close field name, if any."""

    path: str
    reason: str
    suggestion: str | None = None


def unknown_field(path: str) -> UnknownField | None:
    """Why ``{order.<path>}`` can never be filled from an order, or None when it can.

    Checked: the first name is a field of an order, and a list field is read by an index.
    Deeper names are left alone (what a nested object holds varies with the order's source).
    """
    first, _, rest = path.partition(".")
    if first not in ORDER_FIELDS:
        close = difflib.get_close_matches(first, sorted(ORDER_FIELDS), n=1, cutoff=0.75)
        suggestion = close[0] + (f".{rest}" if rest else "") if close else None
        return UnknownField(path, f"an order has no field {first}", suggestion)
    if first in LIST_FIELDS and rest:
        index = rest.partition(".")[0]
        if not index.isdigit():
            return UnknownField(
                path,
                f"{first} is a list: name an element by its index, e.g. {first}.0",
                f"{first}.0.{rest}",
            )
    return None
