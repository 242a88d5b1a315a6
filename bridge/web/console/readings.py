"""What the console shows of a supplier's live state (its balance, its catalogue): what the
workers last read, never a read made on a page view.

A page view that called the supplier would put the web process at the supplier's mercy: one
that hangs would hold the page, one that answers a decompression bomb would swell the process
(in ``bridge run`` the same one that runs the workers). So a page shows the stored reading with
its age (``workers.suppliers.readings``), and when the newest of it (read, failed or asked for)
is older than ``refresh_seconds`` it asks the workers for a fresh one and goes on: the next view
shows it. Asking costs a small write and one queued message, at most once per supplier, kind
and period whatever the number of views; the workers' read spends the key's budget like any.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette_admin.i18n import gettext as _

from bridge.db import session_scope
from bridge.logs import event
from workers.queue.dispatch import READINGS, Send
from workers.suppliers.models import ReadingKind, SupplierReading
from workers.suppliers.readings import ask, readings

Value = TypeVar("Value")
REFRESH_SECONDS = 60.0
# A request no step has taken in this long was lost with its message (a restart of the embedded
# queue, Redis down at the time): asked again, whatever the period.
UNTAKEN_SECONDS = 60.0


@dataclass(frozen=True)
class Shown(Generic[Value]):
    """A reading as a page shows it: the value (None: none yet), when it was read, and a note
    (why there is no value, or that the last read failed since)."""

    value: Value | None
    read_at: datetime | None
    note: str | None
    # The workers were asked for it and have not answered yet.
    pending: bool = False

    @property
    def error(self) -> str | None:
        """Why there is no value (None when there is one)."""
        return self.note if self.value is None else None


def ago(seconds: float) -> str:
    """``75`` as ``"1 min"``: an age as a person reads it (in the request's language)."""
    seconds = max(0.0, seconds)
    for unit, size in ((_("%(n)s d"), 86400), (_("%(n)s h"), 3600), (_("%(n)s min"), 60)):
        if seconds >= size:
            return unit % {"n": int(seconds // size)}
    return _("%(n)s s") % {"n": int(seconds)}


class SupplierReadings:
    """The stored readings, and the asking for fresh ones (``dispatch`` None: a console without
    workers, which never asks). ``shown`` takes the page's read-only session (``reading``):
    the asking writes through a session of its own."""

    def __init__(
        self,
        engine: Engine,
        dispatch: Callable[[Iterable[Send]], None] | None,
        *,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._engine = engine
        self._dispatch = dispatch
        self._refresh = refresh_seconds

    def shown(
        self,
        session: Session,
        kind: ReadingKind,
        names: Iterable[str],
        now: datetime,
        decode: Callable[[SupplierReading], Value | None],
        *,
        refresh: Iterable[str] = (),
    ) -> dict[str, Shown[Value]]:
        """The reading of each of ``names``; those of ``refresh`` (the suppliers the workers
        may call) that are stale are asked for."""
        stored = readings(session, kind)
        stale = [name for name in refresh if self._stale(stored.get(name), now)]
        asked = self._ask(kind, stale, now)
        found: dict[str, Shown[Value]] = {}
        for name in names:
            row = stored.get(name)
            found[name] = _shown(row, decode(row) if row else None, now, asked=name in asked)
        return found

    def _stale(self, row: SupplierReading | None, now: datetime) -> bool:
        if row is None:
            return True
        if row.wanted_at is not None and (now - row.wanted_at).total_seconds() >= UNTAKEN_SECONDS:
            return True
        moments = [
            m for m in (row.read_at, row.error_at, row.wanted_at, row.taken_at) if m is not None
        ]
        return not moments or (now - max(moments)).total_seconds() >= self._refresh

    def _ask(self, kind: ReadingKind, names: list[str], now: datetime) -> set[str]:
        if self._dispatch is None or not names:
            return set()
        try:
            with session_scope(self._engine) as session:
                for name in names:
                    ask(session, name, kind, now)
        except Exception as exc:  # noqa: BLE001 - the page still shows what is stored
            event("console.reading.ask_failed", logging.WARNING, error=type(exc).__name__)
            return set()
        self._dispatch([Send(READINGS, 0)])
        return set(names)


def _shown(
    row: SupplierReading | None, value: Value | None, now: datetime, *, asked: bool
) -> Shown[Value]:
    if row is None:
        row = SupplierReading(supplier_name="", kind="")
    failure = None
    if row.error_at is not None and (row.read_at is None or row.error_at > row.read_at):
        failure = _("%(age)s ago: %(error)s") % {
            "age": ago((now - row.error_at).total_seconds()),
            "error": row.error,
        }
    if value is not None:
        failed = _("the last read failed %(failure)s") % {"failure": failure} if failure else None
        return Shown(value, row.read_at, failed)
    answered = [m for m in (row.read_at, row.error_at) if m is not None]
    reading = row.taken_at is not None and (not answered or row.taken_at > max(answered))
    if asked or row.wanted_at is not None or reading:
        since = now if asked else (row.wanted_at or row.taken_at or now)
        note = _("not read yet: the workers were asked %(age)s ago") % {
            "age": ago((now - since).total_seconds())
        }
        if failure:
            note += " (" + _("the last read failed %(failure)s") % {"failure": failure} + ")"
        return Shown(None, None, note, pending=True)
    if failure:
        return Shown(None, None, _("could not be read %(failure)s") % {"failure": failure})
    return Shown(None, None, _("not read yet"))
