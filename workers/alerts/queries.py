"""What `bridge alerts list` (and the web console) shows: the alerts, newest first."""

from __future__ import annotations

from sqlmodel import Session, col, select

from workers.alerts.models import Alert


def list_alerts(session: Session) -> list[Alert]:
    """Every alert, the one seen most recently first."""
    statement = select(Alert).order_by(col(Alert.last_seen_at).desc(), col(Alert.id).desc())
    return list(session.exec(statement))
