"""order.intake: read the order from Pancake (not the webhook) and create one fulfilment per line.

The Pancake API decides what gets bought: a webhook body can be stale, trimmed or forged. Lines are
keyed by the order item id (or variation and occurrence), so re-reading the order after any later
change creates nothing twice.

Every way intake can go wrong ends visibly: a refusal or an insane order at once, transient
errors and crashes after ``max_step_failures`` tries (``workers.fulfilment.failures``), each in
``failed`` with the reason and an alert, for `bridge orders list` and `bridge orders retry`.
"""

from __future__ import annotations

import json
import logging
from collections import Counter

from sqlalchemy import update
from sqlmodel import Session, col

from bridge.db import insert_ignore, session_scope, utcnow
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import PancakeOrder, PancakeOrderItem
from bridge.pancake.vocabulary import CANCELLING
from bridge.states import FulfilmentState, OrderState
from mappings.resolve import choices, unserved
from workers.fulfilment.bounds import clean_name, order_problem
from workers.fulfilment.cancel import cancel_lines
from workers.fulfilment.failures import (
    OrderFailure,
    alert_order_failed,
    count_failure,
    fail_order,
    reason_text,
    unexpected,
)
from workers.queue.context import Context
from workers.queue.dispatch import INTAKE, PURCHASE, Send

# Pancake answers these when the shop's API key is wrong or was revoked: a new key fixes it.
KEY_STATUSES = frozenset({401, 403})


def intake(ctx: Context, order_pk: int) -> list[Send]:
    try:
        return _intake(ctx, order_pk)
    except Exception as exc:  # noqa: BLE001 - counted: a crash on every try must end, not loop
        event("order.intake.crashed", logging.ERROR, id=order_pk, error=type(exc).__name__)
        return _retry_later(ctx, order_pk, unexpected(exc), OrderFailure.UNEXPECTED)


