"""Catch-up for missed webhooks: orders Pancake changed are read from its order list and fulfilled
whether or not their webhook came, each line bought once, a quiet interval for one call per shop.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.cli import driver, reads
from bridge.cli.reads import AnyRow
from bridge.db import session_scope
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.models import Order
from bridge.pancake.models import PancakeShop
from bridge.pancake.shops import add_shop
from bridge.states import FulfilmentState
from bridge.web.server import ServerThread, free_port
from tests.conftest import Backend
from tests.e2e.world import CANVA, NETFLIX, all_credentials, build_world, purchases_per_plan
from workers.fulfilment.catchup import catch_up, due_catchups
from workers.queue.dispatch import INTAKE, Send

INTERVAL = 2.0


def catchup(sandbox: Sandbox, shop_id: str | None = None) -> AnyRow | None:
    """The shop's catch-up as `shops list` reads it (None before its first run)."""
    with driver.reader(sandbox.runtime.settings) as conn:
        return reads.catchups(conn).get(shop_id or sandbox.shop_id)


def caught_up(sandbox: Sandbox) -> datetime | None:
    row = catchup(sandbox)
    return row.caught_up_until if row is not None else None


def queued_orders(sandbox: Sandbox, sends: list[Send]) -> set[str]:
    """The Pancake order ids that ``sends`` queue an intake for."""
    assert all(send.actor == INTAKE for send in sends)
    pks = [send.entity_id for send in sends]
    with session_scope(sandbox.runtime.engine) as session:
        return set(session.exec(select(Order.order_id).where(col(Order.id).in_(pks))))


def order_webhooks(sandbox: Sandbox, order_id: str) -> int:
    return sum(1 for d in sandbox.pancake.deliveries if (d.type, d.ref_id) == ("orders", order_id))


@pytest.fixture
def quiet_world(backend: Backend) -> Iterator[Sandbox]:
    """The standard world with webhooks switched off in Pancake and no workers: tests run the
    scheduler's job and the catch-up step themselves, over real HTTP."""
    sandbox = build_world(backend.sandbox()).start(workers=False)
    sandbox.pancake.send_webhooks = False
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.mark.parametrize("lost", ["every webhook", "the confirmation"])
def test_an_order_whose_webhook_never_came_is_fulfilled_within_one_interval(
    backend: Backend, lost: str
) -> None:
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=INTERVAL)).start()
    pancake, shop = sandbox.pancake, sandbox.shop_id
    try:
        sandbox.wait_for(lambda: caught_up(sandbox) is not None, what="the first catch-up")
        if lost == "every webhook":
            pancake.send_webhooks = False
        order_id = pancake.create_order(shop, items=[{"variation_id": NETFLIX, "quantity": 1}])
        if lost == "the confirmation":
            # The "new" webhook came (and was answered: not a trigger); then Pancake went quiet.
            assert pancake.wait_idle()
            assert [d.result for d in pancake.deliveries] == [200]
            pancake.send_webhooks = False

        pancake.set_status(shop, order_id, 1)  # staff confirm it; no webhook says so

        # Within one interval (plus one scheduler tick and the intake itself) it is being bought.
        sandbox.wait_for(
            lambda: bool(sandbox.fulfilments(order_id)),
            timeout=INTERVAL + 2.0,
            what="the catch-up to find the order",
        )
        [line] = sandbox.wait_settled(order_id, lines=1)
        assert line.state == FulfilmentState.ANNOTATED
        [credential] = all_credentials(sandbox)
        assert sandbox.note(order_id).count(credential) == 1
        assert purchases_per_plan(sandbox) == {319: 1}
        assert order_webhooks(sandbox, order_id) == (0 if lost == "every webhook" else 1)
    finally:
        sandbox.stop()


async def _unavailable(request: Request) -> Response:
    return Response(status_code=503)


