"""`bridge demo`: the whole flow against the built-in simulators, in one process."""

from __future__ import annotations

import logging
import sys
import tempfile
import threading
from pathlib import Path

from bridge.models import FulfilmentState
from bridge.sandbox import Sandbox
from bridge.settings import Settings
from bridge.simulators.shop import ShopSimulator

SUPPLIER = "caoshop-sim"
INSTANT_PLAN = 319
MANUAL_PLAN = 320
# The supplier's staff fulfil the manual plan by hand this long after it is bought.
MANUAL_DELAY_SECONDS = 2.0


def run_demo(*, once: bool, timeout: float = 60.0) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bridge-demo-"))
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bridge.db'}",
        redis_url=None,
        poll_initial_seconds=0.5,
        poll_max_seconds=2.0,
        sweep_interval_seconds=2.0,
        lease_seconds=30.0,
        log_level="WARNING",
    )
    logging.getLogger("bridge").setLevel(logging.WARNING)
    supplier = ShopSimulator(dialect="full", name=SUPPLIER)
    supplier.add_plan(INSTANT_PLAN, name="Netflix Premium 1 tháng", price=75_000, stock=25)
    supplier.add_plan(
        MANUAL_PLAN,
        name="ChatGPT Plus 1 tháng (nâng chính chủ)",
        price=450_000,
        is_instant=False,
        fields=[{"key": "email", "label": "Email", "type": "email", "required": True}],
    )
    sandbox = Sandbox(settings)
    try:
        sandbox.add_supplier(SUPPLIER, supplier)
        sandbox.map(
            "var-netflix-1m",
            supplier=SUPPLIER,
            plan_id=INSTANT_PLAN,
            name="Netflix Premium 1 tháng",
        )
        sandbox.map(
            "var-chatgpt-1m",
            supplier=SUPPLIER,
            plan_id=MANUAL_PLAN,
            name="ChatGPT Plus 1 tháng",
            fields={"email": "{order.bill_email}"},
        )
        sandbox.start()
        print(f"bridge:   {sandbox.bridge_url}  (data in {workdir})")
        print(f"webhook:  {sandbox.webhook_url}")
        status = _one_order(sandbox, supplier, timeout)
        if once:
            return status
        print("\nThe bridge keeps running. Press Enter for another sample order, Ctrl-C to stop.")
        for _ in sys.stdin:
            _one_order(sandbox, supplier, timeout)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        sandbox.stop()


def _one_order(sandbox: Sandbox, supplier: ShopSimulator, timeout: float) -> int:
    order_id = sandbox.place_order(
        [
            {"variation_id": "var-netflix-1m", "quantity": 2},
            {"variation_id": "var-chatgpt-1m", "quantity": 1},
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
    ok = all(line.state == FulfilmentState.ANNOTATED for line in lines)
    print(
        "done: every line delivered into the note" if ok else "done, with lines that need attention"
    )
    return 0 if ok else 1
