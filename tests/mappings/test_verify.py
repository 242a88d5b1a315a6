"""``mappings.verify``: placeholders judged where they are typed, and the demo's own mappings
checked the way `bridge mappings add` checks them (over HTTP, against the simulators)."""

from __future__ import annotations

import pytest

from bridge.dev.demo import (
    CHATGPT,
    INSTANT_PLAN,
    MANUAL_PLAN,
    NETFLIX,
    RETAIL_PRICES,
    add_sample_plans,
)
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.errors import ConfigError
from bridge.pancake.client import PancakeClient
from bridge.supplier.catalogue import read_catalogues
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier
from bridge.web.server import ServerThread
from mappings.check import read_variations
from mappings.verify import (
    ShopVariations,
    check_placeholders,
    margin,
    placeholder_problems,
    verify_typed,
)


@pytest.mark.parametrize(
    ("template", "said"),
    [
        ({"email": "{order.bill_emial}"}, "did you mean {order.bill_email}?"),
        ({"email": "{order.bill_email}"}, None),
        ({"phone": "{order.shipping_address.phone_number}"}, None),
        ({"name": "{order.items.0.variation_info.name}"}, None),
        ({"name": "{order.items.variation_info.name}"}, "items is a list"),
        ({"email": "{oder.bill_email}"}, "{oder.bill_email} is not a placeholder"),
        ({"note": "Khách: {order.bill_full_name} / {order.nope_at_all}"}, "no field nope_at_all"),
        ({"literal": "gói gia đình"}, None),
    ],
)
def test_a_placeholder_no_order_can_fill_is_named(
    template: dict[str, str], said: str | None
) -> None:
    problems = placeholder_problems(template)
    if said is None:
        assert problems == []
        check_placeholders(template)
        return
    [problem] = problems
    assert said in problem
    with pytest.raises(ConfigError, match="the fields template reads what no order has"):
        check_placeholders(template)


def test_the_margin_is_the_retail_price_less_the_plan_times_the_units() -> None:
    assert margin(100_000, 60_000, 2) == -20_000
    assert margin(None, 60_000, 1) is None
    assert margin(100_000, None, 1) is None


def test_the_demo_sells_each_sample_plan_at_a_profit() -> None:
    """What `bridge demo` maps, and `bridge sim supplier` prints, passes `mappings add`'s
    checks without --allow-loss."""
    pancake = PancakeSimulator()
    pancake.add_shop("4", api_key="pk")
    for variation, price in RETAIL_PRICES.items():
        pancake.add_variation("4", variation, name=variation, retail_price=price)
    supplier = add_sample_plans(SupplierSimulator(dialect="full", name="demo"))
    with (
        ServerThread(pancake.app) as pancake_server,
        ServerThread(supplier.app) as supplier_server,
        PancakeClient(pancake_server.url + "/api/v1", "pk") as client,
    ):
        variations = ShopVariations("4", read_variations(client, "4"))
        row = Supplier(
            name="demo", base_url=supplier_server.url + "/api/v1", api_key_enc="", api_secret_enc=""
        )
        with SupplierClient(row.base_url, DEMO_API_KEY, DEMO_API_SECRET) as supplier_client:
            catalogues = read_catalogues([row], lambda _: supplier_client)
        mapped = {NETFLIX: (INSTANT_PLAN, None), CHATGPT: (MANUAL_PLAN, "{order.bill_email}")}
        for variation, (plan_id, email) in mapped.items():
            plan = verify_typed(
                variation_id=variation,
                supplier_name="demo",
                plan_id=plan_id,
                units=1,
                template={"email": email} if email else None,
                catalogues=catalogues,
                variations=variations,
            )
            assert plan is not None
            assert (margin(RETAIL_PRICES[variation], plan.final_price, 1) or 0) > 0
    pancake.close()
