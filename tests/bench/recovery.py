"""kill -9 → note: how long a worker's death delays a customer, at the production settings.

Run: ``uv run python tests/bench/recovery.py`` (needs PostgreSQL and Redis, as the tests do).

One ``python -m bridge.cli worker`` process on PostgreSQL and Redis serves the simulators over
real HTTP with the production defaults (lease 120 s, sweep every 15 s, settle delay 60 s,
supplier timeout 30 s, polls from 5 s). It is SIGKILLed at a chosen moment and started again at
once (as systemd's ``Restart=always`` would); the time from the kill to the order's credentials
in the Pancake note is printed, against the anchor: the same order with no kill, in the same run.

- ``committed``: killed while the supplier holds the answer of an order it has committed (the
  outcome is unknown to the bridge: it must settle, never buy again);
- ``polling``: killed while a manual plan's line is being polled; the supplier's staff deliver
  right after the kill.

Issue 9 asks for a third case (the purchase claimed but not sent) and targets of ≤ 90 s for an
unknown outcome and ≤ 20 s otherwise; heartbeats are not built yet, so these figures are the
baseline they will be measured against.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text

from bridge.states import FulfilmentState
from tests.conftest import PG_ADMIN_URL
from tests.faults.world import CHATGPT, NETFLIX, FaultWorld

PRODUCTION_ENV = {
    "BRIDGE_POLL_INITIAL_SECONDS": "5",
    "BRIDGE_POLL_MAX_SECONDS": "600",
    "BRIDGE_SETTLE_DELAY_SECONDS": "60",
}
TIMEOUT = 900.0


def wait(condition: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> float:
    """Seconds until ``condition`` holds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


def annotated(world: FaultWorld, order_id: str) -> bool:
    lines = world.lines(order_id)
    return bool(lines) and all(line.state == FulfilmentState.ANNOTATED for line in lines)


def state_is(world: FaultWorld, order_id: str, state: FulfilmentState) -> bool:
    return any(line.state == state for line in world.lines(order_id))


def run(database_url: str, workdir: Path) -> dict[str, tuple[float, float]]:
    world = FaultWorld(
        database_url,
        workdir,
        launch="exec",
        lease_seconds=120.0,
        sweep_interval_seconds=15.0,
        supplier_timeout_seconds=30.0,
        worker_env=PRODUCTION_ENV,
    ).start()
    results: dict[str, tuple[float, float]] = {}
    try:
        world.start_workers(1)
        caoshop = world.supplier(NETFLIX.supplier)

        # committed: the anchor is one instant order end to end; then the answer is held back.
        anchor = world.place_order([(NETFLIX, 1)])
        anchor_s = wait(lambda: annotated(world, anchor), "anchor order")
        caoshop.create_latency_seconds = 10.0
        bought = len(caoshop.ledger)
        order = world.place_order([(NETFLIX, 1)])
        wait(lambda: len(caoshop.ledger) > bought, "the supplier to commit")
        world.kill_worker(0)
        killed = time.monotonic()
        caoshop.create_latency_seconds = 0.0
        world.restart_worker(0)
        wait(lambda: annotated(world, order), "the committed order after the kill")
        results["committed"] = (time.monotonic() - killed, anchor_s)
        print(f"committed: kill -> note {results['committed'][0]:.1f} s", flush=True)
        assert world.double_purchases() == 0, world.ledger_check().problems()

        # polling: the anchor is a manual order delivered as soon as it is polled once.
        manual = world.supplier(CHATGPT.supplier)
        before = len(manual.ledger)
        anchor = world.place_order([(CHATGPT, 1)])
        wait(lambda: state_is(world, anchor, FulfilmentState.PURCHASED), "manual anchor bought")
        started = time.monotonic()
        world.complete_manual_orders()
        wait(lambda: annotated(world, anchor), "manual anchor delivered")
        anchor_s = time.monotonic() - started
        order = world.place_order([(CHATGPT, 1)])
        wait(lambda: state_is(world, order, FulfilmentState.PURCHASED), "manual order bought")
        time.sleep(1.0)  # its first poll is under way or scheduled
        world.kill_worker(0)
        killed = time.monotonic()
        world.restart_worker(0)
        world.complete_manual_orders()
        wait(lambda: annotated(world, order), "the polled order after the kill")
        results["polling"] = (time.monotonic() - killed, anchor_s)
        assert len(manual.ledger) == before + 2, "each manual order bought once"
        assert world.double_purchases() == 0, world.ledger_check().problems()
    finally:
        world.close()
    return results


def main() -> int:
    name = f"bridge_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        with tempfile.TemporaryDirectory(prefix="bridge-recovery-") as workdir:
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
            results = run(url, Path(workdir))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    print("case        kill -> note   anchor (no kill)   ratio")
    for case, (after_kill, anchor) in results.items():
        print(f"{case:<10} {after_kill:>10.1f} s {anchor:>14.1f} s {after_kill / anchor:>9.1f}")
    print(" ".join(f"{case}_kill_to_note_seconds={v[0]:.1f}" for case, v in results.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
