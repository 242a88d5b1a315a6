"""`bridge shops add --since`, `shops list`'s "fulfils from", and `bridge orders fulfil`: the
operator's say over orders created before the shop fulfils from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.pancake.models import PancakeShop
from bridge.states import OrderState
from tests.cli.test_orders import run, run_json, sandbox  # noqa: F401  (sandbox is a fixture)
from tests.e2e.world import NETFLIX
from workers.fulfilment.intake import BEFORE_THE_SHOP, intake
from workers.fulfilment.reported import order_reported
from workers.fulfilment.sweep import sweep
from workers.queue.dispatch import INTAKE, PURCHASE, Send

NETFLIX_LINE = [{"variation_id": NETFLIX, "quantity": 1}]


def fulfils_from(world: Sandbox) -> datetime:
    with session_scope(world.runtime.engine) as session:
        shop = session.get(PancakeShop, world.shop_id)
        assert shop is not None
        return shop.fulfil_from


def skipped_old_order(world: Sandbox, minutes_before: int = 1) -> tuple[str, int]:
    """An order delivered by hand before the shop was added, moved to 16 and read once."""
    [order_id] = world.pancake.add_old_orders(
        world.shop_id,
        before=fulfils_from(world) - timedelta(minutes=minutes_before - 1),
        items=NETFLIX_LINE,
    )
    with session_scope(world.runtime.engine) as session:
        _, [send] = order_reported(
            session.connection(),
            world.shop_id,
            order_id,
            status=16,
            item_count=1,
            triggers=[16],
            now=datetime.now(UTC),
            lease=timedelta(seconds=30),
        )
    assert intake(world.runtime.ctx, send.entity_id) == []
    return order_id, send.entity_id


def test_orders_fulfil_buys_an_old_order_and_says_what_it_did(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    order_id, order_pk = skipped_old_order(sandbox)
    [listed] = run_json(capsys, "orders", "list", "--state", "skipped")
    assert listed["last_error"].startswith(BEFORE_THE_SHOP)

    code, out, err = run(capsys, "orders", "fulfil", order_id, "--shop", sandbox.shop_id)
    assert (code, err) == (0, "")
    assert f"order {order_id} of shop {sandbox.shop_id} is pending (id {order_pk})" in out
    assert Send(INTAKE, order_pk) in sweep(sandbox.runtime.ctx)
    assert [send.actor for send in intake(sandbox.runtime.ctx, order_pk)] == [PURCHASE]
    shown = run_json(capsys, "orders", "show", str(order_pk))
    assert (shown["state"], shown["fulfil_asked_by"]) == (OrderState.SYNCED, "cli")
    assert shown["fulfil_asked_at"]

    code, out, _ = run(capsys, "orders", "fulfil", order_id, "--shop", sandbox.shop_id)
    assert (code, out.strip()) == (
        0,
        f"order {order_id} of shop {sandbox.shop_id} is synced (id {order_pk}): nothing to do",
    )
    code, _, err = run(capsys, "orders", "fulfil", order_id, "--shop", "no-such-shop")
    assert code == 1
    assert "no shop no-such-shop" in err


def test_since_moves_the_moment_and_reads_the_orders_it_now_covers(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    covered, covered_pk = skipped_old_order(sandbox, minutes_before=1)
    older, older_pk = skipped_old_order(sandbox, minutes_before=60)
    since = fulfils_from(sandbox) - timedelta(minutes=10)

    local = since.astimezone(UTC).replace(tzinfo=None).isoformat()  # no zone: UTC
    code, out, err = run(capsys, "shops", "add", sandbox.shop_id, "--since", local)

    assert (code, err) == (0, "")
    assert f"orders created from {since.isoformat(timespec='seconds')} are fulfilled" in out
    assert "1 order(s) skipped as older than that are not: they will be read again" in out
    [shop] = run_json(capsys, "shops", "list")
    assert datetime.fromisoformat(shop["fulfil_from"]) == since
    sends = sweep(sandbox.runtime.ctx)
    assert Send(INTAKE, covered_pk) in sends
    assert Send(INTAKE, older_pk) not in sends
    assert [send.actor for send in intake(sandbox.runtime.ctx, covered_pk)] == [PURCHASE]
    code, out, _ = run(capsys, "shops", "list")
    assert "fulfils from" in out

    code, _, err = run(capsys, "shops", "add", sandbox.shop_id, "--since", "yesterday")
    assert code == 2
    assert "is not an ISO time" in err
