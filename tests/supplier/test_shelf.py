"""What the stock sync's last catalogue read says of a plan's shelf (``short_of``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.supplier.models import PlanShelf
from bridge.supplier.shelf import short_of

READ_AT = datetime(2026, 12, 2, 8, 30, tzinfo=UTC)


def shelf(*, is_instant: bool = True, stock_count: int = 5, in_stock: bool = True) -> PlanShelf:
    return PlanShelf(
        supplier_name="caoshop",
        plan_id=319,
        is_instant=is_instant,
        stock_count=stock_count,
        in_stock=in_stock,
        read_at=READ_AT,
    )


@pytest.mark.parametrize(
    ("reading", "units", "short"),
    [
        (None, 1, None),  # never read: nothing known
        (shelf(), 5, None),
        (shelf(), 6, "5 in stock at the last catalogue read (2026-12-02 08:30 UTC), 6 needed"),
        (shelf(stock_count=0, in_stock=False), 1, "sold out at the last catalogue read"),
        (shelf(stock_count=0), 1, "0 in stock"),  # in_stock true but nothing counted
        # A plan fulfilled by hand lists 0 in stock while it sells: only in_stock counts.
        (shelf(is_instant=False, stock_count=0), 3, None),
        (shelf(is_instant=False, stock_count=0, in_stock=False), 1, "sold out"),
    ],
)
def test_what_the_last_read_says_of_the_units_a_line_needs(
    reading: PlanShelf | None, units: int, short: str | None
) -> None:
    said = short_of(reading, units)
    if short is None:
        assert said is None
    else:
        assert said is not None
        assert said.startswith(short)