def _intake(ctx: Context, order_pk: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        if order is None or order.state != OrderState.PENDING:
            return []
        generation = order.generation
        shop = session.get(PancakeShop, order.shop_id)
        if shop is None:
            return _conclude(
                session,
                order_pk,
                generation,
                OrderState.FAILED,
                f"shop {order.shop_id} was removed from the bridge",
                OrderFailure.SHOP_REMOVED,
            )
        shop_id, order_id, triggers = shop.shop_id, order.order_id, set(shop.trigger_statuses)
        client = ctx.pancake(shop)
    try:
        remote = client.get_order(shop_id, order_id)
    except PancakeUnavailable as exc:
        return _retry_later(ctx, order_pk, str(exc), OrderFailure.PANCAKE_UNAVAILABLE)
    except PancakeRequestError as exc:
        kind = (
            OrderFailure.PANCAKE_KEY if exc.status in KEY_STATUSES else OrderFailure.PANCAKE_REFUSED
        )
        with session_scope(ctx.engine) as session:
            error = f"Pancake refused the order read: {exc}"
            return _conclude(session, order_pk, generation, OrderState.FAILED, error, kind)
    if remote.status in CANCELLING:
        with session_scope(ctx.engine) as session:
            order = session.get(Order, order_pk)
            assert order is not None
            cancel_lines(ctx, session, order, remote.status)
            note = f"status {remote.status}: cancelled in Pancake"
            return _conclude(session, order_pk, generation, OrderState.CANCELLED, note)
    if remote.status not in triggers:
        event("order.intake.skipped", shop=shop_id, order=order_id, status=remote.status)
        with session_scope(ctx.engine) as session:
            error = f"status {remote.status} is no trigger"
            return _conclude(session, order_pk, generation, OrderState.SKIPPED, error)
    problem = order_problem(remote, max_quantity=ctx.settings.intake_max_quantity)
    if problem is not None:
        event("order.intake.refused", logging.WARNING, shop=shop_id, order=order_id)
        with session_scope(ctx.engine) as session:
            error = f"refused: {problem}; nothing was bought"
            return _conclude(
                session, order_pk, generation, OrderState.FAILED, error, OrderFailure.OUT_OF_RANGE
            )
    return _create_fulfilments(ctx, order_pk, remote, generation)


def line_keys(items: list[PancakeOrderItem]) -> list[str]:
    """A stable key per line: the item id, else the variation id and its occurrence number."""
    seen: Counter[str] = Counter()
    keys = []
    for index, item in enumerate(items):
        if item.id:
            keys.append(f"item:{item.id}")
            continue
        base = item.variation_id or f"line{index}"
        seen[base] += 1
        keys.append(f"var:{base}#{seen[base]}")
    return keys


def _create_fulfilments(
    ctx: Context, order_pk: int, remote: PancakeOrder, generation: int
) -> list[Send]:
    now = ctx.clock()
    sends: list[Send] = []
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        if order is None or order.state != OrderState.PENDING:
            return []  # another intake of the same order got here first
        conn = session.connection()
        for key, item in zip(line_keys(remote.items), remote.items, strict=True):
            if item.quantity <= 0:
                continue
            values = _line_values(session, order, item)
            values.update(
                order_pk=order_pk,
                shop_id=order.shop_id,
                order_id=order.order_id,
                line_key=key,
                variation_id=item.variation_id,
                item_name=clean_name(item.name),
                quantity=item.quantity,
                lease_until=ctx.lease_until(now),
                created_at=now,
                updated_at=now,
            )
            new_id = insert_ignore(
                conn,
                Fulfilment.__table__,  # type: ignore[attr-defined]
                values,
                ["shop_id", "order_id", "line_key"],
                returning="id",
            )
            if new_id is not None and values["state"] == FulfilmentState.PENDING:
                sends.append(Send(PURCHASE, new_id))
            if new_id is not None:
                event(
                    "fulfilment.created",
                    id=new_id,
                    order=order.order_id,
                    state=values["state"],
                    reason=values.get("reason"),
                )
        order.item_count = max(order.item_count, len(remote.items))
        # Field placeholders are filled from this copy when a line is bought (or re-bought).
        order.snapshot_enc = ctx.box.encrypt(json.dumps(remote.raw))
        order.read_at = ctx.clock()
        session.add(order)
        session.flush()
        sends += _conclude(session, order_pk, generation, OrderState.SYNCED, None)
    return sends


def _line_values(session: Session, order: Order, item: PancakeOrderItem) -> dict[str, object]:
    """Unmapped lines need a person now; the supplier choice is made when buying (fallbacks)."""
    if not item.variation_id:
        return _attention("unmapped: the order line has no variation id")
    if not choices(session, order.shop_id, item.variation_id):
        # Unmapped, or mapped with everything disabled: the reason says which.
        return _attention(unserved(session, order.shop_id, item.variation_id).reason)
    return {"state": FulfilmentState.PENDING}


def _attention(reason: str) -> dict[str, object]:
    return {"state": FulfilmentState.NEEDS_ATTENTION, "reason": reason}


def _conclude(
    session: Session,
    order_pk: int,
    generation: int,
    state: OrderState,
    error: str | None,
    failure: OrderFailure | None = None,
) -> list[Send]:
    """Record what intake found, unless a trigger webhook arrived after it read the order.

    Each such webhook bumps the order's generation. If it moved, this read may be stale (the
    order was confirmed, or got a line, meanwhile): leave it pending and read it again. A
    failure raises an alert.
    """
    now = utcnow()
    result = session.connection().execute(
        update(Order)
        .where(col(Order.id) == order_pk, col(Order.generation) == generation)
        .values(
            state=state,
            last_error=reason_text(error) if error else None,
            # A refusal is one more failure; any other finding starts the count afresh.
            failures=col(Order.failures) + 1 if state == OrderState.FAILED else 0,
            failure_kind=failure,
            failed_at=now if state == OrderState.FAILED else None,
            updated_at=now,
        )
    )
    if result.rowcount != 1:
        return [Send(INTAKE, order_pk)]
    if state == OrderState.FAILED and error:
        order = session.get(Order, order_pk)
        assert order is not None
        alert_order_failed(
            session, order_pk, order.shop_id, order.order_id, reason_text(error), now
        )
    return []


def _retry_later(ctx: Context, order_pk: int, error: str, failure: OrderFailure) -> list[Send]:
    """A transient failure (or a crash): try again after a backoff, until it failed too often."""
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        if order is None or order.state != OrderState.PENDING:
            return []
        delay = count_failure(ctx, order, error)
        if delay is None:
            reason = f"gave up after {order.failures} tries: {error}"
            fail_order(session, order, reason, failure, ctx.clock())
            event("order.intake.failed", logging.WARNING, id=order_pk, error=failure)
            return []
        session.add(order)
    return [Send(INTAKE, order_pk, delay)]
