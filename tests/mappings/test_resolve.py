from __future__ import annotations

import pytest

from mappings.resolve import MissingField, lookup, placeholders, render_fields

ORDER = {
    "bill_email": "buyer@example.com",
    "bill_full_name": "Tran Thi B",
    "shipping_address": {"phone_number": "0900000000"},
    "items": [{"variation_info": {"name": "Netflix"}}],
    "note": "",
}


def test_placeholders_are_filled_from_the_order_and_literals_pass_through() -> None:
    template = {
        "email": "{order.bill_email}",
        "greeting": "Hi {order.bill_full_name}!",
        "phone": "{order.shipping_address.phone_number}",
        "product": "{order.items.0.variation_info.name}",
        "plan": "premium",
        "months": 3,
    }
    assert render_fields(template, ORDER) == {
        "email": "buyer@example.com",
        "greeting": "Hi Tran Thi B!",
        "phone": "0900000000",
        "product": "Netflix",
        "plan": "premium",
        "months": "3",
    }


@pytest.mark.parametrize("path", ["note", "customer.email", "items.5.name", "bill_email.x"])
def test_a_placeholder_without_a_value_names_the_field(path: str) -> None:
    with pytest.raises(MissingField) as caught:
        render_fields({"login": f"{{order.{path}}}"}, ORDER)
    assert caught.value.field == "login"
    assert str(caught.value).startswith("missing field: login")
    assert path in str(caught.value)


def test_no_template_means_no_fields() -> None:
    assert render_fields(None, ORDER) is None
    assert render_fields({}, ORDER) is None


def test_lookup_and_placeholders() -> None:
    assert lookup(ORDER, "shipping_address.phone_number") == "0900000000"
    assert lookup(ORDER, "items.x") is None
    assert placeholders({"a": "{order.x} and {order.y.z}", "b": "lit"}) == ["x", "y.z"]
