"""A standard simulated world for the end-to-end tests: one shop, two suppliers, four mappings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from mappings.audit import SYSTEM
from mappings.commands import add_choice

NETFLIX = "415040f4-ab63-465e-8699-e9ebfff4c6c7"  # instant plan, the fixtures' variation
SPOTIFY = "5f0cfb8d-aee9-4ec0-9ff0-b5668d3143d2"  # instant plan, 2 supplier units per POS item
CHATGPT = "8a1c2d3e-0000-4000-8000-00000000c0de"  # manual plan needing the customer's email
CANVA = "c4a7a000-0000-4000-8000-0000000ca17a"  # on the short-dialect supplier
UNMAPPED = "ffffffff-0000-4000-8000-000000000000"

CAOSHOP = "caoshop-sim"
SHOPKEY = "shopkey-sim"


CHATGPT_PRICE = 450_000  # caoshop's manual ChatGPT plan
# The supplier takes a paid order back: what it does, what the line's reason and alert say, and
# how much of the price returns to the balance.
TAKE_BACK: dict[str, tuple[Callable[[SupplierSimulator, str], None], str, float]] = {
    "refund": (SupplierSimulator.refund, f"refunded the {CHATGPT_PRICE:,} paid", CHATGPT_PRICE),
    "cancel_without_refund": (
        SupplierSimulator.cancel_without_refund,
        f"kept the {CHATGPT_PRICE:,} paid",
        0,
    ),
    "cancel": (SupplierSimulator.cancel, f"the {CHATGPT_PRICE:,} paid was refunded", CHATGPT_PRICE),
}


def build_world(sandbox: Sandbox) -> Sandbox:
    caoshop = sandbox.add_supplier(CAOSHOP, SupplierSimulator(dialect="full", name=CAOSHOP))
    caoshop.add_plan(319, name="Netflix Premium 1 tháng", price=75_000, stock=50)
    caoshop.add_plan(331, name="Spotify Family 3 tháng", price=60_000, stock=50)
    caoshop.add_plan(
        320,
        name="ChatGPT Plus 1 tháng",
        price=CHATGPT_PRICE,
        is_instant=False,
        fields=[{"key": "email", "label": "Email", "type": "email", "required": True}],
    )
    shopkey = sandbox.add_supplier(SHOPKEY, SupplierSimulator(dialect="short", name=SHOPKEY))
    shopkey.add_plan(77, name="Canva Pro 1 năm", price=120_000, stock=50)
    sandbox.map(NETFLIX, supplier=CAOSHOP, plan_id=319, name="Netflix Premium 1 tháng")
    sandbox.map(SPOTIFY, supplier=CAOSHOP, plan_id=331, name="Spotify Family 6 tháng", units=2)
    sandbox.map(
        CHATGPT,
        supplier=CAOSHOP,
        plan_id=320,
        name="ChatGPT Plus 1 tháng",
        fields={"email": "{order.bill_email}"},
    )
    sandbox.map(CANVA, supplier=SHOPKEY, plan_id=77, name="Canva Pro 1 năm")
    sandbox.pancake.add_variation(sandbox.shop_id, UNMAPPED, name="Sản phẩm chưa map")
    return sandbox


def purchases_per_plan(sandbox: Sandbox) -> Counter[int]:
    counts: Counter[int] = Counter()
    for simulator in sandbox.suppliers.values():
        counts.update(p.plan_id for p in simulator.ledger)
    return counts


def all_credentials(sandbox: Sandbox) -> list[str]:
    return [item for sim in sandbox.suppliers.values() for p in sim.ledger for item in p.items]


def second_choice(sandbox: Sandbox, variation: str, supplier: str, plan_id: int) -> None:
    """Map ``variation`` to ``supplier``'s ``plan_id`` too, tried after the first choice."""
    with session_scope(sandbox.runtime.engine) as session:
        add_choice(
            session,
            actor=SYSTEM,
            shop_id=sandbox.shop_id,
            variation_id=variation,
            supplier_name=supplier,
            plan_id=plan_id,
            priority=1,
        )


def lose_next_answer(simulator: SupplierSimulator, fault: str = "drop_after_commit") -> None:
    """The next orders/create commits, and its answer is lost: it comes after the 1 s supplier
    timeout of the e2e worlds, or never."""
    simulator.hang_seconds = 3.0
    simulator.inject(fault)


SUPPLIER_DAY = timezone(timedelta(hours=7))  # the platform's zone: its day ends at 17:00 UTC


def assert_paused_for_the_day(paused_until: datetime | None, since: datetime) -> None:
    """A key refused DAILY_LIMIT_EXCEEDED between ``since`` and now waits until the supplier's
    next midnight; in the first 4 hours of the supplier's day (a clock that may lag the
    supplier's) it waits an hour and asks again."""
    now = datetime.now(UTC)
    assert paused_until is not None
    local = since.astimezone(SUPPLIER_DAY)
    if local.hour < 4 or now.astimezone(SUPPLIER_DAY).hour < 4:
        assert since + timedelta(minutes=59) <= paused_until <= now + timedelta(hours=24), local
        return
    end = paused_until.astimezone(SUPPLIER_DAY)
    assert (end.hour, end.minute, end.date()) == (0, 0, local.date() + timedelta(days=1)), end
