"""The notification outbox: tell each channel what it does not know about the alerts yet.

An alert row says what is true (open, or resolved) and which channels were told it is open
(``announced_to``). A channel not told of an open alert is sent it; a channel told of one that
has since resolved is sent the resolution; nothing else is sent. So:
- a repeat while open sends nothing (``raise_alert`` only counts it): one message per incident;
- an incident that clears before it could be sent is never sent, nor is its resolution;
- one that clears and comes back before the resolution went out stays announced, silently;
- a channel that took a message is not sent it again while another channel is retried.

The scheduler's job (``due_notifications``) only asks the database whether a row is due and
hands one message to a worker. The step (``send_notifications``) holds a named lease, so one
sender runs at a time across hosts. It reads the due rows, sends each channel one message
holding all of its items (a mass incident is one message, within Telegram's length and rate
limits; the rest follows on the next sweep), and records what each channel took. A failed send
puts its rows off, one sweep interval at first, doubling up to ``alert_retry_max_seconds``,
for as long as it takes. Steps never send: they only write the row, so a channel that is down
or slow can neither fail nor delay a fulfilment.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import READ_ONLY, session_scope
from bridge.logs import clip, event
from bridge.retrying import backoff_delay
from workers.alerts.models import Alert
from workers.alerts.notify import SEND_TIMEOUT_SECONDS, Channel, channels, configured, send
from workers.queue.context import Context
from workers.queue.dispatch import ALERT_NOTIFY, Send
from workers.queue.leases import take_named
from workers.queue.models import SchedulerLease

SEND_LEASE = "alerts.send"
# One message holds at most this many items and characters (Telegram takes 4,096 once its
# HTML escaping is done); one item at most this many characters.
MAX_ITEMS = 20
MAX_BODY_CHARS = 3000
MAX_ITEM_CHARS = 400
# Due rows read per run: enough to fill every channel's message.
MAX_ROWS = 200


class Notice(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class _Item:
    alert_id: int
    notice: Notice
    text: str


@dataclass
class _Outcome:
    """What one run did to one alert, per channel."""

    told: dict[str, Notice] = field(default_factory=dict)  # fingerprint -> what it took
    failed: list[str] = field(default_factory=list)  # "tgram #1: HTTP 500"


def due_notifications(ctx: Context) -> list[Send]:
    """The scheduler's job: a worker sends when some alert has something to tell."""
    if not configured(ctx.settings):
        return []  # alerts are recorded all the same; told once channels are configured
    with ctx.engine.connect().execution_options(**{READ_ONLY: True}) as conn:
        due = conn.execute(
            select(Alert.id).where(col(Alert.next_send_at) <= ctx.clock()).limit(1)
        ).first()
    return [] if due is None else [Send(ALERT_NOTIFY, 0)]


def send_notifications(ctx: Context, _unused: int) -> list[Send]:
    """The ``alerts.notify`` step: send what is due to every channel, and record it."""
    targets = channels(ctx.settings)
    if not targets:
        return []
    holder = uuid.uuid4().hex  # per run: two threads of one process are two senders
    ttl = len(targets) * SEND_TIMEOUT_SECONDS + 60.0
    if not take_named(ctx, SEND_LEASE, holder, ttl_seconds=ttl):
        return []  # another sender is at it; what it leaves is due on the next sweep
    try:
        _send_due(ctx, targets)
    finally:
        _release(ctx, holder)
    return []


def _send_due(ctx: Context, targets: list[Channel]) -> None:
    with (
        ctx.engine.connect().execution_options(**{READ_ONLY: True}) as conn,
        Session(conn) as session,
    ):
        rows = list(
            session.exec(
                select(Alert)
                .where(col(Alert.next_send_at) <= ctx.clock())
                .order_by(col(Alert.next_send_at), col(Alert.id))
                .limit(MAX_ROWS)
            )
        )
    outcomes = {row.id: _Outcome() for row in rows if row.id is not None}
    for channel in targets:
        items = [item for row in rows if (item := _item(row, channel.fingerprint)) is not None]
        if not items:
            continue
        title, body, carried = _message(items)
        delivery = send(channel, title, body, problem=any(i.notice == Notice.OPEN for i in carried))
        for item in carried:
            if delivery.sent:
                outcomes[item.alert_id].told[channel.fingerprint] = item.notice
            else:
                outcomes[item.alert_id].failed.append(f"{channel.label}: {delivery.error}")
        if delivery.sent:
            event("alert.notify.sent", channel=channel.label, items=len(carried))
        else:
            event(
                "alert.notify.failed",
                logging.WARNING,
                channel=channel.label,
                error=delivery.error,
                items=len(carried),
            )
    fingerprints = {channel.fingerprint for channel in targets}
    for alert_id, outcome in outcomes.items():
        _record(ctx, alert_id, outcome, fingerprints)


