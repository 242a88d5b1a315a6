"""What the console does to a line or an order beyond the admin library's lists: reveal a line's
credentials (audited), the CLI's retry and resend (audited too), and `orders fulfil` for an order
older than its shop (audited)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.engine import Engine

from bridge.db import session_scope
from bridge.errors import NotFound
from bridge.models import Fulfilment, Order
from bridge.secrets import SecretBox
from bridge.web.console.audit import AuditAction, record
from workers.fulfilment.redrive import Redrive, fulfil_order, resend_line, retry_line

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


def fulfil(engine: Engine, order_pk: int, username: str, address: str, now: datetime) -> Redrive:
    """`bridge orders fulfil` for the order ``order_pk``, by a console user, audited once done
    (the order also keeps who asked first, and when)."""
    with session_scope(engine) as session:
        order = session.get(Order, order_pk)
        if order is None:
            raise NotFound(f"no order {order_pk}")
        shop_id, order_id = order.shop_id, order.order_id
    outcome = fulfil_order(engine, shop_id, order_id, username, now)
    with session_scope(engine) as session:
        record(session, username, AuditAction.FULFIL, None, address, now, order_pk=order_pk)
    return outcome
