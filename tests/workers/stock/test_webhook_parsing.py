"""The fields a stock webhook carries, in the shapes Pancake sends them."""

from __future__ import annotations

import json

import pytest

from bridge.pancake.webhooks import STOCK_TYPE, parse_webhook
from tests.conftest import FIXTURES

FLAT = json.loads((FIXTURES / "pancake" / "variations_warehouses__sale.json").read_text())


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(FLAT, id="flat"),
        pytest.param({"data": {"record": FLAT}, "success": True}, id="data.record"),
        pytest.param({**FLAT, "remain_quantity": "1"}, id="quantity as a string"),
    ],
)
def test_stock_webhooks_yield_variation_warehouse_and_quantity(body: dict[str, object]) -> None:
    hook = parse_webhook(json.dumps(body).encode())

    assert hook.kind == STOCK_TYPE
    assert hook.variation_id == "1996b3cd-fd72-4bd8-8889-a7f387821368"
    assert hook.warehouse_id == "77cbe2d5-6e65-4220-9c57-5d5d34f847e2"
    assert hook.remain_quantity == 1
    assert hook.order_id is None, "the sale's order_id is not an order webhook's id"


def test_a_stock_webhook_missing_its_fields_parses_with_none() -> None:
    hook = parse_webhook(json.dumps({"type": STOCK_TYPE, "variation_id": 7}).encode())

    assert (hook.variation_id, hook.warehouse_id, hook.remain_quantity) == ("7", None, None)
