"""`bridge orders list|show|retry`, and the orders a new shop key unblocks by itself."""

from __future__ import annotations

import io
import json
import secrets
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bridge.cli import main
from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.pancake.shops import add_shop
from bridge.settings import get_settings
from bridge.states import FulfilmentState, OrderState
from tests.conftest import Backend, fast_settings
from tests.e2e.world import NETFLIX, build_world
from workers.fulfilment.intake import intake
from workers.fulfilment.reported import order_reported
from workers.fulfilment.sweep import sweep
from workers.queue.dispatch import INTAKE, Send


@pytest.fixture
def sandbox(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A world without workers whose database the command line opens too."""
    key = secrets.token_urlsafe(32)
    world = build_world(
        Sandbox(fast_settings(backend.database_url), secret_key=key, broker=backend.broker)
    ).start(workers=False)
    world.pancake.send_webhooks = False
    monkeypatch.setenv("BRIDGE_DATABASE_URL", backend.database_url)
    # The command line reaches the world's Pancake: `shops add` and `mappings add` read it.
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", world.runtime.settings.pancake_base_url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", key)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        yield world
    finally:
        get_settings.cache_clear()
        world.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    return json.loads(out)


def confirmed(sandbox: Sandbox) -> str:
    return sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])


def reported_and_read(sandbox: Sandbox, order_id: str) -> int:
    """The order reported to the bridge and read once by intake; the bridge's id for it."""
    with session_scope(sandbox.runtime.engine) as session:
        _, [send] = order_reported(
            session.connection(),
            sandbox.shop_id,
            order_id,
            status=1,
            item_count=1,
            triggers=[1],
            now=utcnow(),
            lease=timedelta(seconds=30),
        )
    intake(sandbox.runtime.ctx, send.entity_id)
    return send.entity_id


def test_orders_that_failed_are_listed_shown_and_retried(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with session_scope(sandbox.runtime.engine) as session:  # a key Pancake does not know
        add_shop(session, sandbox.runtime.box, sandbox.shop_id, api_key="pk-revoked")
    on_key = confirmed(sandbox)
    on_key_pk = reported_and_read(sandbox, on_key)
    missing = confirmed(sandbox)
    sandbox.pancake.inject(404, path_contains=f"/orders/{missing}")
    missing_pk = reported_and_read(sandbox, missing)  # refused for another reason than the key

    failed = run_json(capsys, "orders", "list", "--state", "failed", "--shop", sandbox.shop_id)
    assert {(o["id"], o["state"], o["failure_kind"]) for o in failed} == {
        (on_key_pk, "failed", "pancake_key"),
        (missing_pk, "failed", "pancake_refused"),
    }
    assert all(o["failed_at"] and "snapshot_enc" not in o for o in failed)
    assert run_json(capsys, "orders", "list", "--shop", "no-such-shop") == []
    code, out, _ = run(capsys, "orders", "list")
    header, *rows = out.strip().splitlines()
    assert header.split() == ["id", "shop", "order", "state", "lines", "failures", "when"] + [
        "reason"
    ]
    assert any(on_key in row and "answered 401" in row for row in rows)

    # The shop gets its right key, from standard input: the order refused on the old one is
    # read again by itself; the other waits for a person.
    monkeypatch.setattr("sys.stdin", io.StringIO(PANCAKE_API_KEY + "\n"))
    code, out, err = run(capsys, "shops", "add", sandbox.shop_id, "--api-key", "-")
    assert (code, err) == (0, "")
    assert "1 order(s) that failed on the old key will be read again" in out
    sends = sweep(sandbox.runtime.ctx)
    assert Send(INTAKE, on_key_pk) in sends
    assert Send(INTAKE, missing_pk) not in sends
    intake(sandbox.runtime.ctx, on_key_pk)

    shown = run_json(capsys, "orders", "show", str(on_key_pk))
    assert (shown["state"], shown["order_id"]) == (OrderState.SYNCED, on_key)
    [line] = shown["lines"]
    assert (line["variation_id"], line["state"]) == (NETFLIX, FulfilmentState.PENDING)
    assert "credentials_enc" not in line
    code, out, _ = run(capsys, "orders", "show", str(on_key_pk))
    assert code == 0
    assert "Lines:" in out
    assert "Waiting to buy" in out  # the line's state, in words

    code, out, _ = run(capsys, "orders", "retry", str(missing_pk))
    assert (code, out.strip()) == (
        0,
        f"order {missing_pk} is pending again; the next sweep reads it",
    )
    code, out, _ = run(capsys, "orders", "retry", str(missing_pk))
    assert (code, out.strip()) == (0, f"order {missing_pk} is pending: nothing to retry")
    assert Send(INTAKE, missing_pk) in sweep(sandbox.runtime.ctx)
    code, _, err = run(capsys, "orders", "retry", "999999")
    assert (code, err.strip()) == (1, "error: order 999999 does not exist")


def test_the_same_key_again_retries_nothing(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id = confirmed(sandbox)
    sandbox.pancake.inject(401, path_contains=f"/orders/{order_id}")
    order_pk = reported_and_read(sandbox, order_id)

    monkeypatch.setenv("BRIDGE_PANCAKE_API_KEY", PANCAKE_API_KEY)  # the key it already has
    code, out, _ = run(capsys, "shops", "add", sandbox.shop_id)

    assert code == 0
    assert "read again" not in out
    [order] = run_json(capsys, "orders", "list")
    assert (order["id"], order["state"]) == (order_pk, "failed")
