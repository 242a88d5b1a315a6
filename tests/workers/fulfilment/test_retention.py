"""Webhook events are pruned after BRIDGE_WEBHOOK_RETENTION_DAYS by the scheduler's tick."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import insert, select, update

from bridge.db import utcnow
from bridge.dev.sandbox import Sandbox
from tests.conftest import Backend
from workers.fulfilment.models import WebhookEvent

TABLE = WebhookEvent.__table__  # type: ignore[attr-defined]


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
