"""Stock sync against the simulators over real HTTP, on SQLite and on PostgreSQL + Redis.

These tests run the sync step directly (``run_exclusive``) so that each one sees exactly the
syncs it asked for; the triggers (webhooks, the scheduler) are tested in test_triggers.py.
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.models import Supplier
from mappings.audit import SYSTEM
from mappings.commands import add_choice
from tests.e2e.world import CANVA, CAOSHOP, CHATGPT, NETFLIX, SHOPKEY, SPOTIFY
from tests.workers.stock.conftest import catalogue_reads, pushes, quantity
from workers.alerts.models import Alert
from workers.fulfilment.intake import intake
from workers.queue.dispatch import STOCK_SYNC
from workers.stock.models import CONTROL_ID, StockLevel, StockSyncControl, StockSyncRun
from workers.stock.policy import set_stock_buffer, set_stock_policy
from workers.stock.report import SyncReport
from workers.stock.reservations import reservations
from workers.stock.sync import run_exclusive, sync_stock
from workers.stock.triggers import request_stock_sync


def sync(world: Sandbox) -> SyncReport:
    return run_exclusive(world.runtime.ctx, trigger="test")


def caoshop(world: Sandbox) -> SupplierSimulator:
    return world.suppliers[CAOSHOP]


def row_for(report: SyncReport, variation_id: str) -> tuple[int | None, str]:
    [row] = [r for r in report.rows if r.variation_id == variation_id]
    return row.new, row.why


def test_pancake_stock_follows_the_supplier(world: Sandbox) -> None:
    report = sync(world)

    assert report.errors == []
    assert quantity(world, NETFLIX) == 50
    assert quantity(world, SPOTIFY) == 25, "50 supplier units, 2 per POS item"
    assert quantity(world, CANVA) == 50
    caoshop(world).set_stock(319, 7)

    sync(world)

    assert quantity(world, NETFLIX) == 7
    assert quantity(world, CANVA) == 50


def test_each_supplier_is_read_once_a_cycle_at_100_per_page(world: Sandbox) -> None:
    supplier = caoshop(world)
    for plan_id in range(1000, 1250):  # 3 plans already there: 253 products, 3 pages
        supplier.add_plan(plan_id, name=f"Plan {plan_id}", stock=1)

    report = sync(world)

    listed = [path for method, path in supplier.calls if path.endswith("/products/list")]
    assert len(listed) == 3
    balance = [path for _, path in supplier.calls if path.endswith("/account/balance")]
    assert len(balance) == 1
    assert catalogue_reads(world.suppliers[SHOPKEY]) == 1
    assert report.supplier_calls == 3 + 1 + 1 + 1


def test_only_changed_values_are_pushed_and_a_quiet_sync_calls_pancake_zero_times(
    world: Sandbox,
) -> None:
    ctx = world.runtime.ctx
    ctx.settings = ctx.settings.model_copy(update={"stock_push_batch_size": 2})

    first = sync(world)
    assert pushes(world) == 2, "3 variations in batches of 2"
    assert first.changed == 3

    calls = len(world.pancake.calls)
    quiet = sync(world)
    assert len(world.pancake.calls) == calls, "no change: no Pancake call of any kind"
    assert (quiet.changed, quiet.pancake_calls) == (0, 0)

    caoshop(world).set_stock(331, 10)
    third = sync(world)
    assert pushes(world) == 3
    assert third.changed == 1
    assert [r.variation_id for r in third.rows if r.push] == [SPOTIFY]
    assert quantity(world, SPOTIFY) == 5


def test_lines_being_bought_are_subtracted(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    order_id = world.place_order([{"variation_id": SPOTIFY, "quantity": 3}])
    assert world.pancake.wait_idle()
    with session_scope(world.runtime.engine) as session:
        order = session.exec(select(Order).where(Order.order_id == order_id)).one()
    assert order.id is not None
    intake(ctx, order.id)  # workers are off: the line stays pending, about to be bought
    [line] = world.fulfilments(order_id)
    assert line.state == "pending"

    report = sync(world)

    assert quantity(world, SPOTIFY) == 22, "50 units / 2 = 25, minus 3 items waiting"
    assert "3 pending" in row_for(report, SPOTIFY)[1]
    assert quantity(world, NETFLIX) == 50


def test_lines_bought_or_being_bought_are_reserved_until_the_catalogue_shows_them(
    world: Sandbox,
) -> None:
    read_at = world.runtime.ctx.clock()
    with session_scope(world.runtime.engine) as session:
        order = Order(shop_id=world.shop_id, order_id="r-1", state="synced")
        session.add(order)
        session.flush()
        assert order.id is not None
        for index, (state, finished, units) in enumerate(
            [
                ("purchased", read_at + timedelta(seconds=1), 4),  # after the read: reserved
                ("annotated", read_at - timedelta(seconds=1), 8),  # before: in the stock count
                ("purchasing", None, 2),  # in flight: reserved
                ("purchase_unknown", None, 32),  # maybe bought: reserved until settled
                ("needs_attention", None, 16),  # nothing bought: not reserved
                ("pending", None, 64),  # waiting: counted per variation, not per plan
            ]
        ):
            line = Fulfilment(
                order_pk=order.id,
                shop_id=world.shop_id,
                order_id="r-1",
                line_key=f"k{index}",
                variation_id=NETFLIX,
                quantity=units,
                supplier_name=CAOSHOP,
                plan_id=319,
                supplier_quantity=units,
                state=state,
            )
            session.add(line)
            session.flush()
            assert line.id is not None
            if finished is not None:
                session.add(
                    PurchaseAttempt(
                        fulfilment_id=line.id,
                        supplier_name=CAOSHOP,
                        plan_id=319,
                        quantity=units,
                        outcome=AttemptOutcome.BOUGHT,
                        finished_at=finished,
                    )
                )

    with session_scope(world.runtime.engine) as session:
        now = reservations(session, since=read_at)
        later = reservations(session, since=read_at + timedelta(seconds=2))
    assert now.units == {(CAOSHOP, 319): 4 + 2 + 32}
    assert later.units == {(CAOSHOP, 319): 2 + 32}
    assert now.items == {(world.shop_id, NETFLIX): 64}


def test_choices_of_a_variation_add_up(world: Sandbox) -> None:
    world.suppliers[SHOPKEY].add_plan(78, name="Netflix (shopkey)", price=80_000, stock=31)
    with session_scope(world.runtime.engine) as session:
        add_choice(
            session,
            actor=SYSTEM,
            shop_id=world.shop_id,
            variation_id=NETFLIX,
            supplier_name=SHOPKEY,
            plan_id=78,
            units=2,
            priority=1,
        )

    report = sync(world)

    assert quantity(world, NETFLIX) == 50 + 15
    assert row_for(report, NETFLIX)[0] == 65


def test_a_paused_supplier_counts_zero_and_is_not_called(world: Sandbox) -> None:
    sync(world)
    supplier = caoshop(world)
    calls = len(supplier.calls)
    with session_scope(world.runtime.engine) as session:
        row = session.get(Supplier, CAOSHOP)
        assert row is not None
        row.paused_until = world.runtime.ctx.clock() + timedelta(minutes=10)
        session.add(row)

    report = sync(world)

    assert len(supplier.calls) == calls
    assert (quantity(world, NETFLIX), quantity(world, SPOTIFY)) == (0, 0)
    assert quantity(world, CANVA) == 50, "the other supplier is unaffected"
    assert "paused" in row_for(report, NETFLIX)[1]
    assert report.errors == [], "a pause is a known state, not an error"


def test_a_disabled_supplier_or_an_empty_balance_counts_zero(world: Sandbox) -> None:
    world.suppliers[SHOPKEY].set_balance(119_999)  # Canva costs 120,000
    with session_scope(world.runtime.engine) as session:
        row = session.get(Supplier, CAOSHOP)
        assert row is not None
        row.enabled = False
        session.add(row)

    report = sync(world)

    assert (quantity(world, NETFLIX), quantity(world, CANVA)) == (0, 0)
    assert "balance too low" in row_for(report, CANVA)[1]


def test_manual_plans_follow_the_mapping_policy(world: Sandbox) -> None:
    world.pancake.set_quantity(world.shop_id, CHATGPT, 9)  # what staff keep by hand

    report = sync(world)

    assert quantity(world, CHATGPT) == 9, "no fixed quantity: don't sync"
    new, why = row_for(report, CHATGPT)
    assert new is None
    assert "manual" in why
    with session_scope(world.runtime.engine) as session:
        set_stock_policy(session, shop_id=world.shop_id, variation_id=CHATGPT, manual_stock=3)

    sync(world)

    assert quantity(world, CHATGPT) == 3


def test_a_variation_with_sync_off_is_left_to_staff(world: Sandbox) -> None:
    sync(world)
    with session_scope(world.runtime.engine) as session:
        set_stock_policy(session, shop_id=world.shop_id, variation_id=NETFLIX, stock_sync=False)
    world.pancake.set_quantity(world.shop_id, NETFLIX, 999)
    caoshop(world).set_stock(319, 3)

    report = sync(world)

    assert quantity(world, NETFLIX) == 999
    assert NETFLIX not in {r.variation_id for r in report.rows}
    with session_scope(world.runtime.engine) as session:
        levels = session.exec(select(StockLevel.variation_id)).all()
    assert NETFLIX not in levels, "its record is dropped: turning sync on again pushes afresh"


def test_the_shop_buffer_is_kept_back(world: Sandbox) -> None:

    with session_scope(world.runtime.engine) as session:
        set_stock_buffer(session, world.shop_id, 2)

    sync(world)

    assert (quantity(world, NETFLIX), quantity(world, SPOTIFY)) == (48, 23)


def test_a_pancake_failure_keeps_the_last_values_is_visible_and_retried(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    sync(world)
    caoshop(world).set_stock(319, 20)
    world.pancake.inject(503, times=3, path_contains="update_quantity")  # every client attempt
    with session_scope(world.runtime.engine) as session:
        request_stock_sync(
            session.connection(), ctx.clock(), trigger="test", delay=0, stale_after=60
        )

    follow_up = sync_stock(ctx, CONTROL_ID)

    assert quantity(world, NETFLIX) == 50, "the last value stays"
    [retry] = follow_up
    assert retry.actor == STOCK_SYNC
    assert retry.delay_seconds > 0
    with session_scope(world.runtime.engine) as session:
        run = session.exec(select(StockSyncRun).order_by(col(StockSyncRun.id).desc())).first()
        control = session.get(StockSyncControl, CONTROL_ID)
    assert run is not None
    assert control is not None
    assert "Pancake" in (run.errors or "")
    assert (run.changed, control.failures) == (0, 1)

    assert sync_stock(ctx, retry.entity_id) == []

    assert quantity(world, NETFLIX) == 20
    with session_scope(world.runtime.engine) as session:
        control = session.get(StockSyncControl, CONTROL_ID)
    assert control is not None
    assert control.failures == 0


def test_an_unreachable_supplier_leaves_its_variations_alone(world: Sandbox) -> None:
    sync(world)
    with session_scope(world.runtime.engine) as session:
        row = session.get(Supplier, SHOPKEY)
        assert row is not None
        row.base_url = "http://127.0.0.1:9/api/v1"  # nothing listens on the discard port
        session.add(row)
    world.suppliers[SHOPKEY].set_stock(77, 1)
    caoshop(world).set_stock(319, 10)

    report = sync(world)

    assert quantity(world, CANVA) == 50, "unknown now: the last value stays"
    assert quantity(world, NETFLIX) == 10, "the other supplier's variations still follow"
    assert any(SHOPKEY in error for error in report.errors)
    new, why = row_for(report, CANVA)
    assert new is None
    assert "unavailable" in why


def test_a_variation_pancake_refuses_does_not_hold_back_the_others(world: Sandbox) -> None:
    with session_scope(world.runtime.engine) as session:
        add_choice(  # mapped, but deleted in Pancake
            session,
            actor=SYSTEM,
            shop_id=world.shop_id,
            variation_id="deleted-in-pancake",
            supplier_name=CAOSHOP,
            plan_id=319,
        )

    report = sync(world)

    assert (quantity(world, NETFLIX), quantity(world, SPOTIFY), quantity(world, CANVA)) == (
        50,
        25,
        50,
    )
    assert [e for e in report.errors if "deleted-in-pancake" in e]
    assert report.changed == 3
    assert pushes(world) <= 1 + 2 * 3, "halving finds the bad entry in a few calls"


def test_a_refusal_of_the_whole_shop_stops_its_pushes_without_splitting(world: Sandbox) -> None:
    world.pancake.inject(401, times=1, path_contains="update_quantity")  # e.g. a revoked key

    report = sync(world)

    assert pushes(world) == 1, "no point in halving a batch for a wrong key"
    assert quantity(world, NETFLIX) == 0
    assert any("Pancake refused, 3 not pushed" in error for error in report.errors)
    assert report.changed == 0
    with session_scope(world.runtime.engine) as session:
        levels = session.exec(select(StockLevel)).all()
    assert {level.pushing_quantity for level in levels} == {None}
    assert {level.pushed_quantity for level in levels} == {None}

    sync(world)

    assert quantity(world, NETFLIX) == 50, "pushed on the next sync"


def test_a_warehouse_deleted_in_pancake_is_replaced_and_alerted(world: Sandbox) -> None:
    ctx = world.runtime.ctx
    pancake, shop = world.pancake, world.shop_id
    [first] = [w["id"] for w in pancake.warehouses(shop)]
    assert sync(world).errors == []
    assert pancake.remain_quantity(shop, NETFLIX, warehouse_id=first) == 50

    second = pancake.add_warehouse(shop)
    pancake.remove_warehouse(shop, first)
    caoshop(world).set_stock(319, 7)
    listed = pancake.count_calls("GET", "/warehouses")
    sync(world)  # within the hour the remembered warehouse is not checked: no call spent
    assert pancake.count_calls("GET", "/warehouses") == listed

    real_clock = ctx.clock
    ctx.clock = lambda: real_clock() + timedelta(hours=1, minutes=1)
    report = sync(world)

    assert report.errors == []
    assert pancake.count_calls("GET", "/warehouses") == listed + 1
    assert pancake.remain_quantity(shop, NETFLIX, warehouse_id=second) == 7
    with session_scope(world.runtime.engine) as session:
        [alert] = session.exec(select(Alert).where(Alert.kind == "stock_warehouse_gone")).all()
    assert first in alert.message
    assert second in alert.message


def test_a_batch_pancake_took_is_recorded_though_the_next_one_fails(world: Sandbox) -> None:
    """A batch's outcome is recorded in the transaction that marks the next batch: when that
    next batch fails, the first stays pushed and only the rest is pushed again."""
    ctx = world.runtime.ctx
    ctx.settings = ctx.settings.model_copy(update={"stock_push_batch_size": 2})
    expected = {NETFLIX: 50, SPOTIFY: 25, CANVA: 50}

    def fail_after_the_first_batch(phase: str, done: int, total: int | None) -> None:
        if phase.startswith("pushing") and done == 2:
            world.pancake.inject(503, times=3, path_contains="update_quantity")

    first = run_exclusive(ctx, trigger="test", progress=fail_after_the_first_batch)

    pushed = [r.variation_id for r in first.rows if r.push and r.error is None]
    [kept] = [r.variation_id for r in first.rows if r.push and r.error is not None]
    assert len(pushed) == 2
    assert {v: quantity(world, v) for v in pushed} == {v: expected[v] for v in pushed}
    assert quantity(world, kept) == 0, "never pushed: Pancake keeps its own value"
    with session_scope(world.runtime.engine) as session:
        levels = session.exec(select(StockLevel)).all()
    assert {level.pushing_quantity for level in levels} == {None}, "nothing left in flight"
    calls = pushes(world)

    second = sync(world)

    assert pushes(world) == calls + 1
    assert [r.variation_id for r in second.rows if r.push] == [kept]
    assert {v: quantity(world, v) for v in expected} == expected
    calls = pushes(world)
    sync(world)
    assert pushes(world) == calls, "everything recorded: a quiet sync calls Pancake zero times"
