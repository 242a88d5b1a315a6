"""order.annotate: write delivered credentials into the Pancake order note, once per line.

One annotator per order at a time (a lease on the order row): two lines of one order delivered
together would otherwise both read the old note and the second PUT would erase the first block.
The note is read fresh right before writing, staff text is kept, and blocks already present are
not written again, so a crash between the PUT and the commit costs nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.states import WRITABLE, DelayNotice, FulfilmentState
from workers.alerts.store import raise_alert
from workers.fulfilment.cancel import gone
from workers.fulfilment.failures import count_failure, reason_text, unexpected
from workers.fulfilment.lines import set_state
from workers.fulfilment.notes import (
    append_blocks,
    delay_marker,
    render_block,
    render_delay_notice,
    unwritten,
    without_delay_notice,
)
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, Send
from workers.queue.leases import free_or_expired

# While another annotator holds the order, come back shortly: it may not see our line.
LOCKED_RETRY_SECONDS = 1.0
LINE_FAILED_ALERT = "note_failed"


def annotate(ctx: Context, order_pk: int) -> list[Send]:
    if not _lock(ctx, order_pk):
        return [Send(ANNOTATE, order_pk, LOCKED_RETRY_SECONDS)]
    try:
        return _annotate_locked(ctx, order_pk)
    except Exception as exc:  # noqa: BLE001 - counted: a crash on every try must end, not loop
        event("order.annotate.crashed", logging.ERROR, order_pk=order_pk, error=type(exc).__name__)
        return _failed(ctx, order_pk, _unwritten_ids(ctx, order_pk), unexpected(exc), final=False)
    finally:
        _unlock(ctx, order_pk)


def _annotate_locked(ctx: Context, order_pk: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        assert order is not None
        lines = list(
            session.exec(
                select(Fulfilment)
                .where(Fulfilment.order_pk == order_pk)
                .where(
                    or_(
                        col(Fulfilment.state).in_(WRITABLE),
                        col(Fulfilment.delay_notice) == DelayNotice.PENDING,
                    )
                )
                .order_by(col(Fulfilment.id))
            )
        )
        shop = session.get(PancakeShop, order.shop_id)
        if not lines or shop is None:
            return []
        if gone(order):
            _keep_unwritten(session, lines)
            return []
        client = ctx.pancake(shop)
        shop_id, order_id, reported_at = order.shop_id, order.order_id, order.created_at
    try:
        remote = client.get_order(shop_id, order_id)
        pieces = [piece for line in lines for piece in _pieces(ctx, line, remote.note)]
        # A line delivered in full no longer needs its delay notice: the credentials replace it.
        note = remote.note
        for line in lines:
            if line.state == FulfilmentState.DELIVERED and line.id is not None:
                note = without_delay_notice(note, line.id)
        if pieces or note != remote.note:
            client.update_order(shop_id, order_id, {"note": append_blocks(note, pieces)})
    except (PancakeUnavailable, PancakeRequestError) as exc:
        line_ids = [line.id for line in lines if line.id]
        # A refusal (4xx) will not pass on its own: give up at once.
        return _failed(
            ctx, order_pk, line_ids, str(exc), final=isinstance(exc, PancakeRequestError)
        )
    took = ctx.clock() - reported_at
    with session_scope(ctx.engine) as session:
        for line in lines:
            row = session.get(Fulfilment, line.id)
            if row is not None:
                _mark_written(session, row, took)
    event("order.annotate.written", order=order_id, lines=len(lines), pieces=len(pieces))
    return []


def _pieces(ctx: Context, line: Fulfilment, note: str) -> list[str]:
    assert line.id is not None
    pieces: list[str] = []
    if line.state in WRITABLE and line.credentials_enc:
        credentials: list[str] = json.loads(ctx.box.decrypt(line.credentials_enc))
        new = unwritten(note, credentials)
        if new:
            pieces.append(render_block(line.id, _title(line, len(credentials)), new))
    if line.delay_notice == DelayNotice.PENDING and delay_marker(line.id) not in note:
        item = line.item_name or f"variation {line.variation_id}"
        pieces.append(render_delay_notice(line.id, item))
    return pieces


def _keep_unwritten(session: Session, lines: list[Fulfilment]) -> None:
    """The order was cancelled in Pancake: write nothing into it. Credentials stay stored (for
    `fulfilments resend` should the sale come back); a person decides (the cancel alerted)."""
    for row in lines:
        row.delay_notice = None
        if row.state in WRITABLE:
            row.lease_until = None
            reason = "the order was cancelled in Pancake after delivery; credentials kept"
            set_state(session, row, FulfilmentState.NEEDS_ATTENTION, reason)
        session.add(row)


def _mark_written(session: Session, row: Fulfilment, took: timedelta) -> None:
    """``took``: from the order's first report to this note."""
    if row.delay_notice == DelayNotice.PENDING:
        row.delay_notice = DelayNotice.WRITTEN
    if row.state in WRITABLE:
        row.annotated_count = row.delivered_count
        row.last_error = None
    if row.state == FulfilmentState.DELIVERED:
        row.lease_until = None
        set_state(session, row, FulfilmentState.ANNOTATED, None)
        metrics.noted(took)
    session.add(row)


