"""Durable webhook recording with group commit.

The endpoint hands each verified webhook to one writer thread, which commits whatever has queued up
meanwhile in a single transaction (one fsync for many webhooks), then sends the resulting messages
and wakes the waiting requests. A request is answered only after its event is on disk, so a 2xx
means "recorded"; under concurrency this costs far less than a commit per request.

A value the database refuses would fail the whole transaction, its neighbours included. The parser
checks every stored value first (bridge/pancake/webhooks.py); should one still be refused, the
batch is stored again one webhook at a time, so only that webhook fails (UnstorableWebhook).

Only what deduplication, the operator and intake need is kept: kind, shop, ids, status, outcome,
time and the body's hash. Never the body: Pancake echoes the note the bridge wrote, delivered
credentials included, and customer webhooks carry phones and e-mails.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, StatementError

from bridge.db import insert_ignore, utcnow
from bridge.logs import event
from bridge.pancake.webhooks import ORDER_TYPE, STOCK_TYPE, ParsedWebhook
from workers.fulfilment.models import WebhookEvent
from workers.fulfilment.reported import Finding, classify, order_reported
from workers.queue.dispatch import Send
from workers.stock.holds import record_hold
from workers.stock.triggers import mark_level_reported, request_stock_sync, tracked_level

MAX_BATCH = 512


class Outcome(StrEnum):
    # An order webhook's outcome is what the report of its order led to (see Finding).
    QUEUED = Finding.QUEUED.value
    KNOWN = Finding.KNOWN.value
    IGNORED_STATUS = Finding.IGNORED_STATUS.value
    CANCEL_QUEUED = Finding.CANCEL_QUEUED.value
    IGNORED_TYPE = "ignored:type"  # neither an order nor a stock webhook
    IGNORED_SHOP = "ignored:shop"  # the body names another shop than its URL
    DUPLICATE = "duplicate"  # this exact body was recorded before
    STOCK_QUEUED = "stock:queued"  # Pancake's quantity is not what we pushed: a sync will fix it
    STOCK_OURS = "stock:ours"  # the quantity we pushed (Pancake echoes our own pushes)
    IGNORED_STOCK = "ignored:stock"  # a variation (or warehouse) the bridge does not sync
    # Pancake's {"test": true} on saving the URL: answered by the endpoint, never recorded (an
    # unauthenticated sender must not be able to write a row).
    PING = "ping"


class UnstorableWebhook(Exception):
    """The database refused a value of this webhook (and only of this one): nothing was stored.
    The message is a one-line reason for the sender."""


@dataclass(frozen=True, slots=True)
class Incoming:
    shop_id: str
    webhook: ParsedWebhook
    triggers: frozenset[int]


_Waiter = tuple[Incoming, asyncio.AbstractEventLoop, "asyncio.Future[Outcome]"]
COMMIT_ATTEMPTS = 3


def _lock_key(incoming: Incoming) -> tuple[str, str]:
    return incoming.shop_id, incoming.webhook.order_id or ""


class EventRecorder:
    def __init__(
        self,
        engine: Engine,
        dispatch: Callable[[Iterable[Send]], None],
        *,
        lease_seconds: float,
        stock_debounce_seconds: float | None = None,
    ) -> None:
        """``stock_debounce_seconds`` None: stock webhooks trigger no sync (stock sync is off)."""
        self._engine = engine
        self._dispatch = dispatch
        self._lease = timedelta(seconds=lease_seconds)
        self._lease_seconds = lease_seconds
        self._stock_debounce = stock_debounce_seconds
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="event-recorder", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    async def record(self, incoming: Incoming) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put((incoming, loop, future))
        return await future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch: list[_Waiter]) -> None:
        try:
            outcomes, sends = self._commit_retrying(batch)
        except Exception as exc:  # noqa: BLE001 - every waiter learns it was not recorded
            if len(batch) > 1 and _refused_value(exc):
                self._commit_one_by_one(batch)
                return
            event("webhook.record.failed", logging.ERROR, error=type(exc).__name__, size=len(batch))
            _wake(batch, [_answer(exc)] * len(batch))
            return
        self._dispatch(sends)
        _wake(batch, outcomes)

    def _commit_one_by_one(self, batch: list[_Waiter]) -> None:
        """Store each webhook in a transaction of its own: only the one with a bad value fails."""
        results: list[Outcome | Exception] = []
        for waiter in batch:
            try:
                [outcome], sends = self._commit_retrying([waiter])
            except Exception as exc:  # noqa: BLE001 - this waiter learns it was not recorded
                event("webhook.record.failed", logging.ERROR, error=type(exc).__name__, size=1)
                results.append(_answer(exc))
            else:
                self._dispatch(sends)
                results.append(outcome)
        _wake(batch, results)

    def _commit_retrying(self, batch: list[_Waiter]) -> tuple[list[Outcome], list[Send]]:
        for attempt in range(1, COMMIT_ATTEMPTS):
            try:
                return self._record_batch(batch)
            except OperationalError:
                # A deadlock with another writer of the same order rows (the catch-up), or a
                # serialization failure: PostgreSQL rolled the batch back; it may be run again.
                event("webhook.record.retried", logging.WARNING, attempt=attempt)
        return self._record_batch(batch)

    def _record_batch(self, batch: list[_Waiter]) -> tuple[list[Outcome], list[Send]]:
        now = utcnow()
        sends: list[Send] = []
        outcomes: dict[int, Outcome] = {}
        # Order rows are locked in one order (shop, order id) by every writer: no deadlocks.
        ordered = sorted(range(len(batch)), key=lambda i: _lock_key(batch[i][0]))
        with self._engine.begin() as conn:
            for index in ordered:
                outcome, follow_up = self._record_one(conn, batch[index][0], now)
                outcomes[index] = outcome
                sends.extend(follow_up)
        return [outcomes[i] for i in range(len(batch))], sends

    def _record_one(
        self, conn: Connection, incoming: Incoming, now: datetime
    ) -> tuple[Outcome, list[Send]]:
        hook = incoming.webhook
        if hook.kind not in (ORDER_TYPE, STOCK_TYPE):
            outcome = Outcome.IGNORED_TYPE
        elif hook.shop_id is not None and hook.shop_id != incoming.shop_id:
            # Another shop's order or stock (a webhook URL pasted into the wrong shop): acting on
            # it would read, buy or sync for the wrong shop.
            outcome = Outcome.IGNORED_SHOP
        elif hook.kind == STOCK_TYPE:
            return self._record_stock(conn, incoming, now)
        else:
            outcome = Outcome(classify(hook.order_status, incoming.triggers))
        if not self._insert_event(conn, incoming, outcome, now):
            return Outcome.DUPLICATE, []
        if outcome not in (Outcome.QUEUED, Outcome.CANCEL_QUEUED):
            return outcome, []
        assert hook.order_id is not None
        found, sends = order_reported(
            conn,
            incoming.shop_id,
            hook.order_id,
            status=hook.order_status,
            item_count=hook.item_count,
            triggers=incoming.triggers,
            now=now,
            lease=self._lease,
            items_digest=hook.items_digest,
        )
        return Outcome(found), sends

    def _insert_event(
        self, conn: Connection, incoming: Incoming, outcome: Outcome, now: datetime
    ) -> bool:
        """Record the event; False when this exact body was recorded before."""
        hook = incoming.webhook
        inserted = insert_ignore(
            conn,
            WebhookEvent.__table__,  # type: ignore[attr-defined]
            {
                "shop_id": incoming.shop_id,
                "kind": hook.kind,
                "order_id": hook.order_id,
                "order_status": hook.order_status,
                "body_hash": hook.body_hash,
                "outcome": outcome,
                "received_at": now,
            },
            ["shop_id", "body_hash"],
        )
        return inserted is not None

    def _record_stock(
        self, conn: Connection, incoming: Incoming, now: datetime
    ) -> tuple[Outcome, list[Send]]:
        """A quantity other than ours marks the variation and requests one debounced sync."""
        hook, debounce, reported = incoming.webhook, self._stock_debounce, None
        level = None
        if debounce is not None and hook.variation_id and hook.warehouse_id:
            reported = hook.remain_quantity
            level = tracked_level(conn, incoming.shop_id, hook.variation_id, hook.warehouse_id)
        outcome = Outcome.IGNORED_STOCK
        if level is not None and reported is not None:
            # A webhook naming an order is Pancake's reservation, never the echo of our push.
            ours = level.is_ours(reported) and not hook.reserved_for
            outcome = Outcome.STOCK_OURS if ours else Outcome.STOCK_QUEUED
        if not self._insert_event(conn, incoming, outcome, now):
            return Outcome.DUPLICATE, []
        if hook.reserved_for and hook.variation_id and hook.warehouse_id and hook.change_quantity:
            # Pancake took (or gave back) units for an open order: the sync subtracts them.
            record_hold(
                conn,
                incoming.shop_id,
                hook.reserved_for,
                hook.variation_id,
                hook.warehouse_id,
                hook.change_quantity,
                now,
            )
        if outcome != Outcome.STOCK_QUEUED or level is None or reported is None:
            return outcome, []
        assert debounce is not None  # a level is only looked up when stock sync is on
        mark_level_reported(conn, level.id, reported, now)
        sends = request_stock_sync(
            conn, now, trigger="webhook", delay=debounce, stale_after=self._lease_seconds
        )
        return outcome, sends


def _refused_value(exc: Exception) -> bool:
    """Did the database refuse a value (a webhook's fault), rather than fail as a whole?"""
    if isinstance(exc, (DataError, IntegrityError)):
        return True
    # A value the driver cannot even send (an integer SQLite cannot hold, text it cannot encode)
    # fails before the database sees it: wrapped in StatementError, or raised as it is.
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return True
    return isinstance(exc, (OverflowError, UnicodeError, ValueError))


def _answer(exc: Exception) -> Exception:
    """What a waiter is told: a refused value is the webhook's own fault (400), anything else
    (the database down, a deadlock that would not clear) is worth a retry (503)."""
    if _refused_value(exc):
        return UnstorableWebhook(f"a value in the webhook cannot be stored ({type(exc).__name__})")
    return exc


def _wake(batch: list[_Waiter], results: Sequence[Outcome | Exception]) -> None:
    """Hand each waiter its result with one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Any]]] = {}
    for (_, loop, future), result in zip(batch, results, strict=True):
        by_loop.setdefault(loop, []).append((future, result))
    for loop, pairs in by_loop.items():
        loop.call_soon_threadsafe(_resolve, pairs)


def _resolve(pairs: list[tuple[asyncio.Future[Outcome], Outcome | Exception]]) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(result)
