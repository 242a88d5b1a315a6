"""The parts of "stock Pancake can really sell", each on its own (no simulator): what a stock
webhook says of a reservation, the open orders subtracted, which warehouses get the stock, and
when an unread plan stops standing for today's stock. End to end: tests/e2e/test_sellable_stock.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from bridge.db import make_engine, session_scope
from bridge.migrate import ensure_current
from bridge.models import Fulfilment, Order
from bridge.pancake.schemas import Warehouse
from bridge.pancake.webhooks import parse_webhook
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from bridge.supplier.shelf import record_shelves
from mappings.models import MappingChoice
from tests.conftest import Backend
from workers.stock.holds import KEEP, SETTLE, open_holds, prune, record_hold, warehouses_in_use
from workers.stock.models import StockHold
from workers.stock.sellable import Choice, PlanStock, SupplierSnapshot, sellable
from workers.stock.staleness import Reading, last_readings, stale_plans
from workers.stock.warehouses import Listed, choose

# Captured from live shops (shared/real-payloads/), byte for byte: an order's reservation, and a
# stock receipt (the physical stock moved, no order).
RESERVATION = (
    '{"type":"variations_warehouses","inserted_at":"2026-07-27 04:57:04.925107",'
    '"variation_id":"ea8b07f0-6d00-44fc-974f-fe96702a4071",'
    '"warehouse_id":"8ea354a7-2350-4446-a1d5-8308353ff841","remain_quantity":0,'
    '"order_id":"AF100975192O582","change_quantity":-1,"is_actual_remain_quantity":false,'
    '"actual_remain_quantity":1}'
)
RECEIPT = (
    '{"type":"variations_warehouses","inserted_at":"2026-09-04 15:32:46.779394",'
    '"variation_id":"7dc17043-…","warehouse_id":"8ea354a7-…","remain_quantity":29,'
    '"actual_remain_quantity":30,"change_quantity":30,"is_actual_remain_quantity":true}'
)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
FIVE = PlanStock(is_instant=True, stock_count=5, in_stock=True, final_price=75_000)
RICH = 10_000_000.0


# -- what a stock webhook says ------------------------------------------------------------------


def test_a_captured_reservation_names_its_order_and_the_units_taken() -> None:
    hook = parse_webhook(RESERVATION.encode())

    assert (hook.reserved_for, hook.change_quantity) == ("AF100975192O582", -1)
    assert hook.order_id is None, "a stock webhook is no order webhook"


def test_a_receipt_or_our_own_push_is_no_reservation() -> None:
    assert parse_webhook(RECEIPT.encode()).reserved_for is None
    echo = {**json.loads(RESERVATION), "change_quantity": 4}
    del echo["order_id"]  # what update_quantity causes: no order
    assert parse_webhook(json.dumps(echo).encode()).reserved_for is None
    shipped = {**json.loads(RESERVATION), "is_actual_remain_quantity": True}
    assert parse_webhook(json.dumps(shipped).encode()).reserved_for is None


# -- what is subtracted ------------------------------------------------------------------------


def test_units_pancake_holds_for_open_orders_come_off_the_sellable_quantity() -> None:
    suppliers = {"cao": SupplierSnapshot("cao", balance=RICH, plans={319: FIVE})}

    result = sellable([Choice("cao", 319)], suppliers, {}, held=2)

    assert result.quantity == 3
    assert "2 held by open orders" in result.why
    assert sellable([Choice("cao", 319)], suppliers, {}, pending=1, held=9).quantity == 0


def test_an_unread_plan_keeps_the_last_value_until_stale_then_counts_zero() -> None:
    fresh = SupplierSnapshot("key", balance=RICH, plans={77: FIVE})
    kept = {"cao": SupplierSnapshot("cao", error="ListingIncomplete"), "key": fresh}
    stale = {
        "cao": SupplierSnapshot("cao", error="ListingIncomplete", stale={319: "unread since X"}),
        "key": fresh,
    }
    choices = [Choice("cao", 319), Choice("key", 77)]

    assert sellable(choices, kept, {}).quantity is None
    result = sellable(choices, stale, {})
    assert result.quantity == 5, "the stale plan counts 0, the other choice still counts"
    assert "cao/319 unread since X: 0" in result.why


def test_a_partly_read_catalogue_leaves_only_its_unread_plans_alone() -> None:
    partial = SupplierSnapshot(
        "cao", error="ListingIncomplete", balance=RICH, plans={319: FIVE}, unread=frozenset({1})
    )

    assert sellable([Choice("cao", 319)], {"cao": partial}, {}).quantity == 5
    assert sellable([Choice("cao", 1)], {"cao": partial}, {}).quantity is None


def test_a_stale_manual_plan_with_no_fixed_quantity_stays_the_staffs() -> None:
    down = SupplierSnapshot(
        "cao", error="SupplierUnreachable", stale={320: "unread since X"}, manual=frozenset({320})
    )

    assert sellable([Choice("cao", 320)], {"cao": down}, {}).quantity is None
    assert sellable([Choice("cao", 320, manual_stock=4)], {"cao": down}, {}).quantity == 0


def test_a_plan_goes_stale_hours_after_its_last_good_reading_or_its_mapping() -> None:
    hours = 6.0
    read = {
        319: Reading(NOW - timedelta(hours=6), is_instant=True),
        331: Reading(NOW - timedelta(hours=5, minutes=59), is_instant=True),
    }
    mapped = {319: NOW - timedelta(days=9), 331: NOW - timedelta(days=9), 1: NOW}

    found = stale_plans([319, 331, 1, 2], read, mapped | {2: NOW - timedelta(hours=7)}, NOW, hours)

    assert sorted(found) == [2, 319]
    assert found[319].startswith("unread since 2026-12-07 06:00 UTC")
    assert found[2].startswith("never read (mapped 2026-12-07 05:00 UTC)")


# -- where the stock goes ----------------------------------------------------------------------


def test_stock_goes_to_the_warehouses_that_take_orders_else_that_orders_use() -> None:
    store, shop, branch = Listed("store", False), Listed("shop", True), Listed("branch", False)
    second = Listed("shop-2", True)

    assert choose([store, shop], set()).warehouses == ("shop",)
    assert choose([store, shop, branch], {"branch"}).warehouses == ("shop",)
    assert choose([shop, store, second], set()).warehouses == ("shop", "shop-2")
    used = choose([store, branch], {"branch", "deleted"})
    assert used.warehouses == ("branch",), "an unlisted warehouse is never a target"
    fallback = choose([store, branch], set())
    assert fallback.warehouses == ("store",)
    assert "the first listed" in fallback.why
    with pytest.raises(LookupError):
        choose([], set())


@pytest.mark.parametrize(
    ("flag", "takes"),
    [(True, True), (False, False), ("false", False), (0, False), (None, True), ("?", True)],
)
def test_a_listing_that_does_not_say_counts_as_taking_orders(flag: object, takes: bool) -> None:
    row = {"id": "w1", "name": "Kho", "allow_create_order": flag}

    assert Warehouse.model_validate(row).takes_orders is takes


# -- holds in the database ---------------------------------------------------------------------


@pytest.fixture
def engine(backend: Backend) -> Iterator[Engine]:
    ensure_current(backend.database_url)
    engine = make_engine(backend.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def hold(engine: Engine, order_id: str, change: int, *, at: datetime = NOW, w: str = "w1") -> None:
    with session_scope(engine) as session:
        record_hold(session.connection(), "4", order_id, "v1", w, change, at)


def test_holds_add_up_in_any_order_and_lines_of_the_bridge_take_over(engine: Engine) -> None:
    hold(engine, "o1", +2)  # the give-back arrived before the taking
    hold(engine, "o1", -2)
    hold(engine, "o2", -1)
    hold(engine, "o3", -3, w="w2")
    hold(engine, "o4", -4)
    with session_scope(engine) as session:
        assert open_holds(session) == {("4", "v1"): 1 + 3 + 4}
        assert warehouses_in_use(session) == {"4": {"w1", "w2"}}
        order = Order(shop_id="4", order_id="o4", state="synced")
        session.add(order)
        session.flush()
        assert order.id is not None
        session.add(
            Fulfilment(
                order_pk=order.id,
                shop_id="4",
                order_id="o4",
                line_key="1",
                variation_id="v1",
                quantity=4,
            )
        )

    with session_scope(engine) as session:
        assert open_holds(session) == {("4", "v1"): 1 + 3}, "o4's line counts it now, not twice"
        [line] = session.exec(select(Fulfilment)).all()
        line.state = FulfilmentState.NEEDS_ATTENTION  # stopped before buying: a retry may buy
        session.add(line)
    with session_scope(engine) as session:
        assert open_holds(session) == {("4", "v1"): 1 + 3 + 4}
        [line] = session.exec(select(Fulfilment)).all()
        line.trans_id = "T-1"  # bought, then stopped (e.g. no credentials came)
        session.add(line)
    with session_scope(engine) as session:
        assert open_holds(session) == {("4", "v1"): 1 + 3}


def test_pruning_keeps_what_still_counts_or_may_yet_cancel_out(engine: Engine) -> None:
    old = NOW - KEEP - timedelta(minutes=1)
    hold(engine, "given-back-now", -1)
    hold(engine, "given-back-now", +1)
    hold(engine, "given-back-long-ago", +1, at=NOW - SETTLE - timedelta(minutes=1))
    hold(engine, "open-for-long", -1, at=old)  # v1 is mapped below: still counts
    with session_scope(engine) as session:
        session.add(Supplier(name="x", base_url="http://x", api_key_enc="", api_secret_enc=""))
        session.flush()
        session.add(MappingChoice(shop_id="4", variation_id="v1", supplier_name="x", plan_id=1))
    with session_scope(engine) as session:
        record_hold(session.connection(), "4", "unmapped-for-long", "v9", "w1", -1, old)

    with session_scope(engine) as session:
        assert prune(session, NOW) == 2
    with session_scope(engine) as session:
        left = {row.order_id for row in session.exec(select(StockHold))}
    assert left == {"given-back-now", "open-for-long"}


def test_a_catalogue_read_in_part_keeps_the_last_reading_of_the_plans_it_missed(
    engine: Engine,
) -> None:
    earlier, now = NOW - timedelta(hours=3), NOW
    with session_scope(engine) as session:
        session.add(Supplier(name="x", base_url="http://x", api_key_enc="", api_secret_enc=""))
        session.flush()
        record_shelves(session, "x", {1: FIVE, 2: FIVE}, earlier)
    with session_scope(engine) as session:
        record_shelves(session, "x", {1: FIVE}, now, whole=False)
    with session_scope(engine) as session:
        read = {
            plan: reading.read_at for plan, reading in last_readings(session, "x", [1, 2]).items()
        }
    assert read == {1: now, 2: earlier}
    with session_scope(engine) as session:
        record_shelves(session, "x", {1: FIVE}, now)  # a whole read: plan 2 is no longer sold
    with session_scope(engine) as session:
        assert set(last_readings(session, "x", [1, 2])) == {1}
