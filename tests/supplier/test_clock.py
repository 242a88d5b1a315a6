"""The supplier clock estimate: intervals that surely hold the offset, narrowed by each sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.supplier.clock import (
    ClockOffset,
    SupplierTime,
    created_window,
    format_zone,
    parse_zone,
    zone_from,
)
from bridge.supplier.schemas import ListedOrder

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


# -- zones: created_at is printed in the supplier's zone, by its clock -------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("+07:00", 420),
        ("+7", 420),
        ("UTC+8", 480),
        ("utc", 0),
        ("Z", 0),
        ("-05:30", -330),
        ("+0545", 345),
        ("GMT-3", -180),
    ],
)
def test_a_zone_is_read_as_minutes_east_of_utc(text: str, minutes: int) -> None:
    assert parse_zone(text) == minutes
    assert parse_zone(format_zone(minutes)) == minutes


@pytest.mark.parametrize("text", ["Asia/Ho_Chi_Minh", "+07:10", "+15:00", "7", "+07:60"])
def test_anything_but_a_whole_quarter_hour_offset_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a"):
        parse_zone(text)


def printed(moment: datetime, zone_hours: float, precision: str = "seconds") -> str:
    """``created_at`` as a supplier in ``zone_hours`` prints ``moment`` (by its own clock)."""
    local = moment.astimezone(timezone(timedelta(hours=zone_hours)))
    if precision == "minutes":
        local = local.replace(second=0)
    return local.strftime("%Y-%m-%d %H:%M:%S")


def read(text: str) -> datetime:
    """``created_at`` as the client reads it (the same parsing as every orders/list answer)."""
    order = ListedOrder.model_validate(
        {"trans_id": "T1", "status": "completed", "created_at": text}
    )
    assert order.created_at is not None
    return order.created_at


def placed(
    skew: float, zone: float, precision: str = "seconds"
) -> tuple[datetime, datetime, datetime]:
    """An order placed between ``sent`` and ``finished`` (our clock) by a supplier whose clock
    runs ``skew`` seconds from ours: (sent, finished, its created_at as read)."""
    sent = T0
    finished = sent + timedelta(seconds=0.35)
    created = read(printed(sent + timedelta(seconds=0.2 + skew), zone, precision))
    return sent, finished, created


def timestamp_sample(skew: float) -> ClockOffset:
    """The clock as one full-dialect answer a minute earlier measured it."""
    sent = T0 - timedelta(seconds=60)
    stamp = int((sent + timedelta(seconds=0.05 + skew)).timestamp())
    return ClockOffset.from_timestamp(stamp, sent, sent + timedelta(seconds=0.1))


@pytest.mark.parametrize("precision", ["seconds", "minutes"])
@pytest.mark.parametrize("skew", [-600.0, -299.5, 0.0, 420.0, 600.0])
@pytest.mark.parametrize("zone", [0, 7, 8])
@pytest.mark.parametrize("measured", [True, False], ids=["timestamp", "no-timestamp"])
@pytest.mark.parametrize("zone_known", [True, False], ids=["zone-known", "zone-unknown"])
def test_the_settling_window_holds_the_order_whatever_the_zone_and_clock(
    precision: str, skew: float, zone: int, measured: bool, zone_known: bool
) -> None:
    """Zones UTC, UTC+7 and UTC+8, a clock up to ten minutes off either way, created_at to the
    second or the minute; with a timestamp (full dialect) or none (short), the zone known (set or
    learned) or not yet: the created_at of the order lies in the window, from the first purchase
    on."""
    sent, finished, created = placed(skew, zone, precision)
    time = SupplierTime(
        timestamp_sample(skew) if measured else None, zone * 60 if zone_known else None
    )
    window = created_window(time.created_offsets(), sent, finished, margin=5.0)
    assert window.holds(created)
    assert window.since <= created


def test_a_known_zone_and_a_measured_clock_leave_a_narrow_window() -> None:
    sent, finished, created = placed(-300.0, 8)
    window = created_window(
        SupplierTime(timestamp_sample(-300.0), 480).created_offsets(), sent, finished, 5.0
    )
    [(low, high)] = window.spans
    assert (high - low).total_seconds() < 75  # margin, a truncated minute, the round trips
    assert window.holds(created)
    # Without its zone, one narrow band per plausible zone: UTC+7 and UTC+8 are an hour apart.
    unknown = created_window(
        SupplierTime(timestamp_sample(-300.0), None).created_offsets(), sent, finished, 5.0
    )
    assert len(unknown.spans) == 3
    assert unknown.holds(created)
    assert not unknown.holds(created - timedelta(minutes=30))


def test_a_zone_outside_the_plausible_ones_needs_the_operator() -> None:
    """UTC+9 is none of the plausible zones: until learnt or set, its orders read an hour late
    for UTC+8's band. ``suppliers add --timezone +09:00`` settles it from the first purchase."""
    sent, finished, created = placed(0.0, 9)
    clock = timestamp_sample(0.0)
    assert not created_window(SupplierTime(clock, None).created_offsets(), sent, finished, 5).holds(
        created
    )
    assert created_window(SupplierTime(clock, 540).created_offsets(), sent, finished, 5).holds(
        created
    )


@pytest.mark.parametrize("precision", ["seconds", "minutes"])
@pytest.mark.parametrize("skew", [-600.0, -45.0, 0.0, 333.0, 600.0])
@pytest.mark.parametrize("zone", [0, 7, 8, -5, 5.5])
def test_one_order_of_ours_pins_the_zone_against_the_clock(
    precision: str, skew: float, zone: float
) -> None:
    """A timestamp measures the clock; an order the bridge bought, against it, the zone."""
    sent, finished, created = placed(skew, zone, precision)
    sample = ClockOffset.from_created(created, sent, finished)
    assert zone_from(sample, timestamp_sample(skew), None) == round(zone * 60)


@pytest.mark.parametrize("skew", [-600.0, -330.0, 0.0, 500.0, 600.0])
@pytest.mark.parametrize("zone", [0, 7, 8])
def test_without_a_timestamp_the_zone_is_the_half_hour_within_ten_minutes(
    skew: float, zone: int
) -> None:
    """The short dialect: no clock to measure, but a clock ten minutes off cannot hide a whole
    or half hour zone."""
    sent, finished, created = placed(skew, zone)
    sample = ClockOffset.from_created(created, sent, finished)
    assert zone_from(sample, None, None) == zone * 60


def test_a_learnt_zone_stays_while_samples_allow_it_and_moves_when_they_do_not() -> None:
    sent, finished, created = placed(0.0, 8)
    sample = ClockOffset.from_created(created, sent, finished)
    assert zone_from(sample, None, 480) == 480
    assert zone_from(sample, None, 420) == 480, "the sample rules UTC+7 out"
    # A sample that fits no zone (the created_at contradicts the clock) teaches nothing.
    assert zone_from(sample.shifted(420), timestamp_sample(0.0), None) is None
