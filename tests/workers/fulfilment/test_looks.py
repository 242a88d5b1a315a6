"""When settlement looks for a purchase whose answer was lost: early and then less often, and at
the window, past which alone it may conclude that nothing was bought."""

from __future__ import annotations

import pytest

from bridge.settings import Settings
from workers.fulfilment import looks


def settings(first: float, window: float = 60.0) -> Settings:
    return Settings(settle_first_look_seconds=first, settle_delay_seconds=window)


def test_the_looks_double_from_the_first_until_the_window() -> None:
    assert looks.schedule(settings(2.0)) == (2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
    assert looks.first_look(settings(2.0)) == 2.0


@pytest.mark.parametrize("first", [0.0, 60.0, 90.0], ids=["off", "at-the-window", "past-it"])
def test_without_early_looks_the_only_look_is_at_the_window(first: float) -> None:
    assert looks.schedule(settings(first)) == (60.0,)
    assert looks.next_look(settings(first), 3.0) == 57.0


@pytest.mark.parametrize(
    ("elapsed", "wait"), [(2.0, 2.0), (5.0, 3.0), (32.0, 28.0), (59.5, 0.5), (75.0, 0.0)]
)
def test_the_next_look_is_the_first_one_after_now(elapsed: float, wait: float) -> None:
    assert looks.next_look(settings(2.0), elapsed) == pytest.approx(wait)


def test_only_a_look_at_or_past_the_window_is_final() -> None:
    assert not looks.final(settings(2.0), 59.9)
    assert looks.final(settings(2.0), 60.0)


def test_a_negative_first_look_is_refused() -> None:
    with pytest.raises(ValueError, match="settle_first_look_seconds"):
        settings(-1.0)
