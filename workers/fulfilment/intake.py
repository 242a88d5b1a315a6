"""order.intake: read the order from Pancake (not the webhook) and make its lines match it.

The Pancake API decides what gets bought: a webhook body can be stale, trimmed or forged. The
first read creates one line per item; a later one (an edit, a restore, a partial return) makes
the lines match the order again (``workers.fulfilment.reconcile``), so reading an order again
after any change buys each unit once.

Only new sales are bought: an order Pancake says was created before the shop fulfils from
(``PancakeShop.fulfil_from``) is the shop's history, delivered by hand. Its first read records it
``skipped`` ("skipped: before the shop was connected") for good: a later status change or
catch-up does not read it again (``reported``), only an operator's `bridge orders fulfil` does.

Every way intake can go wrong ends visibly: a refusal or an insane order at once, transient
errors and crashes after ``max_step_failures`` tries (``workers.fulfilment.failures``), each in
``failed`` with the reason and an alert, for `bridge orders list` and `bridge orders retry`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import session_scope, utcnow
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import PancakeOrder
from bridge.pancake.vocabulary import SALE_OFF, OrderStatus
from bridge.states import OrderFailure, OrderState
from workers.fulfilment.bounds import order_problem
from workers.fulfilment.cancel import cancel_lines
from workers.fulfilment.failures import (
    alert_order_failed,
    count_failure,
    fail_order,
    reason_text,
    unexpected,
)
from workers.fulfilment.reconcile import reconcile
from workers.queue.context import Context
from workers.queue.dispatch import INTAKE, Send

# Pancake answers these when the shop's API key is wrong or was revoked: a new key fixes it.
KEY_STATUSES = frozenset({401, 403})
# The reason an order created before its shop fulfils from is skipped (`bridge orders` shows it).
BEFORE_THE_SHOP = "skipped: before the shop was connected"
# The reason an order that came while its shop was disabled is skipped.
SHOP_DISABLED = "skipped: the shop is disabled, nothing bought"


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
        if not shop.enabled:
            # Recorded, not bought, and Pancake not called (a disabled shop's key may be wrong):
            # `bridge shops enable` has intake read it again (``redrive.reread_held``).
            return _conclude(
                session, order_pk, generation, OrderState.SKIPPED, shop_disabled(shop.shop_id)
            )
        shop_id, order_id, triggers = shop.shop_id, order.order_id, set(shop.trigger_statuses)
        fulfil_from, asked = shop.fulfil_from, order.fulfil_asked_at is not None
        client = ctx.pancake(shop)
    asked_at = ctx.clock()
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
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        assert order is not None
        order.placed_at = remote.inserted_at
        session.add(order)
        # The order's row first, then its lines: every step that writes both locks them so.
        session.flush()
        if remote.status in SALE_OFF:
            order.read_at = asked_at
            cancel_lines(ctx, session, order, remote.status)
            note = f"status {remote.status}: cancelled in Pancake"
            return _conclude(session, order_pk, generation, OrderState.CANCELLED, note)
        # An order the bridge took in stays its own: only a first read can find it too old.
        taken_in = session.exec(
            select(Fulfilment.id).where(Fulfilment.order_pk == order_pk).limit(1)
        ).first()
        if taken_in is None and not asked:
            history = before_the_shop(remote, shop_id, fulfil_from)
            if history is not None:
                event("order.intake.history", shop=shop_id, order=order_id)
                return _conclude(
                    session, order_pk, generation, OrderState.SKIPPED, history, predates=True
                )
    returned = remote.status == OrderStatus.PARTLY_RETURNED and taken_in is not None
    if remote.status not in triggers and not returned:
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
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk, with_for_update=True)
        if order is None or order.state != OrderState.PENDING:
            return []  # another intake of the same order got here first
        if order.generation != generation:
            # A report came after this read (a cancel, an edit): read again before any line is
            # made from this one, or its lines would be bought meanwhile.
            return [Send(INTAKE, order_pk)]
        sends = reconcile(ctx, session, order, remote, asked_at)
        session.flush()
        # A partial return keeps the sale: the units not returned are still bought.
        return sends + _conclude(session, order_pk, generation, OrderState.SYNCED, None)


def shop_disabled(shop_id: str) -> str:
    """Why an order of a disabled shop was not bought, and what buys it."""
    return f"{SHOP_DISABLED} (`bridge shops enable {shop_id}` reads it again)"


def before_the_shop(remote: PancakeOrder, shop_id: str, fulfil_from: datetime) -> str | None:
    """Why the order is history, not a sale to fulfil (created before the shop fulfils from);
    None when it is not. Pancake not saying when it was created counts as new: skipping a sale
    unseen would leave a paying customer unserved, and the order did reach a trigger status."""
    placed = remote.inserted_at
    if placed is None:
        event("order.intake.no_inserted_at", logging.WARNING, shop=shop_id, order=remote.id)
        return None
    if placed >= fulfil_from:
        return None
    return (
        f"{BEFORE_THE_SHOP} (created {placed:%Y-%m-%d %H:%M:%S} UTC; shop {shop_id} fulfils "
        f"orders created from {fulfil_from:%Y-%m-%d %H:%M:%S} UTC); "
        f"`bridge orders fulfil {remote.id} --shop {shop_id}` buys it anyway"
    )


def _conclude(
    session: Session,
    order_pk: int,
    generation: int,
    state: OrderState,
    error: str | None,
    failure: OrderFailure | None = None,
    *,
    predates: bool = False,
) -> list[Send]:
    """Record what intake found, unless a trigger webhook arrived after it read the order.

    Each such webhook bumps the order's generation. If it moved, this read may be stale (the
    order was confirmed, or got a line, meanwhile): leave it pending and read it again. A
    failure raises an alert. ``predates``: skipped as older than the shop, for good.
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
            predates_shop=predates,
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
