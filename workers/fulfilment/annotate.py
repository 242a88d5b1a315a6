"""order.annotate: write delivered credentials into the Pancake order's notes, once per line.

One annotator per order at a time (a lease on the order row): two lines of one order delivered
together would otherwise both read the old note and the second PUT would erase the first block.
The order is read fresh right before writing, staff text is kept, and blocks already present are
not written again, so a crash between the PUT and the commit costs nothing.

The shop says which note takes the credentials (``PancakeShop.deliver_to``: the internal
``note``, the printed ``note_print`` the customer sees, or both); a delay notice goes where the
customer looks. The whole order goes back with only the notes changed (``order_writes``), and a
line counts as annotated only when the order Pancake shows afterwards holds its text and still
has the items, status and customer it had: otherwise the line needs a person. A locked order is
not written at all. Cost: one read and one PUT, whose answer stands in for a read-back when it
proves to be the stored order; a second read only when it does not, or when it shows a failure.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import Session, col, select

from bridge import metrics
from bridge.db import session_scope
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable
from bridge.pancake.models import PancakeShop
from bridge.pancake.order_writes import changed_parts
from bridge.pancake.schemas import PancakeOrder
from bridge.pancake.vocabulary import NoteDelivery, NoteField
from bridge.states import RETRYABLE, WRITABLE, DelayNotice, FulfilmentState
from bridge.supplier.vocabulary import SupplierStatus
from workers.alerts.store import raise_alert
from workers.fulfilment.cancel import gone
from workers.fulfilment.failures import count_failure, reason_text, unexpected
from workers.fulfilment.lines import load_line, set_state
from workers.fulfilment.notes import NewNote, NoteLine, lost_text, plan_notes, unlanded
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, Send
from workers.queue.leases import free_or_expired

# While another annotator holds the order, come back shortly: it may not see our line.
LOCKED_RETRY_SECONDS = 1.0
LINE_FAILED_ALERT = "note_failed"


def annotate(ctx: Context, order_pk: int) -> list[Send]:
    if not _lock(ctx, order_pk):
        return [Send(ANNOTATE, order_pk, LOCKED_RETRY_SECONDS)]
    try:
        return _annotate_locked(ctx, order_pk)
    except Exception as exc:  # noqa: BLE001 - counted: a crash on every try must end, not loop
        event("order.annotate.crashed", logging.ERROR, order_pk=order_pk, error=type(exc).__name__)
        return _failed(ctx, order_pk, _unwritten_ids(ctx, order_pk), unexpected(exc), final=False)
    finally:
        _unlock(ctx, order_pk)


def _annotate_locked(ctx: Context, order_pk: int) -> list[Send]:
    with session_scope(ctx.engine) as session:
        order = session.get(Order, order_pk)
        assert order is not None
        lines = list(
            session.exec(
                select(Fulfilment)
                .where(Fulfilment.order_pk == order_pk)
                .where(
                    or_(
                        col(Fulfilment.state).in_(WRITABLE),
                        col(Fulfilment.delay_notice) == DelayNotice.PENDING,
                    )
                )
                .order_by(col(Fulfilment.id))
            )
        )
        shop = session.get(PancakeShop, order.shop_id)
        if not lines or shop is None:
            return []
        if gone(order):
            _keep_unwritten(session, lines)
            return []
        client = ctx.pancake(shop)
        delivery = NoteDelivery(shop.deliver_to)
        shop_id, order_id, reported_at = order.shop_id, order.order_id, order.created_at
    asked = [_note_line(ctx, line) for line in lines]
    try:
        remote = client.get_order(shop_id, order_id)
        planned = plan_notes(asked, _notes(remote), delivery)
        if not planned:
            verdict = _Verdict()  # the order already holds it all (a duplicate, a crash)
        elif remote.is_locked:
            verdict = _Verdict(problem=ORDER_LOCKED)
        else:
            changes = {name.value: new.text for name, new in planned.items()}
            answered = client.write_order(shop_id, remote, changes)
            verdict = _judge(asked, remote, answered, planned, delivery)
            if not verdict.landed:
                # Only the order as stored decides that a write failed: the answer may be
                # partial, or may not be the order at all.
                after = client.get_order(shop_id, order_id)
                verdict = _judge(asked, remote, after, planned, delivery)
    except (PancakeUnavailable, PancakeRequestError) as exc:
        line_ids = [line.id for line in lines if line.id]
        # A refusal (4xx) will not pass on its own: give up at once.
        return _failed(
            ctx, order_pk, line_ids, str(exc), final=isinstance(exc, PancakeRequestError)
        )
    took = ctx.clock() - reported_at
    with session_scope(ctx.engine) as session:
        for line in lines:
            row = load_line(session, line.id)
            reason = verdict.reason_for(line.id)
            if reason is None:
                _mark_written(session, row, line, took)
            else:
                _not_landed(session, row, line, reason, ctx.clock())
    if verdict.landed:
        event("order.annotate.written", order=order_id, lines=len(lines), fields=len(planned))
    else:
        event(
            "order.annotate.not_landed",
            logging.WARNING,
            order=order_id,
            lines=len(lines),
            problem=verdict.problem or "a line's text is missing",
        )
    return []


# Why nothing was written (stored as the lines' reason, so their alert says it).
ORDER_LOCKED = (
    "Pancake shows the order locked (is_locked): nothing was written; unlock it in Pancake"
)


@dataclass(frozen=True)
class _Verdict:
    """How a note update ended: ``problem`` fails every line (the order is locked, or the write
    changed it); ``missing`` names the lines whose text the order lacks, and in which fields."""

    problem: str | None = None
    missing: dict[int, list[NoteField]] = field(default_factory=dict)

    @property
    def landed(self) -> bool:
        return self.problem is None and not self.missing

    def reason_for(self, line_id: int | None) -> str | None:
        if self.problem is not None:
            return self.problem
        fields = self.missing.get(line_id or 0)
        if not fields:
            return None
        names = " and ".join(name.value for name in fields)
        return f"Pancake answered the note update with success, but its {names} lacks this line"


def _judge(
    asked: list[NoteLine],
    before: PancakeOrder,
    after: PancakeOrder | None,
    planned: dict[NoteField, NewNote],
    delivery: NoteDelivery,
) -> _Verdict:
    """Whether the order ``after`` the write holds what was ``planned`` and is otherwise the
    order read ``before`` it. None (the answer carried no order to judge by) lands nothing."""
    if after is None:
        return _Verdict(problem="the answer carried no order")
    shown = _notes(after)
    changed = changed_parts(before, after) + lost_text(planned, shown)
    if changed:
        return _Verdict(
            problem=f"after the note update Pancake's order shows other {', '.join(changed)} "
            "than before (a PUT that replaced the order?): check the order in Pancake"
        )
    return _Verdict(missing=unlanded(asked, shown, delivery))


def _notes(order: PancakeOrder) -> dict[NoteField, str]:
    return {name: order.note_text(name) for name in NoteField}


def _note_line(ctx: Context, line: Fulfilment) -> NoteLine:
    """What ``line`` asks of the order's notes now."""
    assert line.id is not None
    credentials: list[str] = (
        json.loads(ctx.box.decrypt(line.credentials_enc))
        if line.state in WRITABLE and line.credentials_enc
        else []
    )
    delivered = line.state == FulfilmentState.DELIVERED
    # A line delivered in full no longer needs its delay notice: the credentials replace it.
    delay_due = line.delay_notice == DelayNotice.PENDING and not delivered
    return NoteLine(
        id=line.id,
        title=_title(line),
        credentials=credentials,
        # Completed with nothing to hand over: the note says what was done, once.
        nothing_to_hand_over=delivered and not credentials,
        delay_item=(line.item_name or f"variation {line.variation_id}") if delay_due else None,
        delivered=delivered,
    )


