"""Is a choice too dear now (``mappings.resolve.too_dear``), and the amounts it is judged by: the
order's retail price, the supplier's final amount, an amount typed by an operator."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.supplier.models import PlanShelf
from bridge.supplier.schemas import CreateResult
from mappings.commands import check_values
from mappings.models import MappingChoice
from mappings.repository import amount_text, parse_amount
from mappings.resolve import retail_price, too_dear

READ_AT = datetime(2026, 12, 7, 9, 15, tzinfo=UTC)
VARIATION = "415040f4-ab63-465e-8699-e9ebfff4c6c7"


def choice(
    *, max_cost: float | None = None, checked_price: float | None = 75_000, units: int = 1
) -> MappingChoice:
    return MappingChoice(
        id=12,
        shop_id="4",
        variation_id=VARIATION,
        supplier_name="caoshop",
        plan_id=319,
        units=units,
        max_cost=max_cost,
        checked_price=checked_price,
    )


def reading(price: float | None) -> PlanShelf:
    return PlanShelf(
        supplier_name="caoshop",
        plan_id=319,
        is_instant=True,
        stock_count=50,
        in_stock=True,
        final_price=price,
        read_at=READ_AT,
    )


def test_a_price_risen_above_the_max_cost_is_too_dear_and_says_from_what_to_what() -> None:
    said = too_dear(choice(max_cost=100_000), reading(120_000), retail=150_000)
    assert said is not None
    assert said.startswith(
        "price rose from 75,000 to 120,000 at the catalogue read of 2026-12-07 09:15 UTC, "
        "above the max cost 100,000;"
    )
    assert "`bridge mappings edit --choice 12 --max-cost AMOUNT`" in said


def test_without_a_max_cost_the_retail_price_is_the_limit() -> None:
    said = too_dear(choice(), reading(120_000), retail=100_000)
    assert said is not None
    assert "above the max cost 100,000 (the Pancake retail price)" in said
    assert too_dear(choice(), reading(99_000), retail=100_000) is None
    # The choice's own max cost wins over the retail price, either way.
    assert too_dear(choice(max_cost=130_000), reading(120_000), retail=100_000) is None
    assert too_dear(choice(max_cost=90_000), reading(95_000), retail=100_000) is not None


@pytest.mark.parametrize(
    ("price", "dear"),
    [(100_000, False), (100_000.004, False), (100_000.01, True), (100_001, True)],
)
def test_a_price_equal_to_the_max_cost_is_within_it(price: float, dear: bool) -> None:
    """Prices are decimal strings read as floats: half a cent of slack, no more."""
    assert (too_dear(choice(max_cost=100_000), reading(price), retail=None) is not None) is dear


def test_nothing_known_is_no_reason_to_refuse() -> None:
    assert too_dear(choice(max_cost=100_000), None, retail=100_000) is None  # never read
    assert too_dear(choice(max_cost=100_000), reading(None), retail=100_000) is None  # no price
    assert too_dear(choice(), reading(1_000_000), retail=None) is None  # no limit known


def test_the_cost_of_an_item_is_the_plans_price_times_its_units() -> None:
    """Spotify: 2 supplier units per POS item, 60,000 each, sold at 100,000."""
    said = too_dear(choice(units=2, checked_price=45_000), reading(60_000), retail=100_000)
    assert said is not None
    assert said.startswith("price rose from 45,000 to 60,000 (x 2 units: 120,000)")
    assert too_dear(choice(units=2, checked_price=45_000), reading(50_000), 100_000) is None


def test_a_price_that_did_not_rise_is_named_as_it_is() -> None:
    """The max cost was lowered under the price (or the choice was saved unchecked)."""
    lowered = too_dear(choice(max_cost=70_000), reading(75_000), retail=100_000)
    assert lowered is not None
    assert lowered.startswith("price 75,000 at the catalogue read")
    unchecked = too_dear(choice(checked_price=None), reading(120_000), retail=100_000)
    assert unchecked is not None
    assert unchecked.startswith("price 120,000 at")


def test_fractional_prices_are_shown_with_their_cents() -> None:
    said = too_dear(choice(max_cost=100_000, checked_price=99_999.5), reading(100_000.5), None)
    assert said is not None
    assert said.startswith("price rose from 99,999.50 to 100,000.50")


def order(*items: dict[str, Any]) -> dict[str, Any]:
    return {"id": 7, "items": list(items)}


def item(variation_id: str = VARIATION, price: object = 100_000) -> dict[str, Any]:
    return {"variation_id": variation_id, "quantity": 1, "variation_info": {"retail_price": price}}


def test_the_retail_price_is_the_orders_own_item_price() -> None:
    assert retail_price(order(item("other", 50_000), item(price=120_000)), VARIATION) == 120_000
    assert retail_price(order(item(price=99_500.5)), VARIATION) == 99_500.5


@pytest.mark.parametrize(
    "snapshot",
    [
        {},  # no snapshot at all
        order(),
        order(item("other")),
        order(item(price=0)),  # a price nobody set is no limit
        order(item(price=None)),
        order(item(price="100000")),  # Pancake sends numbers; text is not guessed at
        order(item(price=True)),
        order({"variation_id": VARIATION, "quantity": 1}),  # no variation_info
        {"items": "not a list"},
    ],
)
def test_an_order_that_names_no_retail_price_gives_none(snapshot: dict[str, Any]) -> None:
    assert retail_price(snapshot, VARIATION) is None


def test_the_amount_recorded_is_what_was_paid_after_the_discount() -> None:
    """The real server's create answer: ``total`` before the per-user discount,
    ``final_amount`` after it. The docs' samples have ``total`` only."""
    real = CreateResult.model_validate(
        {
            "orders": [
                {
                    "trans_id": "KX7RQ2M",
                    "status": "completed",
                    "unit_price": "100000.00",
                    "total": "200000.00",
                    "discount": "10000.00",
                    "final_amount": "190000.00",
                }
            ]
        }
    )
    assert real.orders[0].total == 190_000
    docs = CreateResult.model_validate(
        {"orders": [{"trans_id": "PO8153690", "status": "completed", "total": 150_000}]}
    )
    assert docs.orders[0].total == 150_000


def test_an_amount_typed_by_an_operator() -> None:
    assert parse_amount("95000") == 95_000
    assert parse_amount(" 99.5 ") == 99.5
    assert parse_amount("") is None
    assert parse_amount(None) is None
    for text in ("95,000", "95.000,5", "abc"):
        with pytest.raises(ConfigError, match="no separators"):
            parse_amount(text, "max_cost")
    for value in (0.0, -5.0, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="max cost must be a positive amount"):
            check_values(max_cost=value)
    assert (amount_text(100_000.0), amount_text(99.5), amount_text(None)) == ("100000", "99.5", "")
