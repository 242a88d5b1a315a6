"""The supplier orders a line holds: one, or several when the supplier split the item's quantity.

The line's ``trans_id`` is its first order, held by the attempt that bought it. A split's further
orders are held by rows of their own (``PurchaseAttempt.part_of`` names that attempt), so the
unique (supplier, trans_id) constraint keeps every order to one line, whoever adopts it. Delivery
reads each order and hands over all the line's units together (``bridge.supplier.split``).
Reading an order the bridge placed also teaches the supplier's zone and the key's user
(``workers.fulfilment.ours``), while they are not known.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bridge.db import session_scope
from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.clock import record_clock, supplier_zone
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import OrderStatus
from bridge.supplier.split import combined_status
from workers.fulfilment.ours import learn_from_status
from workers.queue.context import Context


@dataclass(frozen=True)
class Part:
    """One further order of a line: what the supplier showed of it (None: not shown yet)."""

    trans_id: str
    quantity: int | None
    amount: float | None


def hold_parts(
    session: Session,
    attempt: PurchaseAttempt,
    parts: Sequence[Part],
    now: datetime,
    *,
    settlement: str | None,
) -> None:
    """Rows for the further orders ``attempt`` bought (``settlement``: how they were found,
    None when the create answer named them). Raises IntegrityError when another attempt holds
    one already."""
    for part in parts:
        session.add(
            PurchaseAttempt(
                fulfilment_id=attempt.fulfilment_id,
                supplier_name=attempt.supplier_name,
                plan_id=attempt.plan_id,
                quantity=part.quantity or 0,  # 0: not known until the order list shows it
                outcome=AttemptOutcome.BOUGHT,
                trans_id=part.trans_id,
                amount=part.amount,
                part_of=attempt.id,
                detail=f"one of the orders attempt {attempt.id} bought for one item",
                worker_id=attempt.worker_id,
                sent_at=attempt.sent_at,
                started_at=attempt.started_at,
                finished_at=now,
                settlement=settlement,
                settled_at=now if settlement else None,
            )
        )
    session.flush()  # the unique (supplier, trans_id) check happens here


def held_orders(session: Session, fulfilment_id: int, trans_id: str) -> list[PurchaseAttempt]:
    """The rows holding the line's orders: the one of ``trans_id`` (its first), then its
    further ones; empty when no attempt holds ``trans_id``."""
    first = session.exec(
        select(PurchaseAttempt).where(
            PurchaseAttempt.fulfilment_id == fulfilment_id, PurchaseAttempt.trans_id == trans_id
        )
    ).first()
    if first is None:
        return []
    parts = session.exec(
        select(PurchaseAttempt)
        .where(col(PurchaseAttempt.part_of) == first.id, col(PurchaseAttempt.trans_id).is_not(None))
        .order_by(col(PurchaseAttempt.id))
    ).all()
    return [first, *parts]


def read_held(ctx: Context, supplier: Supplier, fulfilment_id: int, trans_id: str) -> OrderStatus:
    """``orders/status`` of the line's order, or of each of its orders read as one. Raises what
    ``SupplierClient.order_status`` raises."""
    with session_scope(ctx.engine) as session:
        held = held_orders(session, fulfilment_id, trans_id)
        plan_id = held[0].plan_id if held else None
    client = ctx.supplier(supplier)
    trans_ids = [row.trans_id or trans_id for row in held] or [trans_id]
    statuses = [client.order_status(each) for each in trans_ids]
    if supplier.user_id is None or supplier_zone(supplier) is None:
        with session_scope(ctx.engine) as session:
            record_clock(session, supplier.name, client.clock_offset, ctx.clock())
            for row, status in zip(held, statuses, strict=False):
                learn_from_status(session, supplier.name, row, status)
    if len(statuses) == 1:
        return statuses[0]
    return combined_status(statuses, trans_id, plan_id)
