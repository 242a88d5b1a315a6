"""An order's lines made to match what Pancake shows it asks for, at every read.

The first read of an order creates its lines; every later one (an edit reported by webhook or by
the catch-up, a restore, a partial return, a line re-reading its order before buying) makes the
lines match the order again:

- more units of a variation: a new line (a *lot*) for the difference, bought once;
- fewer: lines not yet bought are cancelled (the conditional UPDATE of ``cancel.cancel_line``), a
  cancelled line that held more than the surplus is replaced by a lot of the rest; units already
  bought cannot be undone and raise the ``cancelled_after_purchase`` alert, which resolves itself
  if the order asks for them again;
- a variation swapped on an item: that variation's units are unwanted, the new one's wanted;
- returned units (``returned_count``, status 15) are units no longer wanted.

Units are counted per variation (two items of one variation are one pool), and per item within
it, so each item keeps its own line. Lines are keyed by their item line (``line_keys``); a lot
is ``+N:<key>``, the item's N-th line, so two workers deciding on the same rows pick the same key
and the second insert is ignored: a unit is never bought twice. The order's row is locked first,
so two reads of one order match its lines one after the other.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from bridge.db import insert_ignore
from bridge.logs import event
from bridge.models import Fulfilment, Order
from bridge.pancake.schemas import PancakeOrder, PancakeOrderItem
from bridge.states import FulfilmentState
from mappings.resolve import choices, unserved
from workers.alerts.store import raise_alert, resolve_alert
from workers.fulfilment.bounds import clean_name
from workers.fulfilment.cancel import ALERT_KIND, cancel_line, unbought
from workers.fulfilment.redrive import resend
from workers.queue.context import Context
from workers.queue.dispatch import ANNOTATE, PURCHASE, Send

# A lot's key: "+2:item:17" is the second line of item 17. Item keys start with "item:" or
# "var:", so a lot's key can never be an item's.
LOT_MARK = "+"
# What annotate.py records on a line whose credentials it kept out of a cancelled order's note.
KEPT_OUT_OF_NOTE = "the order was cancelled in Pancake after delivery"


def line_keys(items: list[PancakeOrderItem]) -> list[str]:
    """A stable key per line: the item id, else the variation id and its occurrence number."""
    seen: Counter[str] = Counter()
    keys = []
    for index, item in enumerate(items):
        if item.id:
            keys.append(f"item:{item.id}")
            continue
        base = item.variation_id or f"line{index}"
        seen[base] += 1
        keys.append(f"var:{base}#{seen[base]}")
    return keys


def item_key(line_key: str) -> str:
    """The item line a line belongs to: ``+3:item:17`` and ``item:17`` are item 17's."""
    if line_key.startswith(LOT_MARK):
        number, colon, key = line_key[len(LOT_MARK) :].partition(":")
        if colon and number.isdigit():
            return key
    return line_key


@dataclass(frozen=True)
class _Wanted:
    key: str  # the item line's key
    item: PancakeOrderItem
    units: int


def reconcile(
    ctx: Context, session: Session, order: Order, remote: PancakeOrder, read_at: datetime
) -> list[Send]:
    """Match ``order``'s lines to ``remote`` inside the caller's transaction; the sends are due
    once it commits (new lines to buy, credentials to write again). Records what was read, and
    ``read_at``: when the read was sent, so that of two reads that overlap the one sent later
    is known (``workers.fulfilment.reread``)."""
    assert order.id is not None
    now = ctx.clock()
    # Taken first, held to the commit: another read of this order waits here, then sees ours.
    session.connection().execute(
        update(Order).where(col(Order.id) == order.id).values(updated_at=now)
    )
    rows = list(
        session.exec(
            select(Fulfilment).where(Fulfilment.order_pk == order.id).order_by(col(Fulfilment.id))
        )
    )
    wanted: dict[str, list[_Wanted]] = defaultdict(list)
    for key, item in zip(line_keys(remote.items), remote.items, strict=True):
        wanted[_pool(item.variation_id, key)].append(_Wanted(key, item, item.wanted))
    held: dict[str, list[Fulfilment]] = defaultdict(list)
    for row in rows:
        if row.state != FulfilmentState.CANCELLED:
            held[_pool(row.variation_id, item_key(row.line_key))].append(row)
    match = _Match(ctx, session, order, {row.line_key for row in rows})
    # In the order's item order, so a first read creates its lines as the items are listed.
    for pool in dict.fromkeys([*wanted, *held]):
        match.pool(pool, wanted.get(pool, []), held.get(pool, []))
    order.item_count = len(remote.items)
    order.items_digest = remote.items_digest
    # Field placeholders are filled from this copy when a line is bought (or re-bought).
    order.snapshot_enc = ctx.box.encrypt(json.dumps(remote.raw))
    order.read_at = read_at
    session.add(order)
    return list(dict.fromkeys(match.sends))  # one note write per order, however many lines


def _pool(variation_id: str | None, key: str) -> str:
    """Lines of one variation share their units; a line with no variation is a pool alone."""
    return f"variation {variation_id}" if variation_id else f"line {key}"