def _not_landed(
    session: Session, row: Fulfilment, written: Fulfilment, reason: str, now: datetime
) -> None:
    """The line's text is not in the order (or the order is not as it was): a line with
    credentials needs a person (its alert comes from alerts.watch); a delay notice that was not
    written is dropped, with an alert, so that a retry that fails the same way writes one.

    As in ``_mark_written``, ``written`` is the line the write was made from: credentials that
    arrived since were no part of it, and the note update their delivery asked for writes them.
    """
    text = reason_text(reason)
    if written.state in WRITABLE and row.state in WRITABLE:
        row.lease_until = None
        set_state(session, row, FulfilmentState.NEEDS_ATTENTION, text)
    elif written.delay_notice == row.delay_notice == DelayNotice.PENDING:
        row.delay_notice = None
        raise_alert(
            session,
            LINE_FAILED_ALERT,
            str(row.id),
            f"line {row.id} of order {row.order_id} (shop {row.shop_id}): the customer was not "
            f"told of the delay: {text}",
            now,
        )
    session.add(row)


def _keep_unwritten(session: Session, lines: list[Fulfilment]) -> None:
    """The order was cancelled in Pancake: write nothing into it. Credentials stay stored (for
    `fulfilments resend` should the sale come back); a person decides (the cancel alerted)."""
    for row in lines:
        row.delay_notice = None
        if row.state in WRITABLE:
            row.lease_until = None
            row.waiting_since = None  # a retry starts a new wait for the supplier
            reason = "the order was cancelled in Pancake after delivery; credentials kept"
            set_state(session, row, FulfilmentState.NEEDS_ATTENTION, reason)
        session.add(row)


