"""What a console page shows of a supplier reading (bridge.web.console.readings): the stored value
and its age, why there is none, and when the workers are asked for a fresh one (never more
than once a period, whatever the number of views)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bridge.db import make_engine
from bridge.web.console.readings import Shown, SupplierReadings
from bridge.web.console.store import reading
from tests.conftest import migrated_sqlite_url
from workers.queue.dispatch import READINGS, Send
from workers.suppliers.models import ReadingKind
from workers.suppliers.readings import ask, balance_of, claim, record_balance, record_failure

NOW = datetime(2026, 12, 9, 3, 0, tzinfo=UTC)
NAME = "caoshop"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = migrated_sqlite_url(tmp_path)
    engine = make_engine(url)
    yield engine
    engine.dispose()


class Queue:
    def __init__(self) -> None:
        self.sent: list[Send] = []

    def __call__(self, sends: Iterable[Send]) -> None:
        self.sent.extend(sends)


def view(engine: Engine, readings: SupplierReadings, at: datetime) -> Shown[float]:
    with reading(engine) as session:  # as every page reads
        found = readings.shown(session, ReadingKind.BALANCE, [NAME], at, balance_of, refresh=[NAME])
    return found[NAME]


def store(engine: Engine, write: object) -> None:
    with Session(engine) as session:
        assert callable(write)
        write(session)
        session.commit()


def test_nothing_stored_asks_the_workers_once_a_period(engine: Engine) -> None:
    queue = Queue()
    readings = SupplierReadings(engine, queue)

    first = view(engine, readings, NOW)
    again = view(engine, readings, NOW + timedelta(seconds=20))

    assert (first.value, first.pending) == (None, True)
    assert first.note == "not read yet: the workers were asked 0 s ago"
    assert again.note == "not read yet: the workers were asked 20 s ago"
    assert queue.sent == [Send(READINGS, 0)]  # twenty views, one question
    # A step took it and is reading: still one question, still pending.
    store(engine, lambda s: claim(s, NAME, ReadingKind.BALANCE, NOW + timedelta(seconds=25)))
    taken = view(engine, readings, NOW + timedelta(seconds=30))
    assert (taken.pending, taken.note) == (True, "not read yet: the workers were asked 5 s ago")
    assert queue.sent == [Send(READINGS, 0)]
    # A question no step took in a minute went with its message: asked again.
    store(engine, lambda s: ask(s, NAME, ReadingKind.BALANCE, NOW + timedelta(seconds=40)))
    view(engine, readings, NOW + timedelta(seconds=101))
    assert len(queue.sent) == 2


def test_a_stored_value_is_shown_with_when_it_was_read_and_refreshed_when_stale(
    engine: Engine,
) -> None:
    queue = Queue()
    readings = SupplierReadings(engine, queue)
    store(engine, lambda s: record_balance(s, NAME, 700_000.0, NOW - timedelta(seconds=30)))

    fresh = view(engine, readings, NOW)
    assert (fresh.value, fresh.read_at, fresh.note, fresh.pending) == (
        700_000.0,
        NOW - timedelta(seconds=30),
        None,
        False,
    )
    assert queue.sent == []

    stale = view(engine, readings, NOW + timedelta(seconds=31))
    assert stale.value == 700_000.0  # shown all the same while the workers read it again
    assert queue.sent == [Send(READINGS, 0)]


def test_a_failed_read_is_said_beside_the_last_value_or_in_its_place(engine: Engine) -> None:
    readings = SupplierReadings(engine, None)  # no workers: never asks
    store(engine, lambda s: record_failure(s, NAME, ReadingKind.BALANCE, "HTTP 500", NOW))

    failed = view(engine, readings, NOW + timedelta(minutes=2))
    assert failed.value is None
    assert failed.note == "could not be read 2 min ago: HTTP 500"

    store(
        engine, lambda s: record_balance(s, NAME, 5.0, NOW - timedelta(minutes=1))
    )  # older than the failure
    both = view(engine, readings, NOW + timedelta(minutes=2))
    assert both.value == 5.0
    assert both.note == "the last read failed 2 min ago: HTTP 500"

    store(engine, lambda s: record_balance(s, NAME, 6.0, NOW + timedelta(minutes=1)))
    healed = view(engine, readings, NOW + timedelta(minutes=2))
    assert (healed.value, healed.note) == (6.0, None)


def test_without_workers_nothing_is_asked(engine: Engine) -> None:
    shown = view(engine, SupplierReadings(engine, None), NOW)
    assert (shown.value, shown.note, shown.pending) == (None, "not read yet", False)
