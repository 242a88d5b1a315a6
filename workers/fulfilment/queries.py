"""The read side of fulfilments for the web console: a line's detail and its attempts. (The CLI's
list and show commands read with SQL text through the driver: bridge/cli/reads.py.)

These return rows and plain data, never sentences; the front ends format them. Nothing here
decrypts: the delivered credentials and the order fields stay encrypted, a detail only says how
many credentials are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from bridge.errors import NotFound
from bridge.models import Fulfilment, PurchaseAttempt

# Columns of a line no front end shows: encrypted order fields and delivered credentials.
SECRET_COLUMNS = frozenset({"fields_enc", "credentials_enc"})


@dataclass(frozen=True)
class FulfilmentDetail:
    """One line as an operator sees it."""

    line: dict[str, Any]  # the line's columns, without SECRET_COLUMNS
    credentials: str  # "N stored (encrypted)" or "none yet"
    attempts: list[PurchaseAttempt]

    @property
    def id(self) -> int:
        return int(self.line["id"])


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