class _Match:
    """One reconciliation: the keys taken so far, and what to send once it commits."""

    def __init__(self, ctx: Context, session: Session, order: Order, taken: set[str]) -> None:
        self.ctx, self.session, self.order, self.taken = ctx, session, order, taken
        self.sends: list[Send] = []

    def pool(self, pool: str, wanted: list[_Wanted], held: list[Fulfilment]) -> None:
        per_item: dict[str, list[Fulfilment]] = defaultdict(list)
        for row in held:
            per_item[item_key(row.line_key)].append(row)
        asked = Counter[str]()
        for want in wanted:
            asked[want.key] += want.units
        # An item holding more than it asks for gives back what was not bought, newest first.
        for key, rows in per_item.items():
            surplus = sum(row.quantity for row in rows) - asked[key]
            for row in sorted(rows, key=lambda r: r.id or 0, reverse=True):
                if surplus <= 0:
                    break
                if unbought(row) and self._cancel(row):
                    surplus -= row.quantity
                    rows.remove(row)
        have = {key: sum(row.quantity for row in rows) for key, rows in per_item.items()}
        # Units bought for one item and no longer wanted there serve another item of the pool.
        spare = sum(max(0, units - asked[key]) for key, units in have.items())
        for want in wanted:
            missing = want.units - have.get(want.key, 0)
            if missing <= 0:
                continue
            covered = min(missing, spare)
            spare -= covered
            if missing > covered:
                self._add(want, missing - covered)
        self._spare_alert(pool, [row for rows in per_item.values() for row in rows], spare)

    def _cancel(self, row: Fulfilment) -> bool:
        assert row.id is not None
        reason = (
            f"order {self.order.order_id} no longer asks for these {row.quantity} unit(s) in "
            "Pancake (edited or returned): not bought"
        )
        if not cancel_line(self.session, row.id, reason, self.ctx.clock()):
            self.session.refresh(row)  # claimed for buying meanwhile: it counts as bought
            return False
        event("fulfilment.edit.cancelled", id=row.id, order=self.order.order_id)
        return True

    def _add(self, want: _Wanted, units: int) -> None:
        key = want.key
        number = 2
        while key in self.taken:
            key = f"{LOT_MARK}{number}:{want.key}"
            number += 1
        self.taken.add(key)
        now = self.ctx.clock()
        values = _line_values(self.session, self.order, want.item)
        values.update(
            order_pk=self.order.id,
            shop_id=self.order.shop_id,
            order_id=self.order.order_id,
            line_key=key,
            variation_id=want.item.variation_id,
            item_name=clean_name(want.item.name),
            quantity=units,
            lease_until=self.ctx.lease_until(now),
            created_at=now,
            updated_at=now,
        )
        new_id = insert_ignore(
            self.session.connection(),
            Fulfilment.__table__,  # type: ignore[attr-defined]
            values,
            ["shop_id", "order_id", "line_key"],
            returning="id",
        )
        if new_id is None:
            return  # another read of the order made the same line first
        if values["state"] == FulfilmentState.PENDING:
            self.sends.append(Send(PURCHASE, new_id))
        event(
            "fulfilment.created",
            id=new_id,
            order=self.order.order_id,
            state=values["state"],
            reason=values.get("reason"),
        )

    def _spare_alert(self, pool: str, held: list[Fulfilment], spare: int) -> None:
        """Bought units the order no longer asks for: one alert per variation while it lasts.

        Lines the order asks for again (a sale restored, a quantity raised back) clear their
        alerts, and credentials kept out of a cancelled order's note are written after all."""
        now = self.ctx.clock()
        order = self.order
        subject = f"{order.shop_id}:{order.order_id}:{pool}"
        if spare > 0:
            bought = ", ".join(
                f"{row.trans_id} at {row.supplier_name}"
                if row.trans_id
                else f"a purchase in progress at {row.supplier_name}"
                for row in held
                if not unbought(row)
            )
            raise_alert(
                self.session,
                ALERT_KIND,
                subject,
                f"order {order.order_id} of shop {order.shop_id} no longer asks for {spare} "
                f"unit(s) of {pool} already bought (supplier orders: {bought}): it was edited or "
                "returned in Pancake; the supplier has no refund API",
                now,
            )
            return
        resolve_alert(self.session, ALERT_KIND, subject, now, note="the order asks for them")
        for row in held:
            if unbought(row):
                continue
            assert row.id is not None
            subject = f"{order.shop_id}:{order.order_id}:{row.id}"
            resolve_alert(self.session, ALERT_KIND, subject, now, note="the sale came back")
            if (
                row.state == FulfilmentState.NEEDS_ATTENTION
                and row.credentials_enc
                and (row.reason or "").startswith(KEPT_OUT_OF_NOTE)
            ):
                resend(self.session, row, now)
                event("fulfilment.restored", id=row.id, order=order.order_id)
                self.sends.append(Send(ANNOTATE, row.order_pk))


def _line_values(session: Session, order: Order, item: PancakeOrderItem) -> dict[str, object]:
    """Unmapped lines need a person now; the supplier choice is made when buying (fallbacks)."""
    if not item.variation_id:
        return _attention("unmapped: the order line has no variation id")
    if not choices(session, order.shop_id, item.variation_id):
        # Unmapped, or mapped with everything disabled: the reason says which.
        return _attention(unserved(session, order.shop_id, item.variation_id).reason)
    return {"state": FulfilmentState.PENDING}


def _attention(reason: str) -> dict[str, object]:
    return {"state": FulfilmentState.NEEDS_ATTENTION, "reason": reason}
