"""Reading a listing of the Shop API v1 whole, whatever latitude the docs leave the supplier.

The docs show a ``pagination`` block (``current_page``, ``total_pages``, ``has_more``) for
``orders/list``, give ``orders/list`` no sort order, and list no ``page``/``limit`` at all for
``products/list`` of some shops. So:

- pages are read by ``bridge.paging``'s guard (the one both clients share), while ``has_more``
  says so, never past ``total_pages``, never more than ``MAX_PAGES``; a listing that ignores
  paging and shows rows were not seen raises ``ListingIncomplete``;
- a listing read ``whole`` (the catalogue) also raises it when its last page leaves rows of
  the ``total`` unseen: a shop that serves its first ten products whatever is asked says
  ``has_more`` false for a page of 100 while its total counts them all;
- ``orders/list`` is read for the orders created since a moment, in whichever direction the
  supplier lists them: the direction is read off the first page's own ``created_at``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol, TypeVar

from bridge.paging import Shown, guarded_pages
from bridge.supplier.errors import ListingIncomplete
from bridge.supplier.schemas import ListedOrder, OrderPage

# A hard cap: 1,000 pages are 100,000 rows at 100 a page, a day of a busy account's budget.
MAX_PAGES = 1000


class Page(Protocol):
    page: int
    has_more: bool
    total_pages: int | None
    total: int | None

    def keys(self) -> tuple[str, ...]: ...


P = TypeVar("P", bound=Page)


def pages(
    fetch: Callable[[int], P],
    *,
    what: str,
    stop: Callable[[P], bool] = lambda page: False,
    max_pages: int = MAX_PAGES,
    whole: bool = False,
) -> Iterator[P]:
    """Pages 1, 2, … of a listing, guarded by ``bridge.paging``; ``stop`` ends it early.
    ``whole``: the rows seen must add up to the listing's ``total`` (not for a listing that
    grows while it is read, such as ``orders/list``)."""

    def shown(page: P, number: int) -> Shown:
        last = page.total_pages is not None and number >= page.total_pages
        return Shown(page.page, page.keys(), not page.has_more or last, page.total)

    guarded = guarded_pages(
        fetch,
        shown,
        what=what,
        unit="rows",
        incomplete=lambda message: _incomplete(message, what),
        max_pages=max_pages,
        stop=stop,
    )
    return _counted(guarded, what) if whole else guarded


def _counted(guarded: Iterator[P], what: str) -> Iterator[P]:
    """``guarded``'s pages, then ``ListingIncomplete`` if they showed fewer rows than the last
    page's ``total`` says the listing holds."""
    seen: set[str] = set()
    total: int | None = None
    for page in guarded:
        seen.update(page.keys())
        total = page.total
        yield page
    if total is not None and len(seen) < total:
        raise _incomplete(f"{what} showed {len(seen)} of {total} rows", what)


def _incomplete(message: str, what: str) -> ListingIncomplete:
    return ListingIncomplete(message, method="GET", path=what)


def order_pages(
    fetch: Callable[[int], OrderPage], *, since: datetime | None, max_pages: int = MAX_PAGES
) -> Iterator[OrderPage]:
    """The pages of ``orders/list`` that hold every order created at or after ``since`` (all
    pages when ``since`` is None), whichever way the supplier sorts them.

    Newest first, the list is read forward until a page reaches back before ``since``. Oldest
    first, the newest orders are on the last pages: read from ``total_pages`` backwards until a
    page lies wholly before ``since`` (without ``total_pages``, forward to the end). A first page
    that shows no direction (one order, or equal times) is read forward to the end.
    """
    first = fetch(1)
    direction = _direction(first.orders)
    backwards = (
        since is not None
        and direction == "oldest_first"
        and first.total_pages is not None
        and first.total_pages > 1
    )
    if not backwards:
        # Forward: newest first stops once a page reaches back past ``since``; otherwise (no
        # moment, no direction, or a single page) the whole list.
        def reached_back(page: OrderPage) -> bool:
            return (
                since is not None
                and direction == "newest_first"
                and _before(page.orders, since, oldest=True)
            )

        def again(number: int) -> OrderPage:
            return first if number == 1 else fetch(number)

        yield from pages(again, what="orders/list", stop=reached_back, max_pages=max_pages)
        return
    assert since is not None
    assert first.total_pages is not None
    if first.total_pages > max_pages:
        raise ListingIncomplete(
            f"orders/list has {first.total_pages} pages, more than {max_pages}",
            method="GET",
            path="orders/list",
        )
    for number in range(first.total_pages, 0, -1):
        page = first if number == 1 else fetch(number)
        yield page
        if _before(page.orders, since, oldest=False):
            return


def _direction(orders: list[ListedOrder]) -> str | None:
    times = [order.created_at for order in orders if order.created_at is not None]
    if len(times) < 2 or times[0] == times[-1]:
        return None
    return "newest_first" if times[0] > times[-1] else "oldest_first"


def _before(orders: list[ListedOrder], since: datetime, *, oldest: bool) -> bool:
    """The page reaches back before ``since``: its oldest (or, with ``oldest`` False, its
    newest, so the whole page) order was created before it."""
    times = [order.created_at for order in orders if order.created_at is not None]
    if not times:
        return False
    edge = min(times) if oldest else max(times)
    return edge < since
