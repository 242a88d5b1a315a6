"""A supplier's clock, measured: how far its ``created_at`` runs from ours, and how sure we are.

The docs promise nothing about a supplier's clock, and ``created_at`` is printed naive in its local
time, in whole seconds or (some shops) whole minutes. Settling an unknown purchase looks for an
order created since the attempt began *by the supplier's clock*, so a supplier running 5 minutes
slow would hide the very order we look for, and the line would be bought again.

Every measurement is an interval that surely holds the offset (supplier time minus ours):

- an answer's envelope ``timestamp`` (full dialect) was stamped between our send and our receive,
  and is truncated to the second;
- the ``created_at`` of an order the bridge bought was stamped between the attempt's start and its
  answer, truncated to the second, or to the minute when it reads ``:00`` (it may be either).

Intervals are intersected, so the estimate tightens with every sample; an interval that misses
the estimate means the clock was stepped, and the newest sample wins. The estimate is kept on the
supplier's row, for every process: ``suppliers add`` stores its check's, purchases refresh it from
their answers, settling narrows it with the ``created_at`` of orders it sees that we bought.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from bridge.supplier.models import Supplier


@dataclass(frozen=True)
class ClockOffset:
    """The supplier's clock minus ours lies in ``[low, high]`` seconds, as measured by ``at``
    (our clock, Unix seconds: of two estimates that disagree, the later one holds)."""

    low: float
    high: float
    at: float = 0.0

    @classmethod
    def from_timestamp(cls, timestamp: float, sent: datetime, received: datetime) -> ClockOffset:
        low, high = timestamp - received.timestamp(), timestamp + 1 - sent.timestamp()
        return cls(low, high, received.timestamp())

    @classmethod
    def from_created(
        cls, created_at: datetime, started: datetime, finished: datetime
    ) -> ClockOffset:
        """``created_at``: the supplier's stamp of an order placed between started and finished."""
        precision = 60 if created_at.second == 0 else 1
        stamp = created_at.timestamp()
        low, high = stamp - finished.timestamp(), stamp + precision - started.timestamp()
        return cls(low, high, finished.timestamp())

    def merged(self, other: ClockOffset) -> ClockOffset:
        low, high = max(self.low, other.low), min(self.high, other.high)
        if low > high:
            # The supplier's clock was stepped: the earlier measurement no longer holds.
            return other if other.at >= self.at else self
        return ClockOffset(low, high, max(self.at, other.at))

    @property
    def offset(self) -> float:
        return (self.low + self.high) / 2

    @property
    def error(self) -> float:
        return (self.high - self.low) / 2

    def describe(self) -> str:
        return f"{self.offset:+.0f} s ± {self.error:.0f} s"


# Before the first measurement, a supplier's clock may run this far from ours (ten minutes).
# Looking back further only widens the settle window; the nearest candidate is taken first.
UNMEASURED = ClockOffset(-600.0, 600.0)
# created_at may be truncated to the minute: an order can read up to this much earlier than the
# supplier's clock stamped it.
CREATED_AT_PRECISION = 60.0


def stored_clock(supplier: Supplier) -> ClockOffset | None:
    if supplier.clock_low_seconds is None or supplier.clock_high_seconds is None:
        return None
    at = supplier.clock_measured_at.timestamp() if supplier.clock_measured_at else 0.0
    return ClockOffset(supplier.clock_low_seconds, supplier.clock_high_seconds, at)


def supplier_clock(supplier: Supplier) -> ClockOffset:
    """The best estimate there is, or the wide guess (``UNMEASURED``)."""
    return stored_clock(supplier) or UNMEASURED


def record_clock(
    session: Session, supplier_name: str, sample: ClockOffset | None, now: datetime
) -> None:
    """Narrow the named supplier's stored estimate with ``sample`` (nothing without one)."""
    supplier = session.get(Supplier, supplier_name)
    if supplier is not None:
        note_clock(supplier, sample, now)


def note_clock(supplier: Supplier, sample: ClockOffset | None, now: datetime) -> None:
    """Narrow ``supplier``'s estimate with ``sample`` (the row is saved with its session)."""
    stored = stored_clock(supplier)
    if sample is None:
        return
    merged = sample if stored is None else stored.merged(sample)
    if merged != stored:
        supplier.clock_low_seconds, supplier.clock_high_seconds = merged.low, merged.high
        supplier.clock_measured_at = datetime.fromtimestamp(merged.at, UTC) if merged.at else now
