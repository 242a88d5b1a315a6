"""The read side of fulfilments: lists and details for the CLI and the web console.

These return rows and plain data, never sentences; the front ends format them. Nothing here
decrypts: the delivered credentials and the order fields stay encrypted, a detail only says how
many credentials are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from bridge.errors import NotFound
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import FulfilmentState, OrderState
from workers.fulfilment.models import ShopCatchUp

# Columns of a line no front end shows: encrypted order fields and delivered credentials.
SECRET_COLUMNS = frozenset({"fields_enc", "credentials_enc"})
# Columns of an order no front end shows: the encrypted copy of the order (customer data), and
# the annotator's lock.
ORDER_HIDDEN_COLUMNS = frozenset({"snapshot_enc", "annotate_lock_until"})


@dataclass(frozen=True)
class FulfilmentDetail:
    """One line as an operator sees it."""

    line: dict[str, Any]  # the line's columns, without SECRET_COLUMNS
    credentials: str  # "N stored (encrypted)" or "none yet"
    attempts: list[PurchaseAttempt]

    @property
    def id(self) -> int:
        return int(self.line["id"])


def list_fulfilments(
    session: Session, *, state: FulfilmentState | None = None, limit: int = 100
) -> list[Fulfilment]:
    """The newest ``limit`` lines, optionally only those in ``state``."""
    statement = select(Fulfilment).order_by(col(Fulfilment.id).desc()).limit(limit)
    if state is not None:
        statement = statement.where(Fulfilment.state == state)
    return list(session.exec(statement))


def attempts_of(session: Session, fulfilment_id: int) -> list[PurchaseAttempt]:
    """A line's purchase attempts, oldest first."""
    statement = (
        select(PurchaseAttempt)
        .where(PurchaseAttempt.fulfilment_id == fulfilment_id)
        .order_by(col(PurchaseAttempt.id))
    )
    return list(session.exec(statement))


def fulfilment_detail(session: Session, fulfilment_id: int) -> FulfilmentDetail:
    """A line, a summary of its stored credentials and its attempts; NotFound if it is missing."""
    line = session.get(Fulfilment, fulfilment_id)
    if line is None:
        raise NotFound(f"no fulfilment {fulfilment_id}")
    credentials = (
        f"{line.delivered_count} stored (encrypted)" if line.credentials_enc else "none yet"
    )
    return FulfilmentDetail(
        line=line.model_dump(exclude=set(SECRET_COLUMNS)),
        credentials=credentials,
        attempts=attempts_of(session, fulfilment_id),
    )


@dataclass(frozen=True)
class OrderDetail:
    """One order as an operator sees it: its columns and its lines."""

    order: dict[str, Any]  # the order's columns, without ORDER_HIDDEN_COLUMNS
    lines: list[Fulfilment]


def list_orders(
    session: Session,
    *,
    state: OrderState | None = None,
    shop_id: str | None = None,
    limit: int = 100,
) -> list[Order]:
    """The ``limit`` orders updated last, optionally only those in ``state`` or of one shop."""
    statement = (
        select(Order).order_by(col(Order.updated_at).desc(), col(Order.id).desc()).limit(limit)
    )
    if state is not None:
        statement = statement.where(Order.state == state)
    if shop_id is not None:
        statement = statement.where(Order.shop_id == shop_id)
    return list(session.exec(statement))


def order_detail(session: Session, order_pk: int) -> OrderDetail:
    """An order and its lines, oldest first; NotFound if it is missing."""
    order = session.get(Order, order_pk)
    if order is None:
        raise NotFound(f"no order {order_pk}")
    lines = session.exec(
        select(Fulfilment).where(Fulfilment.order_pk == order_pk).order_by(col(Fulfilment.id))
    )
    return OrderDetail(order.model_dump(exclude=set(ORDER_HIDDEN_COLUMNS)), list(lines))


def catchup_states(session: Session) -> dict[str, ShopCatchUp]:
    """Each shop's catch-up for missed webhooks, by shop id (none before its first run)."""
    return {row.shop_id: row for row in session.exec(select(ShopCatchUp))}
