"""The supplier clock estimate: intervals that surely hold the offset, narrowed by each sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.supplier.clock import ClockOffset

T0 = datetime(2026, 12, 2, 8, 0, 7, 400_000, tzinfo=UTC)


def test_a_timestamp_brackets_the_offset_between_send_and_receive() -> None:
    # Supplier 300 s behind; the answer took 0.2 s; the timestamp is truncated to the second.
    stamp = int((T0 + timedelta(seconds=0.1 - 300)).timestamp())
    sample = ClockOffset.from_timestamp(stamp, T0, T0 + timedelta(seconds=0.2))
    assert sample.low <= -300 <= sample.high
    assert sample.error < 1


def test_created_at_in_minutes_widens_the_interval_to_a_minute() -> None:
    started, finished = T0, T0 + timedelta(seconds=0.3)
    true_supplier_time = started + timedelta(seconds=0.1 + 120)  # 120 s ahead
    minutes = true_supplier_time.replace(second=0, microsecond=0)
    seconds = true_supplier_time.replace(microsecond=0)
    coarse = ClockOffset.from_created(minutes, started, finished)
    fine = ClockOffset.from_created(seconds, started, finished)
    for sample in (coarse, fine):
        assert sample.low <= 120 <= sample.high
    assert coarse.high - coarse.low > 59
    assert fine.high - fine.low < 2


def test_samples_narrow_the_estimate_and_a_stepped_clock_starts_over() -> None:
    estimate = ClockOffset(-10, 10).merged(ClockOffset(-2, 30))
    assert estimate == ClockOffset(-2, 10)
    assert estimate.offset == pytest.approx(4)
    assert estimate.describe() == "+4 s ± 6 s"
    stepped = estimate.merged(ClockOffset(3600, 3601))
    assert stepped == ClockOffset(3600, 3601), "disjoint: the newest sample wins"


def test_of_two_estimates_that_disagree_the_later_measurement_holds() -> None:
    """A process's own estimate may be older than the stored one: age decides, not order."""
    stale = ClockOffset(300, 301, at=1_000.0)
    fresh = ClockOffset(-541, -540, at=2_000.0)
    assert stale.merged(fresh) == fresh
    assert fresh.merged(stale) == fresh