def _mark_written(session: Session, row: Fulfilment, written: Fulfilment, took: timedelta) -> None:
    """The note holds what ``written`` (the line as read before the write) asked of it; ``row``
    is the line now. ``took``: from the order's first report to this note.

    Credentials that arrived while Pancake answered are not in the note: the line then keeps
    its state, and the note update its delivery asked for writes them.
    """
    if written.delay_notice == row.delay_notice == DelayNotice.PENDING:
        row.delay_notice = DelayNotice.WRITTEN
    if written.state not in WRITABLE or row.state not in WRITABLE:
        session.add(row)
        return
    row.annotated_count = written.delivered_count
    row.last_error = None
    unchanged = (row.state, row.credentials_enc) == (written.state, written.credentials_enc)
    if unchanged and row.state == FulfilmentState.DELIVERED:
        row.lease_until = None
        set_state(session, row, FulfilmentState.ANNOTATED, None)
        metrics.noted(took)
    session.add(row)


def _title(line: Fulfilment) -> str:
    name = line.item_name or f"variation {line.variation_id}"
    expected = line.supplier_quantity or line.delivered_count
    # Progress only while the supplier says it is still at work: the strings of a completed
    # order tell nothing of how many units they carry (one string may hold them all).
    at_work = line.supplier_status != SupplierStatus.COMPLETED
    delivered = line.delivered_count
    in_part = line.state == FulfilmentState.PARTIAL and at_work and delivered < expected
    progress = f", {delivered} of {expected} delivered" if in_part else ""
    return f"{name} x{line.quantity} (supplier order {line.trans_id}{progress})"


def _failed(
    ctx: Context, order_pk: int, line_ids: list[int], error: str, *, final: bool
) -> list[Send]:
    """Transient errors wait and retry; after too many (or a ``final`` one) each line gives up,
    with an alert: a line with credentials becomes `failed`, and every line stopped for a person
    is parked (no lease) so the sweep stops sending it, a line that only waits for its delay
    notice included, until an operator's retry. A line still being bought keeps its lease."""
    now = ctx.clock()
    give_up = False
    failures = 0
    with session_scope(ctx.engine) as session:
        for line_id in line_ids:
            row = load_line(session, line_id)
            if not _unwritten(row):
                continue
            delay = count_failure(ctx, row, f"note update: {error}")
            failures = max(failures, row.failures)
            if final or delay is None:
                give_up = True
                reason = reason_text(f"could not write the note: {error}")
                if row.state in WRITABLE or row.state in RETRYABLE:
                    row.lease_until = None  # parked until an operator's retry
                # Else only its delay notice was to be written: it is still being bought (an
                # operator retried it), and its own step keeps its lease.
                if row.state in WRITABLE:
                    set_state(session, row, FulfilmentState.FAILED, reason)
                raise_alert(
                    session,
                    LINE_FAILED_ALERT,
                    str(line_id),
                    f"line {line_id} of order {row.order_id} (shop {row.shop_id}): {reason}; "
                    f"`bridge fulfilments retry {line_id}` tries again",
                    now,
                )
            session.add(row)
    event("order.annotate.failed", logging.WARNING, order_pk=order_pk, failures=failures)
    if give_up or failures == 0:
        return []
    return [Send(ANNOTATE, order_pk, ctx.retry_delay(failures))]


def _unwritten(row: Fulfilment) -> bool:
    """The line has something for the note: credentials, or its delay notice."""
    return row.state in WRITABLE or row.delay_notice == DelayNotice.PENDING


def _unwritten_ids(ctx: Context, order_pk: int) -> list[int]:
    with session_scope(ctx.engine) as session:
        rows = session.exec(select(Fulfilment).where(Fulfilment.order_pk == order_pk)).all()
        return [row.id for row in rows if row.id is not None and _unwritten(row)]


def _lock(ctx: Context, order_pk: int) -> bool:
    now = ctx.clock()
    with session_scope(ctx.engine) as session:
        result = session.connection().execute(
            update(Order)
            .where(col(Order.id) == order_pk)
            .where(free_or_expired(col(Order.annotate_lock_until), now))
            .values(annotate_lock_until=ctx.lease_until(now))
        )
        return result.rowcount == 1


def _unlock(ctx: Context, order_pk: int) -> None:
    with session_scope(ctx.engine) as session:
        session.connection().execute(
            update(Order).where(col(Order.id) == order_pk).values(annotate_lock_until=None)
        )
