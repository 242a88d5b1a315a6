"""The sellable quantity of one variation, from a snapshot of its suppliers (no I/O)."""

from __future__ import annotations

import gc

import pytest

from workers.stock.sellable import Choice, Plans, PlanStock, SupplierSnapshot, sellable

NETFLIX = PlanStock(is_instant=True, stock_count=50, in_stock=True, final_price=75_000)
SPOTIFY = PlanStock(is_instant=True, stock_count=31, in_stock=True, final_price=60_000)
CHATGPT = PlanStock(is_instant=False, stock_count=0, in_stock=True, final_price=450_000)
RICH = 10_000_000.0


def supplier(name: str, *, balance: float = RICH, **plans: PlanStock) -> SupplierSnapshot:
    return SupplierSnapshot(name, balance=balance, plans={int(k[1:]): p for k, p in plans.items()})


CAOSHOP = supplier("cao", p319=NETFLIX, p331=SPOTIFY, p320=CHATGPT)
SHOPKEY = supplier("key", p77=SPOTIFY)
SUPPLIERS = {"cao": CAOSHOP, "key": SHOPKEY}


def test_one_instant_choice_sells_its_stock_divided_by_units() -> None:
    assert sellable([Choice("cao", 319)], SUPPLIERS, {}).quantity == 50
    assert sellable([Choice("cao", 331, units=2)], SUPPLIERS, {}).quantity == 15  # floor(31/2)


def test_choices_add_up_each_divided_by_its_own_units() -> None:
    result = sellable([Choice("cao", 319), Choice("key", 77, units=3)], SUPPLIERS, {})

    assert result.quantity == 50 + 10
    assert result.supplier_stock == "cao/319: 50; key/77: 31"


def test_reserved_units_come_off_the_plan_before_dividing() -> None:
    reserved = {("cao", 331): 5}

    result = sellable([Choice("cao", 331, units=2)], SUPPLIERS, reserved)

    assert result.quantity == 13  # floor((31 - 5) / 2)
    assert "5 reserved" in result.supplier_stock
    assert sellable([Choice("cao", 319)], SUPPLIERS, {("cao", 319): 80}).quantity == 0


def test_the_shop_buffer_is_kept_back_once_per_variation_never_below_zero() -> None:
    choices = [Choice("cao", 319), Choice("key", 77)]
    assert sellable(choices, SUPPLIERS, {}, buffer=3).quantity == 78
    assert sellable([Choice("cao", 319)], SUPPLIERS, {}, buffer=60).quantity == 0


def test_a_paused_or_missing_supplier_counts_zero() -> None:
    paused = {"cao": SupplierSnapshot("cao", paused=True), "key": SHOPKEY}

    assert sellable([Choice("cao", 319)], paused, {}).quantity == 0
    assert sellable([Choice("cao", 319), Choice("key", 77)], paused, {}).quantity == 31
    assert sellable([Choice("gone", 1)], SUPPLIERS, {}).quantity == 0


def test_a_supplier_that_could_not_be_read_leaves_the_variation_alone() -> None:
    down = {"cao": SupplierSnapshot("cao", error="SupplierUnreachable"), "key": SHOPKEY}

    result = sellable([Choice("key", 77), Choice("cao", 319)], down, {})

    assert result.quantity is None
    assert "cao unavailable" in result.why


def test_a_balance_that_cannot_pay_one_item_counts_zero_and_a_low_one_caps() -> None:
    poor = {"cao": supplier("cao", balance=74_999, p319=NETFLIX)}
    some = {"cao": supplier("cao", balance=150_000, p319=NETFLIX)}
    per_item = {"cao": supplier("cao", balance=150_000, p331=SPOTIFY)}

    assert sellable([Choice("cao", 319)], poor, {}).quantity == 0
    assert sellable([Choice("cao", 319)], some, {}).quantity == 2
    # One POS item costs units x price: 150,000 pays for one item of 2 x 60,000.
    assert sellable([Choice("cao", 331, units=2)], per_item, {}).quantity == 1


def test_a_plan_out_of_stock_or_gone_from_the_catalogue_counts_zero() -> None:
    empty = PlanStock(is_instant=True, stock_count=0, in_stock=False, final_price=1)
    snapshot = {"cao": supplier("cao", p1=empty)}

    assert sellable([Choice("cao", 1)], snapshot, {}).quantity == 0
    assert sellable([Choice("cao", 999)], snapshot, {}).quantity == 0


@pytest.mark.parametrize(("manual_stock", "expected"), [(None, None), (5, 5), (0, 0)])
def test_a_manual_plan_follows_the_mapping_policy(
    manual_stock: int | None, expected: int | None
) -> None:
    result = sellable([Choice("cao", 320, manual_stock=manual_stock)], SUPPLIERS, {})

    assert result.quantity == expected
    if manual_stock is None:
        assert "not synced" in result.why


def test_a_manual_plan_without_policy_keeps_a_mixed_variation_unsynced() -> None:
    choices = [Choice("cao", 319), Choice("cao", 320)]
    assert sellable(choices, SUPPLIERS, {}).quantity is None
    fixed = [Choice("cao", 319), Choice("cao", 320, manual_stock=2)]
    assert sellable(fixed, SUPPLIERS, {}).quantity == 52


def test_a_manual_plan_is_still_capped_by_the_balance() -> None:
    poor = {"cao": supplier("cao", balance=500_000, p320=CHATGPT)}
    assert sellable([Choice("cao", 320, manual_stock=5)], poor, {}).quantity == 1


def test_plans_held_for_a_sync_answer_as_given_and_are_not_walked_by_the_collector() -> None:
    plans = Plans([(319, NETFLIX), (320, CHATGPT)])
    snapshot = {"cao": SupplierSnapshot("cao", balance=RICH, plans=plans)}

    assert dict(plans) == {319: NETFLIX, 320: CHATGPT}
    assert plans.get(999) is None
    assert sellable([Choice("cao", 319), Choice("cao", 320, manual_stock=2)], snapshot, {}) == (
        sellable([Choice("cao", 319), Choice("cao", 320, manual_stock=2)], SUPPLIERS, {})
    )
    # Why Plans exists: a sync holds 100,000 of them until it ends, and what the collector
    # tracks every full collection walks again (the 100k stock bench's super-linear share).
    gc.collect()
    [table] = [held for held in gc.get_referents(plans) if isinstance(held, dict)]
    assert not gc.is_tracked(table)
    assert not any(gc.is_tracked(row) for row in table.values())
