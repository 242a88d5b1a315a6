"""How a step counts its failures, and how an order that cannot go on ends: visibly.

Every step retries a transient failure with backoff and counts it on its row (an order or a
line: both carry ``failures``, ``last_error`` and ``lease_until``). After
``max_step_failures`` it stops. An unexpected exception counts too: a step that crashes on
every try would otherwise be resent by the sweep after every lease, forever, with nothing to
show for it.

An order that ends ``failed`` keeps the reason, why in one word (``OrderFailure``, in
``bridge.states`` with the other vocabularies: a key problem is retried by itself once
`shops add` gives the shop a new key) and when, and raises an alert.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from bridge.logs import clip, event, redact
from bridge.models import Order
from bridge.states import OrderFailure, OrderState
from workers.alerts.store import raise_alert
from workers.queue.context import Context

# Long enough for Pancake's own sentence; a reason is read in a table cell, not a log file.
MAX_REASON_CHARS = 500
ORDER_FAILED_ALERT = "order_failed"


class Counted(Protocol):
    """A row whose step counts its failures: an ``Order`` or a ``Fulfilment``."""

    failures: int
    last_error: str | None
    lease_until: datetime | None


def count_failure(ctx: Context, row: Counted, error: str) -> float | None:
    """One more failure of the row's step: the delay before it is tried again, or None when it
    has failed ``max_step_failures`` times and must stop (the caller says how it ends)."""
    row.failures += 1
    row.last_error = reason_text(error)
    if row.failures >= ctx.settings.max_step_failures:
        return None
    delay = ctx.retry_delay(row.failures)
    row.lease_until = ctx.lease_until(ctx.clock(), delay)
    return delay


def unexpected(exc: BaseException) -> str:
    """A crash as a one-line reason: its type and message (a database error without its SQL
    and parameters, which may carry order data)."""
    cause = exc.orig if isinstance(exc, sa_exc.StatementError) and exc.orig else exc
    message = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    name = type(cause).__name__
    return f"unexpected {name}: {message}" if message else f"unexpected {name}"


def reason_text(text: str) -> str:
    """``text`` fit to be stored and shown: query secrets redacted, one line, bounded."""
    return clip(redact(text), MAX_REASON_CHARS)


def fail_order(
    session: Session, order: Order, reason: str, kind: OrderFailure, now: datetime
) -> None:
    """End ``order`` in ``failed`` with ``reason`` inside the caller's transaction, and alert."""
    order.state = OrderState.FAILED
    order.last_error = reason_text(reason)
    order.failure_kind = kind
    order.failed_at = now
    order.updated_at = now
    session.add(order)
    assert order.id is not None
    alert_order_failed(session, order.id, order.shop_id, order.order_id, order.last_error, now)


def alert_order_failed(
    session: Session, order_pk: int, shop_id: str, order_id: str, reason: str, now: datetime
) -> None:
    event("order.failed", logging.WARNING, id=order_pk, shop=shop_id, order=order_id)
    raise_alert(
        session,
        ORDER_FAILED_ALERT,
        f"{shop_id}:{order_id}",
        f"order {order_id} of shop {shop_id} failed: {reason}; once that is fixed, "
        f"`bridge orders retry {order_pk}` reads it again",
        now,
    )