def _told(announced_to: str) -> set[str]:
    return {fingerprint for fingerprint in announced_to.split(",") if fingerprint}


def _pending(resolved: bool, told: set[str], fingerprint: str) -> Notice | None:
    """What the channel must hear for the row's state: the alert, its resolution, or nothing."""
    if not resolved and fingerprint not in told:
        return Notice.OPEN
    if resolved and fingerprint in told:
        return Notice.RESOLVED
    return None


def _item(alert: Alert, fingerprint: str) -> _Item | None:
    """The line this channel must read about ``alert``, if any. The id is the one
    `bridge alerts list` shows and `bridge alerts resolve` takes."""
    notice = _pending(alert.resolved, _told(alert.announced_to), fingerprint)
    if notice is None or alert.id is None:
        return None
    if notice == Notice.OPEN:
        seen = f" (seen {alert.count} times)" if alert.count > 1 else ""
        text = f"ALERT #{alert.id} {alert.kind}: {alert.message}{seen}"
    else:
        how = alert.resolution or "the condition cleared"
        text = f"RESOLVED #{alert.id} {alert.kind} {alert.subject}: {how}"
    return _Item(alert.id, notice, clip(text, MAX_ITEM_CHARS))


def _message(items: list[_Item]) -> tuple[str, str, list[_Item]]:
    """Title, body and the items the body carries (the first that fit); the rest waits."""
    carried: list[_Item] = []
    size = 0
    for item in items:
        if len(carried) == MAX_ITEMS or size + len(item.text) > MAX_BODY_CHARS:
            break
        carried.append(item)
        size += len(item.text) + 2
    lines = [item.text for item in carried]
    if len(carried) < len(items):
        lines.append(f"… and {len(items) - len(carried)} more (bridge alerts list)")
    opened = sum(item.notice == Notice.OPEN for item in carried)
    counts = [f"{opened} alert{'s' if opened != 1 else ''}"] if opened else []
    if len(carried) > opened:
        counts.append(f"{len(carried) - opened} resolved")
    return f"pancake-bridge: {', '.join(counts)}", "\n\n".join(lines), carried


def _record(ctx: Context, alert_id: int, outcome: _Outcome, fingerprints: set[str]) -> None:
    """Store what the channels now know; the row stays due while one still has to hear
    something (its state changed meanwhile, it did not fit, or its send failed)."""
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        # Locked (PostgreSQL) so a raise or resolve meanwhile is read, not overwritten.
        alert = session.exec(
            select(Alert).where(col(Alert.id) == alert_id).with_for_update()
        ).one_or_none()
        if alert is None:
            return
        told = _told(alert.announced_to)
        for fingerprint, notice in outcome.told.items():
            if notice == Notice.OPEN:
                told.add(fingerprint)
            else:
                told.discard(fingerprint)
        told &= fingerprints  # a channel removed from the setting hears nothing more
        alert.announced_to = ",".join(sorted(told))
        if Notice.OPEN in outcome.told.values():
            alert.notified_at = now
        if Notice.RESOLVED in outcome.told.values():
            alert.resolution_notified_at = now
        waiting = any(_pending(alert.resolved, told, fp) for fp in fingerprints)
        if not waiting:
            alert.next_send_at = None
            alert.send_failures = 0
            alert.last_send_error = None
        elif outcome.failed:
            alert.send_failures += 1
            alert.last_send_error = clip("; ".join(outcome.failed), 300)
            delay = backoff_delay(
                alert.send_failures - 1,
                base=ctx.settings.sweep_interval_seconds,
                cap=ctx.settings.alert_retry_max_seconds,
            )
            alert.next_send_at = now + timedelta(seconds=delay)
        else:
            alert.next_send_at = now  # it changed meanwhile, or did not fit: the next sweep
        session.add(alert)


def _release(ctx: Context, holder: str) -> None:
    """Give the lease back at once: the next sweep's sender need not wait for it to run out."""
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == SEND_LEASE, col(SchedulerLease.holder) == holder)
            .values(expires_at=ctx.clock() - timedelta(seconds=1))
        )
