"""A supplier's time, measured: its clock, its zone, and where an order's ``created_at`` lies.

A supplier prints two different kinds of time, and they must never be mixed:

- an answer's envelope ``timestamp`` (full dialect only) is Unix time by the supplier's clock. Its
  offset from ours, the **clock**, is measured as an interval that surely holds it: stamped
  between our send and our receive, truncated to the second;
- ``created_at`` is a naive wall time of the supplier's **zone**, by that same clock. The client
  reads every naive time as UTC+07:00 (``VN_TZ``, the docs' zone), so an order's ``created_at``
  as read is our time at its creation + the clock + (the zone - 7 h). A supplier in UTC prints
  times that read seven hours early; one in UTC+8, an hour late.

The zone is the operator's (``suppliers add --timezone``), or learned: an order the bridge bought
was created between the attempt's send and its answer, so its ``created_at`` against the clock
shows the zone, and zones are whole quarter hours, so one such order pins it (with the clock
unmeasured, short dialect, the nearest half or whole hour within the ten minutes it may be off).
Until it is known, each zone a Vietnamese shop plausibly runs in (``PLAUSIBLE_ZONES``) gives a
band of its own, and settling looks in every band.

The clock is kept on the supplier's row for every process: ``suppliers add`` stores its check's,
purchases and settling refresh it from their answers' timestamps. Without a ``timestamp`` (short
dialect) it stays unmeasured, and a band is then ``UNMEASURED`` wide: ten minutes either way.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from bridge.supplier.schemas import VN_TZ

if TYPE_CHECKING:
    from sqlmodel import Session

    from bridge.supplier.models import Supplier


class StoredClock(Protocol):
    """A supplier's stored clock and zone: its model, or a row `bridge suppliers list` read
    without the models (bridge/cli/reads.py)."""

    @property
    def clock_low_seconds(self) -> float | None: ...
    @property
    def clock_high_seconds(self) -> float | None: ...
    @property
    def clock_measured_at(self) -> datetime | None: ...
    @property
    def timezone(self) -> str | None: ...
    @property
    def zone_minutes(self) -> int | None: ...


@dataclass(frozen=True)
class ClockOffset:
    """An offset from our clock that surely lies in ``[low, high]`` seconds, as measured by
    ``at`` (our clock, Unix seconds: of two estimates that disagree, the later one holds)."""

    low: float
    high: float
    at: float = 0.0

    @classmethod
    def from_timestamp(cls, timestamp: float, sent: datetime, received: datetime) -> ClockOffset:
        """The clock, from a ``timestamp`` stamped between ``sent`` and ``received``."""
        low, high = timestamp - received.timestamp(), timestamp + 1 - sent.timestamp()
        return cls(low, high, received.timestamp())

    @classmethod
    def from_created(
        cls, created_at: datetime, started: datetime, finished: datetime
    ) -> ClockOffset:
        """Where ``created_at`` (as read) runs from our time, from an order placed between
        ``started`` and ``finished``: the clock and the zone together (see ``zone_from``)."""
        precision = CREATED_AT_PRECISION if created_at.second == 0 else 1.0
        stamp = created_at.timestamp()
        low, high = stamp - finished.timestamp(), stamp + precision - started.timestamp()
        return cls(low, high, finished.timestamp())

    def merged(self, other: ClockOffset) -> ClockOffset:
        low, high = max(self.low, other.low), min(self.high, other.high)
        if low > high:
            # The supplier's clock was stepped: the earlier measurement no longer holds.
            return other if other.at >= self.at else self
        return ClockOffset(low, high, max(self.at, other.at))

    def shifted(self, seconds: float) -> ClockOffset:
        return ClockOffset(self.low + seconds, self.high + seconds, self.at)

    @property
    def offset(self) -> float:
        return (self.low + self.high) / 2

    @property
    def error(self) -> float:
        return (self.high - self.low) / 2

    def describe(self) -> str:
        return f"{self.offset:+.0f} s ± {self.error:.0f} s"


# Before the first measurement (and always without a ``timestamp``), a supplier's clock may run
# this far from ours: ten minutes either way.
UNMEASURED = ClockOffset(-600.0, 600.0)
# created_at may be truncated to the minute: an order can read up to this much earlier than the
# supplier's clock stamped it.
CREATED_AT_PRECISION = 60.0
# The zone the client reads naive times in (its default, VN_TZ), in seconds east of UTC.
READ_ZONE_SECONDS = (VN_TZ.utcoffset(None) or timedelta()).total_seconds()
# Until a supplier's zone is set or learned, these are the ones it may print created_at in
# (minutes east of UTC): the docs' Vietnam, its neighbours' UTC+8 (Singapore, China, the
# Philippines, where many of these servers are hosted), and a server left in UTC. Any other zone
# is the operator's to give (``suppliers add --timezone``).
PLAUSIBLE_ZONES = (7 * 60, 8 * 60, 0)
# Every zone in use is a whole quarter hour, nearly all a half or a whole hour: a measurement too
# coarse for one grid may still pin the zone on a coarser one.
_ZONE_GRIDS_MINUTES = (15, 30, 60)
_ZONE_LIMIT_MINUTES = 14 * 60  # UTC-12 .. UTC+14
_ZONE_TEXT = re.compile(r"([+-])(\d{1,2})(?::?(\d{2}))?")


def parse_zone(text: str) -> int:
    """Minutes east of UTC, from ``+07:00``, ``+7``, ``UTC+8``, ``-05:30``, ``+0530`` or ``UTC``.

    Raises ValueError for anything else, or for a zone that is not a whole quarter hour.
    """
    raw = text.strip().upper().removeprefix("UTC").removeprefix("GMT")
    if raw in ("", "Z"):
        return 0
    match = _ZONE_TEXT.fullmatch(raw)
    if match is None:
        raise ValueError(f"{text!r} is not a UTC offset such as +07:00")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    total = hours * 60 + minutes
    if minutes >= 60 or minutes % 15 or total > _ZONE_LIMIT_MINUTES:
        raise ValueError(f"{text!r} is not a zone: zones are whole quarter hours up to 14 h")
    return -total if sign == "-" else total


def format_zone(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def zone_from(created: ClockOffset, clock: ClockOffset | None, known: int | None) -> int | None:
    """The zone (minutes east of UTC) that one order's ``created_at`` shows against the clock.

    ``created``: ``ClockOffset.from_created`` of an order the bridge bought. ``known`` is kept
    while the sample allows it; None when the sample pins no single zone (then nothing is
    learned: a zone is never guessed).
    """
    clock = clock or UNMEASURED
    low = (created.low - clock.high + READ_ZONE_SECONDS) / 60
    high = (created.high - clock.low + READ_ZONE_SECONDS) / 60
    if known is not None and low <= known <= high:
        return known
    if high - low > 60:
        return None
    for grid in _ZONE_GRIDS_MINUTES:
        first, last = math.ceil(low / grid), math.floor(high / grid)
        if first > last:
            return None  # no zone fits: the sample contradicts the clock
        if first == last:
            zone = first * grid
            return zone if abs(zone) <= _ZONE_LIMIT_MINUTES else None
    return None


@dataclass(frozen=True)
class SupplierTime:
    """What the bridge knows of a supplier's time: its ``clock`` (None: unmeasured) and its
    ``zone`` in minutes east of UTC (None: neither set nor learned)."""

    clock: ClockOffset | None
    zone: int | None

    def created_offsets(self) -> tuple[ClockOffset, ...]:
        """Where an order's ``created_at`` as read, minus our time at its creation, may lie:
        one band for the known zone, or one for each plausible zone."""
        clock = self.clock or UNMEASURED
        zones = (self.zone,) if self.zone is not None else PLAUSIBLE_ZONES
        return tuple(clock.shifted(zone * 60 - READ_ZONE_SECONDS) for zone in zones)

    def with_clock(self, sample: ClockOffset | None) -> SupplierTime:
        """The same, its clock narrowed by a fresh ``timestamp`` sample."""
        if sample is None:
            return self
        return SupplierTime(sample if self.clock is None else self.clock.merged(sample), self.zone)


@dataclass(frozen=True)
class CreatedWindow:
    """The ``created_at`` values (as read) an order placed between two moments of ours may
    carry: a span per band, the earliest first."""

    spans: tuple[tuple[datetime, datetime], ...]

    @property
    def since(self) -> datetime:
        return self.spans[0][0]

    def holds(self, moment: datetime) -> bool:
        return any(low <= moment <= high for low, high in self.spans)


def created_window(
    bands: tuple[ClockOffset, ...], started: datetime, until: datetime, margin: float
) -> CreatedWindow:
    """Where the ``created_at`` of an order placed between ``started`` and ``until`` (our clock)
    may read, for each band of ``SupplierTime.created_offsets`` (and any fresh ``from_created``
    sample), widened by ``margin`` seconds and the minute a truncated ``created_at`` may lose."""
    spans = sorted(
        (
            started + timedelta(seconds=band.low - CREATED_AT_PRECISION - margin),
            until + timedelta(seconds=band.high + margin),
        )
        for band in bands
    )
    joined: list[tuple[datetime, datetime]] = []
    for low, high in spans:
        if joined and low <= joined[-1][1]:
            joined[-1] = (joined[-1][0], max(high, joined[-1][1]))
        else:
            joined.append((low, high))
    return CreatedWindow(tuple(joined))


def stored_clock(supplier: StoredClock) -> ClockOffset | None:
    if supplier.clock_low_seconds is None or supplier.clock_high_seconds is None:
        return None
    at = supplier.clock_measured_at.timestamp() if supplier.clock_measured_at else 0.0
    return ClockOffset(supplier.clock_low_seconds, supplier.clock_high_seconds, at)


def supplier_zone(supplier: StoredClock) -> int | None:
    """The operator's zone, else the learned one, else None."""
    if supplier.timezone:
        return parse_zone(supplier.timezone)
    return supplier.zone_minutes


