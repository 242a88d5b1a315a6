"""What orders the bridge placed teach about a supplier: its zone, and the key's own user.

An order the bridge bought and got an answer for was created between the attempt's send and its
answer, so its ``created_at`` against the supplier's clock shows the zone the supplier prints in
(``bridge.supplier.clock.note_created``), and its ``user_id`` is the key's own user: settling then
adopts no order of another customer's. Both are stored on the supplier's row, once known, for
every process. Only answered attempts teach: an adopted order was chosen by these very facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, select

from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.adoption import API_SOURCE
from bridge.supplier.clock import ClockOffset, note_created
from bridge.supplier.models import Supplier
from bridge.supplier.schemas import ListedOrder, OrderStatus


def answered(attempt: PurchaseAttempt) -> bool:
    """Bought, and the supplier's own answer said so (not adopted by settling)."""
    return (
        attempt.outcome == AttemptOutcome.BOUGHT
        and attempt.settlement is None
        and attempt.trans_id is not None
        and attempt.finished_at is not None
    )


def created_sample(attempt: PurchaseAttempt, created_at: datetime | None) -> ClockOffset | None:
    """What the ``created_at`` of an answered attempt's order shows of the supplier's time."""
    if created_at is None or not answered(attempt) or attempt.finished_at is None:
        return None
    return ClockOffset.from_created(
        created_at, attempt.sent_at or attempt.started_at, attempt.finished_at
    )


def answered_attempts(
    session: Session, supplier: str, trans_ids: Sequence[str]
) -> dict[str, PurchaseAttempt]:
    """The answered attempts (and the further orders they bought) holding these orders."""
    rows = session.exec(
        select(PurchaseAttempt).where(
            PurchaseAttempt.supplier_name == supplier,
            PurchaseAttempt.outcome == AttemptOutcome.BOUGHT,
            col(PurchaseAttempt.settlement).is_(None),
            col(PurchaseAttempt.trans_id).in_(list(trans_ids)),
        )
    ).all()
    return {row.trans_id: row for row in rows if row.trans_id and answered(row)}


def listed_samples(
    session: Session, supplier: str, listed: Sequence[ListedOrder]
) -> list[ClockOffset]:
    """What the listed orders the bridge placed show of the supplier's time, oldest first."""
    stamps = {order.trans_id: order.created_at for order in listed if order.created_at}
    ours = answered_attempts(session, supplier, list(stamps))
    samples = [
        created_sample(attempt, stamps[trans_id])
        for trans_id, attempt in sorted(ours.items(), key=lambda item: item[1].started_at)
    ]
    return [sample for sample in samples if sample is not None]


def learn_created(session: Session, supplier: str, samples: Sequence[ClockOffset]) -> None:
    """Learn the supplier's zone from ``created_sample``s (its clock must be noted first)."""
    row = session.get(Supplier, supplier)
    if row is not None:
        for sample in samples:
            note_created(row, sample)
        session.add(row)


def learn_user(session: Session, supplier: str, user_id: str | None) -> None:
    """Keep the key's own user id (from an order the bridge placed, or account/info)."""
    row = session.get(Supplier, supplier)
    if row is not None and user_id and row.user_id != user_id:
        row.user_id = user_id
        session.add(row)


def learn_from_status(
    session: Session, supplier: str, attempt: PurchaseAttempt, status: OrderStatus
) -> None:
    """What ``orders/status`` of an order the bridge placed (answered) shows: its user, its
    zone. The caller notes the answer's ``timestamp`` first."""
    if not answered(attempt) or status.trans_id != attempt.trans_id:
        return
    sample = created_sample(attempt, status.created_at)
    if sample is not None:
        learn_created(session, supplier, [sample])
    source = status.order_source
    if source is None or source.strip().lower() == API_SOURCE:
        learn_user(session, supplier, status.user_id)
