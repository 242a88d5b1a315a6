"""Alerts: things an operator must act on, one row per (kind, subject), counted when repeated."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col

from bridge.db import insert_ignore
from bridge.logs import event
from bridge.models import Alert


def raise_alert(session: Session, kind: str, subject: str, message: str, now: datetime) -> None:
    conn = session.connection()
    table = Alert.__table__  # type: ignore[attr-defined]
    values = {
        "kind": kind,
        "subject": subject,
        "message": message,
        "count": 1,
        "resolved": False,
        "created_at": now,
        "last_seen_at": now,
    }
    if insert_ignore(conn, table, values, ["kind", "subject"]) is None:
        conn.execute(
            update(Alert)
            .where(col(Alert.kind) == kind, col(Alert.subject) == subject)
            .values(message=message, count=col(Alert.count) + 1, resolved=False, last_seen_at=now)
        )
    event("alert.raised", logging.ERROR, kind=kind, subject=subject)