def describe_zone(supplier: StoredClock) -> str:
    """``+07:00 (set)``, ``+08:00 (learned)``, or ``-`` when neither."""
    if supplier.timezone:
        return f"{format_zone(parse_zone(supplier.timezone))} (set)"
    if supplier.zone_minutes is not None:
        return f"{format_zone(supplier.zone_minutes)} (learned)"
    return "-"


def supplier_time(supplier: Supplier) -> SupplierTime:
    return SupplierTime(stored_clock(supplier), supplier_zone(supplier))


def created_offset(supplier: Supplier) -> ClockOffset:
    """One interval surely holding ``created_at`` as read minus our time: the hull of every
    band (a listing read back to ``low`` reaches an order whatever zone is still possible)."""
    bands = supplier_time(supplier).created_offsets()
    return ClockOffset(min(b.low for b in bands), max(b.high for b in bands))


def record_clock(
    session: Session, supplier_name: str, sample: ClockOffset | None, now: datetime
) -> None:
    """Narrow the named supplier's stored clock with a ``timestamp`` sample (nothing without
    one)."""
    from bridge.supplier.models import Supplier

    supplier = session.get(Supplier, supplier_name)
    if supplier is not None:
        note_clock(supplier, sample, now)


def note_clock(supplier: Supplier, sample: ClockOffset | None, now: datetime) -> None:
    """Narrow ``supplier``'s clock with a ``timestamp`` sample (saved with its session)."""
    stored = stored_clock(supplier)
    if sample is None:
        return
    merged = sample if stored is None else stored.merged(sample)
    if merged != stored:
        supplier.clock_low_seconds, supplier.clock_high_seconds = merged.low, merged.high
        supplier.clock_measured_at = datetime.fromtimestamp(merged.at, UTC) if merged.at else now


def note_created(supplier: Supplier, created: ClockOffset) -> bool:
    """Learn the zone from an order the bridge bought (``ClockOffset.from_created``); the
    operator's zone is never overruled. True when the stored zone changed."""
    if supplier.timezone:
        return False
    zone = zone_from(created, stored_clock(supplier), supplier.zone_minutes)
    if zone is None or zone == supplier.zone_minutes:
        return False
    supplier.zone_minutes = zone
    return True
