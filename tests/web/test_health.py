"""/healthz (the process serves) and /readyz (database reachable at the newest schema, broker
reachable), against a real Redis of the test's own that it stops and starts again."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from bridge.dev.sandbox import Sandbox
from bridge.migrate import HEAD, alembic_config, upgrade
from bridge.runtime.wiring import Runtime
from tests.conftest import fast_settings
from tests.faults.redis_control import PrivateRedis
from tests.faults.waiting import wait_until
from workers.queue.broker import build_broker


def readiness(url: str) -> tuple[int, dict[str, Any]]:
    answer = httpx.get(url + "/readyz", timeout=10)
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


@pytest.fixture
def redis_bridge(tmp_path: Path, private_redis: PrivateRedis) -> Iterator[Sandbox]:
    """The web side on SQLite and dramatiq's Redis broker on the private Redis (no workers:
    only reachability is at stake)."""
    broker = build_broker(private_redis.url, namespace=f"readyz-{uuid.uuid4().hex[:8]}")
    sandbox = Sandbox(fast_settings(f"sqlite:///{tmp_path / 'bridge.db'}"), broker=broker)
    try:
        yield sandbox.start(workers=False)
    finally:
        sandbox.stop()


def test_healthz_answers_while_the_process_serves(redis_bridge: Sandbox) -> None:
    answer = httpx.get(redis_bridge.bridge_url + "/healthz")

    assert (answer.status_code, answer.json()) == (200, {"ok": True})


def test_readyz_is_false_while_redis_is_down_and_true_after(
    redis_bridge: Sandbox, private_redis: PrivateRedis
) -> None:
    url = redis_bridge.bridge_url
    assert readiness(url) == (
        200,
        {
            "ok": True,
            "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
            "failed": [],
        },
    )

    with private_redis.down():
        status, body = readiness(url)
        assert (status, body["failed"]) == (503, ["broker"])
        assert body["checks"]["broker"].startswith("not reachable")
        assert str(private_redis.port) not in json.dumps(body), "the answer names no address"
        assert httpx.get(url + "/healthz").status_code == 200, "the process still serves"

    wait_until(lambda: readiness(url)[0] == 200, 10, "/readyz to be true again")


def test_readyz_is_false_while_migrations_are_behind(tmp_path: Path) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    config = alembic_config(url)
    previous = ScriptDirectory.from_config(config).get_revision(HEAD).down_revision
    assert isinstance(previous, str)
    command.upgrade(config, previous)
    runtime = Runtime(fast_settings(url, auto_migrate=False), secret_key=secrets.token_urlsafe(32))
    try:
        server = runtime.start_web()
        status, body = readiness(server.url)
        assert (status, body["failed"]) == (503, ["migrations"])
        assert body["checks"]["migrations"].startswith(f"at {previous}, the newest is {HEAD}")

        upgrade(url)

        assert readiness(server.url)[0] == 200
    finally:
        runtime.stop()


def test_the_probe_names_its_redis_connection_and_closes_it_when_the_process_stops(
    tmp_path: Path, private_redis: PrivateRedis
) -> None:
    broker = build_broker(private_redis.url, namespace=f"readyz-{uuid.uuid4().hex[:8]}")
    sandbox = Sandbox(fast_settings(f"sqlite:///{tmp_path / 'bridge.db'}"), broker=broker)
    watcher = redis.Redis.from_url(private_redis.url)
    try:
        sandbox.start(workers=False)
        assert readiness(sandbox.bridge_url)[0] == 200
        assert probes(watcher) == 1
    finally:
        sandbox.stop()
    try:
        wait_until(lambda: probes(watcher) == 0, 10, "the probe's connection to close")
    finally:
        watcher.close()


def probes(watcher: redis.Redis) -> int:
    """The connections Redis holds for readiness probes (as named in CLIENT LIST)."""
    return sum(1 for client in watcher.client_list() if client["name"] == "bridge-readyz")
