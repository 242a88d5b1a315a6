"""`bridge demo`: the whole flow against the built-in simulators, in one process."""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.settings import Settings
from bridge.states import FulfilmentState

SUPPLIER = "caoshop-sim"
INSTANT_PLAN = 319
MANUAL_PLAN = 320
INSTANT_STOCK = 25
NETFLIX = "var-netflix-1m"
CHATGPT = "var-chatgpt-1m"
# What the sample shop sells each for (`bridge sim pancake` too): above each plan's price, as
# by default the bridge buys no plan dearer than the item sells for.
RETAIL_PRICES = {NETFLIX: 100_000, CHATGPT: 550_000}
# The supplier's staff fulfil the manual plan by hand this long after it is bought.
MANUAL_DELAY_SECONDS = 2.0


def add_sample_plans(supplier: SupplierSimulator) -> SupplierSimulator:
    """The demo's two plans (also `bridge sim supplier`'s): an instant one with stock, and a
    manual one that needs the customer's e-mail."""
    supplier.add_plan(
        INSTANT_PLAN, name="Netflix Premium 1 tháng", price=75_000, stock=INSTANT_STOCK
    )
    supplier.add_plan(
        MANUAL_PLAN,
        name="ChatGPT Plus 1 tháng (nâng chính chủ)",
        price=450_000,
        is_instant=False,
        fields=[{"key": "email", "label": "Email", "type": "email", "required": True}],
    )
    return supplier


def run_demo(*, once: bool, timeout: float = 60.0) -> int:
    """The demo in a folder of its own, removed on every way out: done, an error, Ctrl-C."""
    # SIGTERM (a service manager, `kill`) leaves through the same door as Ctrl-C. Only the
    # main thread may set a handler (a test may run the demo in another).
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main else None
    try:
        with tempfile.TemporaryDirectory(prefix="bridge-demo-") as folder:
            return _run_in(Path(folder), once=once, timeout=timeout)
    except KeyboardInterrupt:
        return 0
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_in(workdir: Path, *, once: bool, timeout: float) -> int:
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bridge.db'}",
        redis_url=None,
        poll_initial_seconds=0.5,
        poll_max_seconds=2.0,
        sweep_interval_seconds=2.0,
        lease_seconds=30.0,
        supplier_timeout_seconds=10.0,
        # The simulated supplier has no daily quota, so stock syncs need not be spaced out to
        # spare one: the sync that follows a purchase shows at once.
        supplier_daily_limit=10_000_000,
        log_level="WARNING",
    )
    logging.getLogger("bridge").setLevel(logging.WARNING)
    supplier = add_sample_plans(SupplierSimulator(dialect="full", name=SUPPLIER))
    sandbox = Sandbox(settings)
    try:
        sandbox.add_supplier(SUPPLIER, supplier)
        sandbox.map(
            NETFLIX,
            supplier=SUPPLIER,
            plan_id=INSTANT_PLAN,
            name="Netflix Premium 1 tháng",
            retail_price=RETAIL_PRICES[NETFLIX],
        )
        sandbox.map(
            CHATGPT,
            supplier=SUPPLIER,
            plan_id=MANUAL_PLAN,
            name="ChatGPT Plus 1 tháng",
            fields={"email": "{order.bill_email}"},
            retail_price=RETAIL_PRICES[CHATGPT],
        )
        sandbox.start()
        print(f"bridge:   {sandbox.bridge_url}  (data in {workdir}, removed on exit)")
        print(f"webhook:  {sandbox.webhook_url}")
        status = _one_order(sandbox, supplier, timeout)
        if once:
            return status
        print("\nThe bridge keeps running. Press Enter for another sample order, Ctrl-C to stop.")
        for _ in sys.stdin:
            _one_order(sandbox, supplier, timeout)
        return 0
    finally:
        sandbox.stop()


def _show_stock(sandbox: Sandbox, supplier: SupplierSimulator) -> None:
    """The purchase triggered a stock sync: Pancake now sells what the supplier has left."""
    sold = sum(p.quantity for p in supplier.ledger if p.plan_id == INSTANT_PLAN)
    left = INSTANT_STOCK - sold
    try:
        sandbox.wait_for(
            lambda: sandbox.pancake.remain_quantity(sandbox.shop_id, NETFLIX) == left,
            timeout=10,
            what="the stock sync",
        )
    except TimeoutError:
        print("  stock sync: not finished within 10 s")
        return
    print(f"  stock sync: Pancake now sells {left} of {NETFLIX}, what the supplier has left")


def _one_order(sandbox: Sandbox, supplier: SupplierSimulator, timeout: float) -> int:
    order_id = sandbox.place_order(
        [
            {"variation_id": NETFLIX, "quantity": 2},
            {"variation_id": CHATGPT, "quantity": 1},
        ],
        bill_full_name="Tran Thi B",
        bill_email="khach.hang@example.com",
        note="Khách cần gấp trước 20h",
    )
    print(f"\norder {order_id}: placed and confirmed in the simulated Pancake shop")
    hand_fulfil = threading.Timer(MANUAL_DELAY_SECONDS + 1.0, supplier.complete_pending)
    hand_fulfil.start()
    try:
        lines = sandbox.wait_settled(order_id, lines=2, timeout=timeout)
    finally:
        hand_fulfil.cancel()
    for line in lines:
        print(
            f"  line {line.id}: {line.item_name} x{line.quantity} -> supplier {line.supplier_name} "
            f"plan {line.plan_id}, trans_id {line.trans_id}: {line.state}"
            + (f" ({line.reason})" if line.reason else "")
        )
    purchases = len(supplier.ledger)
    print(f"  supplier ledger: {purchases} purchase(s), balance left {supplier.balance:,.0f}")
    print("  final Pancake order note:")
    for text in sandbox.note(order_id).splitlines():
        print(f"    | {text}")
    _show_stock(sandbox, supplier)
    ok = all(line.state == FulfilmentState.ANNOTATED for line in lines)
    print(
        "done: every line delivered into the note" if ok else "done, with lines that need attention"
    )
    return 0 if ok else 1
