"""Group commit: one webhook the database refuses fails alone, its batch neighbours are stored.

The parser refuses every bad value it knows before the batch (tests/test_webhook_endpoint.py);
these tests hand the recorder values the parser would have refused, to prove the second line
of defence: the batch is stored again one webhook at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bridge.db import make_engine
from bridge.migrate import ensure_current
from bridge.models import Order
from bridge.pancake.webhooks import ORDER_TYPE, ParsedWebhook
from bridge.web.ingest import EventRecorder, Incoming, Outcome, UnstorableWebhook
from tests.conftest import Backend
from workers.fulfilment.models import WebhookEvent
from workers.queue.dispatch import Send

SHOP = "4"
TRIGGERS = frozenset({1})


@pytest.fixture
def engine(backend: Backend) -> Iterator[Engine]:
    ensure_current(backend.database_url)
    engine = make_engine(backend.database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def order(order_id: str, status: int) -> Incoming:
    hook = ParsedWebhook(ORDER_TYPE, order_id, status, 1, body_hash=f"hash-{order_id}")
    return Incoming(SHOP, hook, TRIGGERS)


async def record_in_one_batch(
    recorder: EventRecorder, incomings: list[Incoming]
) -> list[Outcome | BaseException]:
    """Queue every webhook before the writer starts, so that they form one batch."""
    tasks = [asyncio.ensure_future(recorder.record(incoming)) for incoming in incomings]
    await asyncio.sleep(0)  # each task has queued its webhook
    recorder.start()
    try:
        return await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        recorder.stop()


def rows(engine: Engine) -> tuple[set[str], int]:
    with engine.connect() as conn:
        events = set(conn.execute(select(WebhookEvent.order_id)).scalars())  # type: ignore[call-overload]
        orders = conn.execute(select(func.count()).select_from(Order)).scalar_one()
    return events, orders


def test_a_value_the_database_refuses_fails_only_its_own_webhook(engine: Engine) -> None:
    sent: list[Send] = []

    def dispatch(sends: Iterable[Send]) -> None:
        sent.extend(sends)

    recorder = EventRecorder(engine, dispatch, lease_seconds=30)
    valid = [order(f"{n}", 1) for n in range(90)]
    batch = valid[:45] + [order("bad", 10**20)] + valid[45:]

    results = asyncio.run(record_in_one_batch(recorder, batch))

    [refusal] = [r for r in results if isinstance(r, BaseException)]
    assert isinstance(refusal, UnstorableWebhook)
    assert "\n" not in str(refusal)
    assert [r for r in results if not isinstance(r, BaseException)] == [Outcome.QUEUED] * 90
    events, orders = rows(engine)
    assert events == {f"{n}" for n in range(90)}
    assert orders == 90
    assert len(sent) == 90, "one intake per stored order, none for the refused one"