@pytest.mark.parametrize("receiver", ["down", "answering 503"])
def test_orders_confirmed_while_the_bridge_was_down_are_fulfilled_once_it_is_back(
    backend: Backend, receiver: str
) -> None:
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=INTERVAL))
    failing: ServerThread | None = None
    if receiver == "down":
        url = f"http://127.0.0.1:{free_port()}/webhooks/pancake/{sandbox.shop_id}"
    else:
        app = Starlette(routes=[Route("/{path:path}", _unavailable, methods=["POST"])])
        failing = ServerThread(app).start()
        url = f"{failing.url}/webhooks/pancake/{sandbox.shop_id}"
    try:
        sandbox.pancake.configure_webhook(sandbox.shop_id, url=url, headers={})
        order_id = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
        assert sandbox.pancake.wait_idle()
        results = [d.result for d in sandbox.pancake.deliveries]
        assert results
        assert all(r == 503 if failing else isinstance(r, str) for r in results)

        sandbox.start()  # the bridge is back; Pancake does not send those webhooks again

        sandbox.wait_for(
            lambda: bool(sandbox.fulfilments(order_id)),
            timeout=INTERVAL,
            what="the first catch-up to find the order",
        )
        [line] = sandbox.wait_settled(order_id, lines=1)
        assert line.state == FulfilmentState.ANNOTATED
        assert purchases_per_plan(sandbox) == {319: 1}
    finally:
        sandbox.stop()
        if failing is not None:
            failing.stop()