def _title(line: Fulfilment, delivered: int) -> str:
    name = line.item_name or f"variation {line.variation_id}"
    expected = line.supplier_quantity or delivered
    progress = f", {delivered} of {expected} delivered" if delivered < expected else ""
    return f"{name} x{line.quantity} (supplier order {line.trans_id}{progress})"


def _failed(
    ctx: Context, order_pk: int, line_ids: list[int], error: str, *, final: bool
) -> list[Send]:
    """Transient errors wait and retry; after too many (or a ``final`` one) each line gives up,
    with an alert: a line with credentials becomes `failed`, and every line is parked (no lease)
    so the sweep stops sending it, a line that only waits for its delay notice included, until
    an operator's retry."""
    now = ctx.clock()
    give_up = False
    failures = 0
    with session_scope(ctx.engine) as session:
        for line_id in line_ids:
            row = session.get(Fulfilment, line_id)
            if row is None or not _unwritten(row):
                continue
            delay = count_failure(ctx, row, f"note update: {error}")
            failures = max(failures, row.failures)
            if final or delay is None:
                give_up = True
                reason = reason_text(f"could not write the note: {error}")
                row.lease_until = None
                if row.state in WRITABLE:
                    set_state(session, row, FulfilmentState.FAILED, reason)
                raise_alert(
                    session,
                    LINE_FAILED_ALERT,
                    str(line_id),
                    f"line {line_id} of order {row.order_id} (shop {row.shop_id}): {reason}; "
                    f"`bridge fulfilments retry {line_id}` tries again",
                    now,
                )
            session.add(row)
    event("order.annotate.failed", logging.WARNING, order_pk=order_pk, failures=failures)
    if give_up or failures == 0:
        return []
    return [Send(ANNOTATE, order_pk, ctx.retry_delay(failures))]


def _unwritten(row: Fulfilment) -> bool:
    """The line has something for the note: credentials, or its delay notice."""
    return row.state in WRITABLE or row.delay_notice == DelayNotice.PENDING


def _unwritten_ids(ctx: Context, order_pk: int) -> list[int]:
    with session_scope(ctx.engine) as session:
        rows = session.exec(select(Fulfilment).where(Fulfilment.order_pk == order_pk)).all()
        return [row.id for row in rows if row.id is not None and _unwritten(row)]


def _lock(ctx: Context, order_pk: int) -> bool:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        result = session.connection().execute(
            update(Order)
            .where(col(Order.id) == order_pk)
            .where(free_or_expired(col(Order.annotate_lock_until), now))
            .values(annotate_lock_until=ctx.lease_until(now))
        )
        return result.rowcount == 1


def _unlock(ctx: Context, order_pk: int) -> None:
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(Order).where(col(Order.id) == order_pk).values(annotate_lock_until=None)
        )
