"""The audit of what console users did: reveals of credentials, retries and resends of lines, and
orders fulfilled although they predate their shop."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from bridge.web.console.models import ConsoleAudit


class AuditAction(StrEnum):
    REVEAL = "reveal"
    RETRY = "retry"
    RESEND = "resend"
    FULFIL = "fulfil"  # an order, not a line


def record(
    session: Session,
    username: str,
    action: AuditAction,
    fulfilment_id: int | None,
    address: str | None,
    now: datetime,
    *,
    order_pk: int | None = None,
) -> None:
    """One audit row: of a line (``fulfilment_id``) or of an order (``order_pk``)."""
    session.add(
        ConsoleAudit(
            username=username,
            action=action,
            fulfilment_id=fulfilment_id,
            order_pk=order_pk,
            address=address,
            at=now,
        )
    )


def audit_of(
    session: Session, fulfilment_id: int | None = None, limit: int = 100
) -> list[ConsoleAudit]:
    """The newest ``limit`` audit rows, optionally of one line only."""
    statement = select(ConsoleAudit).order_by(col(ConsoleAudit.id).desc()).limit(limit)
    if fulfilment_id is not None:
        statement = statement.where(ConsoleAudit.fulfilment_id == fulfilment_id)
    return list(session.exec(statement))
