"""Alerts: things an operator must act on, one row per (kind, subject), an incident at a time.

``raise_alert`` opens an incident, or counts a repeat of the open one; ``resolve_alert`` closes
it where the condition clears. Both run inside the caller's transaction and only write the row:
the row is the outbox, and ``outbox.send_notifications`` tells the channels later. So an alert
raised on every retry of a step is still one message, and a step never waits for a channel.
Each is one UPDATE whose new values are computed from the row's old ones, so two raisers (or a
raiser and a resolver) racing on one alert cannot lose an incident.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import case, func, update
from sqlmodel import Session, col

from bridge.db import insert_ignore
from bridge.errors import NotFound
from bridge.logs import event
from workers.alerts.models import Alert


def raise_alert(session: Session, kind: str, subject: str, message: str, now: datetime) -> None:
    """Open an incident of (``kind``, ``subject``), or count one more sighting of the open one.

    A new incident (first ever, or after a resolution) is due for sending at once; a repeat
    only updates the message and the count. A resolution not yet told is taken back: for the
    channels the incident never ended.
    """
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
        "next_send_at": now,
    }
    if insert_ignore(conn, table, values, ["kind", "subject"]) is None:
        reopened = col(Alert.resolved).is_(True)
        conn.execute(
            update(Alert)
            .where(col(Alert.kind) == kind, col(Alert.subject) == subject)
            .values(
                message=message,
                count=case((reopened, 1), else_=col(Alert.count) + 1),
                # A failed send in backoff keeps its time; the sender reads the row as it is then.
                next_send_at=case(
                    (reopened, func.coalesce(col(Alert.next_send_at), now)),
                    else_=col(Alert.next_send_at),
                ),
                resolved=False,
                resolved_at=None,
                resolution=None,
                last_seen_at=now,
            )
        )
    event("alert.raised", logging.ERROR, kind=kind, subject=subject)


def resolve_alert(
    session: Session,
    kind: str | Iterable[str],
    subject: str,
    now: datetime,
    note: str | None = None,
) -> int:
    """The condition of the open alert(s) of ``kind`` (one kind or several) about ``subject``
    cleared: resolve them, ``note`` saying how. Returns how many were open; cheap when none is
    (one UPDATE that matches nothing), so callers call it on every success."""
    kinds = [kind] if isinstance(kind, str) else list(kind)
    result = session.connection().execute(
        update(Alert)
        .where(
            col(Alert.kind).in_(kinds),
            col(Alert.subject) == subject,
            col(Alert.resolved).is_(False),
        )
        .values(
            resolved=True,
            resolved_at=now,
            resolution=note,
            next_send_at=func.coalesce(col(Alert.next_send_at), now),
        )
    )
    resolved = int(result.rowcount)
    if resolved:
        event("alert.resolved", kinds=",".join(kinds), subject=subject)
    return resolved


def resolve_alert_id(session: Session, alert_id: int, now: datetime) -> bool:
    """`bridge alerts resolve`: an operator closes an alert by hand (one without a condition the
    bridge can see clear, such as a purchase for a cancelled order). False if it was not open;
    ``NotFound`` if there is no such alert. A condition that still holds is raised again."""
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return bool(resolve_alert(session, alert.kind, alert.subject, now, note="resolved by hand"))
