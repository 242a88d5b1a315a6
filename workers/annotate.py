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
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, FulfilmentState, PancakeOrder, PancakeShop
from bridge.notes import append_blocks, has_block, render_block
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from workers.context import Context
from workers.dispatch import ANNOTATE, Send
from workers.lines import set_state

# While another annotator holds the order, come back shortly: it may not see our line.
LOCKED_RETRY_SECONDS = 1.0


def annotate(ctx: Context, order_pk: int) -> list[Send]:
    if not _lock(ctx, order_pk):
        return [Send(ANNOTATE, order_pk, LOCKED_RETRY_SECONDS)]
    try:
        return _annotate_locked(ctx, order_pk)
    finally:
        _unlock(ctx, order_pk)


def _annotate_locked(ctx: Context, order_pk: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        order = session.get(PancakeOrder, order_pk)
        assert order is not None
        lines = list(
            session.exec(
                select(Fulfilment)
                .where(
                    Fulfilment.order_pk == order_pk, Fulfilment.state == FulfilmentState.DELIVERED
                )
                .order_by(col(Fulfilment.id))
            )
        )
        shop = session.get(PancakeShop, order.shop_id)
        if not lines or shop is None:
            return []
        client = ctx.pancake(shop)
        shop_id, order_id = order.shop_id, order.order_id
    try:
        remote = client.get_order(shop_id, order_id)
        blocks = [
            render_block(
                line.id, _title(line), json.loads(ctx.box.decrypt(line.credentials_enc or ""))
            )
            for line in lines
            if line.id is not None and not has_block(remote.note, line.id)
        ]
        if blocks:
            client.update_order(shop_id, order_id, {"note": append_blocks(remote.note, blocks)})
    except (PancakeUnavailable, PancakeRequestError) as exc:
        return _failed(ctx, order_pk, [line.id for line in lines if line.id], exc)
    with session_scope(ctx.engine) as session:
        for line in lines:
            row = session.get(Fulfilment, line.id)
            if row is not None and row.state == FulfilmentState.DELIVERED:
                row.lease_until = None
                row.last_error = None
                set_state(session, row, FulfilmentState.ANNOTATED, None)
    event("order.annotate.written", order=order_id, lines=len(lines), blocks=len(blocks))
    return []


def _title(line: Fulfilment) -> str:
    name = line.item_name or f"variation {line.variation_id}"
    return f"{name} x{line.quantity} (supplier order {line.trans_id})"


def _failed(ctx: Context, order_pk: int, line_ids: list[int], exc: Exception) -> list[Send]:
    """Transient errors wait and retry; after too many (or a 4xx) the lines become `failed`."""
    now = ctx.clock()
    give_up = False
    failures = 0
    with session_scope(ctx.engine) as session:
        for line_id in line_ids:
            row = session.get(Fulfilment, line_id)
            if row is None or row.state != FulfilmentState.DELIVERED:
                continue
            row.failures += 1
            failures = max(failures, row.failures)
            row.last_error = f"note update: {exc}"
            if (
                isinstance(exc, PancakeRequestError)
                or row.failures >= ctx.settings.max_step_failures
            ):
                give_up = True
                set_state(session, row, FulfilmentState.FAILED, f"could not write the note: {exc}")
            else:
                delay = ctx.retry_delay(row.failures)
                row.lease_until = now + timedelta(seconds=delay + ctx.settings.lease_seconds)
                session.add(row)
    event("order.annotate.failed", logging.WARNING, order_pk=order_pk, error=type(exc).__name__)
    if give_up or failures == 0:
        return []
    return [Send(ANNOTATE, order_pk, ctx.retry_delay(failures))]


def _lock(ctx: Context, order_pk: int) -> bool:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        result = session.connection().execute(
            update(PancakeOrder)
            .where(col(PancakeOrder.id) == order_pk)
            .where(
                or_(
                    col(PancakeOrder.annotate_lock_until).is_(None),
                    col(PancakeOrder.annotate_lock_until) < now,
                )
            )
            .values(annotate_lock_until=now + timedelta(seconds=ctx.settings.lease_seconds))
        )
        return result.rowcount == 1


def _unlock(ctx: Context, order_pk: int) -> None:
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(PancakeOrder)
            .where(col(PancakeOrder.id) == order_pk)
            .values(annotate_lock_until=None)
        )
