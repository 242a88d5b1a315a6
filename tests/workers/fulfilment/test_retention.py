"""Webhook events and stock sync runs are pruned after their windows by the scheduler's tick;
orders, lines and purchase attempts are kept forever."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select, update

from bridge.cli import driver, reads
from bridge.db import utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from tests.conftest import Backend
from workers.fulfilment.models import WebhookEvent
from workers.stock.models import StockSyncRun

TABLE = WebhookEvent.__table__  # type: ignore[attr-defined]
ORDERS = Order.__table__  # type: ignore[attr-defined]
LINES = Fulfilment.__table__  # type: ignore[attr-defined]
ATTEMPTS = PurchaseAttempt.__table__  # type: ignore[attr-defined]
RUNS = StockSyncRun.__table__  # type: ignore[attr-defined]


@pytest.fixture
def bridge(backend: Backend) -> Iterator[Sandbox]:
    sandbox = backend.sandbox(webhook_retention_days=30).start(workers=False)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def post(sandbox: Sandbox, order_id: str) -> str:
    body = {"type": "orders", "id": order_id, "status": 1, "items": [{}]}
    headers = {"X-Bridge-Secret": sandbox.webhook_secret}
    answer = httpx.post(sandbox.webhook_url, content=json.dumps(body), headers=headers)
    assert answer.status_code == 200
    outcome: str = answer.json()["outcome"]
    return outcome


def age(sandbox: Sandbox, order_id: str, days: float) -> None:
    with sandbox.runtime.engine.begin() as conn:
        conn.execute(
            update(TABLE)
            .where(TABLE.c.order_id == order_id)
            .values(received_at=utcnow() - timedelta(days=days))
        )


def kept(sandbox: Sandbox) -> list[str]:
    with sandbox.runtime.engine.connect() as conn:
        return list(conn.execute(select(TABLE.c.order_id).order_by(TABLE.c.id)).scalars())


def test_events_older_than_the_window_are_pruned_and_a_replay_is_then_new(
    bridge: Sandbox,
) -> None:
    for order_id in ("1", "2", "3"):
        assert post(bridge, order_id) == "queued"
    age(bridge, "1", 31)
    age(bridge, "2", 29)

    assert bridge.runtime.scheduler.tick()

    assert kept(bridge) == ["2", "3"]
    assert post(bridge, "2") == "duplicate", "within the window a replay is still recognised"
    assert post(bridge, "1") == "known", "past it the order table still knows the order"
    assert kept(bridge) == ["2", "3", "1"]


def test_a_backlog_larger_than_a_batch_is_pruned_and_a_newer_row_is_kept(
    bridge: Sandbox,
) -> None:
    old = utcnow() - timedelta(days=40)
    rows = [
        {
            "shop_id": bridge.shop_id,
            "kind": "unknown",
            "body_hash": f"h{n}",
            "outcome": "ignored:type",
            "received_at": old,
        }
        for n in range(2500)
    ]
    rows[1200]["received_at"] = utcnow()  # received out of id order: not yet due
    with bridge.runtime.engine.begin() as conn:
        conn.execute(insert(TABLE), rows)

    bridge.runtime.scheduler.tick()

    with bridge.runtime.engine.connect() as conn:
        hashes = set(conn.execute(select(TABLE.c.body_hash)).scalars())
    assert "h1200" in hashes
    assert not {f"h{n}" for n in range(1200)} & hashes


def test_old_events_and_stock_runs_go_and_every_purchase_stays(bridge: Sandbox) -> None:
    """A year-old sale keeps its order, line and purchase attempt; its webhook event and a stock
    run past BRIDGE_STOCK_RUN_RETENTION_DAYS (90 by default) go, a recent run stays."""
    year_ago = utcnow() - timedelta(days=365)
    assert post(bridge, "77") == "queued"
    age(bridge, "77", 365)
    with bridge.runtime.engine.begin() as conn:
        order_pk = conn.execute(select(ORDERS.c.id).where(ORDERS.c.order_id == "77")).scalar_one()
        line_id: int = conn.execute(
            insert(LINES)
            .returning(LINES.c.id)
            .values(
                order_pk=order_pk,
                shop_id=bridge.shop_id,
                order_id="77",
                line_key="a",
                quantity=1,
                state=FulfilmentState.ANNOTATED,
                trans_id="T77",
                created_at=year_ago,
                updated_at=year_ago,
            )
        ).scalar_one()
        conn.execute(
            insert(ATTEMPTS).values(
                fulfilment_id=line_id,
                supplier_name="alpha",
                plan_id=1,
                quantity=1,
                outcome=AttemptOutcome.BOUGHT,
                trans_id="T77",
                started_at=year_ago,
            )
        )
        conn.execute(
            insert(RUNS),
            [
                {"trigger": "old", "started_at": utcnow() - timedelta(days=91)},
                {"trigger": "recent", "started_at": utcnow() - timedelta(days=1)},
            ],
        )

    assert bridge.runtime.scheduler.tick()

    assert kept(bridge) == []
    with bridge.runtime.engine.connect() as conn:
        assert list(conn.execute(select(RUNS.c.trigger)).scalars()) == ["recent"]
    # What `orders show` and `fulfilments show` read: the year-old order, line and attempt.
    with driver.reader(bridge.runtime.settings) as conn:
        assert [line.trans_id for line in reads.order(conn, order_pk).lines] == ["T77"]
        assert [a.trans_id for a in reads.fulfilment(conn, line_id).attempts] == ["T77"]
