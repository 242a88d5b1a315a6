"""What the console does to a line beyond the admin library's lists: reveal its credentials
(audited), and the CLI's retry and resend (audited too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from bridge.db import session_scope
from bridge.errors import NotFound
from bridge.models import Fulfilment
from bridge.secrets import SecretBox
from bridge.web.console.audit import AuditAction, record
from workers.fulfilment.redrive import Redrive, resend_line, retry_line

REDRIVES: dict[AuditAction, Callable[[Engine, int, datetime], Redrive]] = {
    AuditAction.RETRY: retry_line,
    AuditAction.RESEND: resend_line,
}


def reveal(
    engine: Engine, box: SecretBox, fulfilment_id: int, username: str, address: str, now: datetime
) -> list[str]:
    """The line's delivered credentials in clear. The audit row is committed in the same
    transaction that read them: a reveal that cannot be audited shows nothing."""
    with session_scope(engine) as session:
        line = session.get(Fulfilment, fulfilment_id)
        if line is None:
            raise NotFound(f"no fulfilment {fulfilment_id}")
        record(session, username, AuditAction.REVEAL, fulfilment_id, address, now)
        token = line.credentials_enc
    items: list[str] = json.loads(box.decrypt(token)) if token else []
    return items


def redrive(
    engine: Engine,
    action: AuditAction,
    fulfilment_id: int,
    username: str,
    address: str,
    now: datetime,
) -> Redrive:
    """``bridge fulfilments retry`` or ``resend``, by a console user, audited once it is done."""
    outcome = REDRIVES[action](engine, fulfilment_id, now)
    with session_scope(engine) as session:
        record(session, username, action, fulfilment_id, address, now)
    return outcome