def test_an_order_seen_by_webhook_and_by_the_catch_up_is_bought_once(backend: Backend) -> None:
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=0.5)).start()
    pancake, shop = sandbox.pancake, sandbox.shop_id
    try:
        order_id = sandbox.place_order(
            [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": CANVA, "quantity": 1}]
        )
        lines = sandbox.wait_settled(order_id, lines=2)
        done = max(line.updated_at for line in lines)
        # Catch-ups that began after the note was written listed the order again (the note
        # update moved its updated_at), and so do repeated webhooks.
        sandbox.wait_for(
            lambda: (caught_up(sandbox) or done) > done + timedelta(seconds=1.5),
            what="catch-ups after the fulfilment",
        )
        for _ in range(3):
            pancake.send_order_webhook(shop, order_id)
        assert pancake.wait_idle()
        row = catchup(sandbox)
        assert row is not None
        assert row.id is not None
        assert catch_up(sandbox.runtime.ctx, row.id) == [], "a re-seen order costs nothing"
        updated = datetime.fromisoformat(pancake.order(shop, order_id)["updated_at"])
        assert (
            int(pancake.order_queries[-1]["startDateTime"])
            <= updated.replace(tzinfo=UTC).timestamp()
        ), "the last read did list the order"
        time.sleep(1.0)

        assert purchases_per_plan(sandbox) == {319: 1, 77: 1}
        assert [line.state for line in sandbox.fulfilments(order_id)] == [
            FulfilmentState.ANNOTATED
        ] * 2
        note = sandbox.note(order_id)
        for credential in all_credentials(sandbox):
            assert note.count(credential) == 1
    finally:
        sandbox.stop()


def test_a_quiet_interval_costs_one_pancake_call_per_shop(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bridge")
    sandbox = build_world(backend.sandbox(catchup_interval_seconds=1.0, sweep_interval_seconds=0.2))
    second = "second-shop"
    sandbox.pancake.add_shop(second, api_key=PANCAKE_API_KEY)
    with session_scope(sandbox.runtime.engine) as session:
        add_shop(
            session, sandbox.runtime.box, second, api_key=PANCAKE_API_KEY, webhook_secret="w" * 20
        )
    try:
        sandbox.start()
        time.sleep(3.5)
    finally:
        sandbox.stop()  # no catch-up is left half done when the calls are counted

    runs = Counter(
        word.removeprefix("shop=")
        for record in caplog.records
        if record.getMessage().startswith("order.catchup.done ")
        for word in record.getMessage().split()
        if word.startswith("shop=")
    )
    calls = Counter(sandbox.pancake.calls)
    shops = (sandbox.shop_id, second)
    assert set(calls) == {("GET", f"/shops/{shop}/orders") for shop in shops}, "nothing else"
    for shop in shops:
        assert 3 <= runs[shop] <= 5, runs
        assert calls["GET", f"/shops/{shop}/orders"] == runs[shop]


def test_the_cursor_moves_only_after_every_page_was_read(quiet_world: Sandbox) -> None:
    sandbox, ctx = quiet_world, quiet_world.runtime.ctx
    pancake, shop = sandbox.pancake, sandbox.shop_id
    # Listed newest first, the confirmed order is on the second page of 100.
    wanted = pancake.create_order(shop, items=[{"variation_id": NETFLIX, "quantity": 1}], status=1)
    for _ in range(120):
        pancake.create_order(shop, items=[], status=0)
    [send] = due_catchups(ctx)
    pancake.inject(500, times=3, path_contains="/orders", query_contains="page_number=2")

    assert catch_up(ctx, send.entity_id) == [], "page 2 failed: the confirmed order unseen"
    row = catchup(sandbox)
    assert row is not None
    assert row.caught_up_until is None, "a read that missed a page moves nothing"
    assert "answered 500" in (row.last_error or "")
    [first] = pancake.order_queries

    before = ctx.clock()
    sends = catch_up(ctx, send.entity_id)  # the next interval reads the same orders again
    after = ctx.clock()

    assert queued_orders(sandbox, sends) == {wanted}
    row = catchup(sandbox)
    assert row is not None
    assert row.caught_up_until is not None
    assert before <= row.caught_up_until <= after
    assert row.last_error is None
    again = pancake.order_queries[1:]
    assert [q["page_number"] for q in again] == ["1", "2"]
    assert {q["startDateTime"] for q in again} == {first["startDateTime"]}

    catch_up(ctx, send.entity_id)
    overlap = timedelta(seconds=ctx.settings.catchup_overlap_seconds)
    expected = math.floor((row.caught_up_until - overlap).timestamp())
    assert pancake.order_queries[-1]["startDateTime"] == str(expected)
    assert due_catchups(ctx) == [], "the next catch-up is an interval after the last one"


@pytest.mark.parametrize(
    ("shop_added_days_ago", "expected"),
    [(30, {"6 days old", "1 day old"}), (2, {"1 day old"})],
    ids=["shop added a month ago", "shop added two days ago"],
)
def test_a_first_read_looks_back_no_further_than_the_lookback_nor_the_shop(
    quiet_world: Sandbox, shop_added_days_ago: int, expected: set[str]
) -> None:
    sandbox, ctx = quiet_world, quiet_world.runtime.ctx
    pancake, shop = sandbox.pancake, sandbox.shop_id
    now = datetime.now(UTC)
    with session_scope(sandbox.runtime.engine) as session:
        row = session.get(PancakeShop, shop)
        assert row is not None
        row.created_at = now - timedelta(days=shop_added_days_ago)
        session.add(row)
    names = {}
    for days, name in ((8, "8 days old"), (6, "6 days old"), (1, "1 day old")):
        pancake.clock = lambda days=days: now - timedelta(days=days)  # type: ignore[misc]
        order_id = pancake.create_order(
            shop, items=[{"variation_id": NETFLIX, "quantity": 1}], status=1
        )
        names[order_id] = name
    pancake.clock = lambda: datetime.now(UTC)

    [send] = due_catchups(ctx)
    sends = catch_up(ctx, send.entity_id)

    assert {names[order_id] for order_id in queued_orders(sandbox, sends)} == expected
    [query] = pancake.order_queries
    lookback = now - timedelta(seconds=ctx.settings.catchup_max_lookback_seconds)
    assert int(query["startDateTime"]) >= math.floor(lookback.timestamp())
    if shop_added_days_ago == 30:
        assert int(query["startDateTime"]) - lookback.timestamp() < 60, "the lookback, no less"
