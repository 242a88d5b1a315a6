"""The one guard for reading a paged listing whole, for both API clients.

Neither API promises that paging works as its docs show: a server may ignore ``page``, answer
the same page again, or claim more pages than it serves. So pages are read while the answer
says more follow, never more than ``max_pages``; a page other than the one asked for, or one
that repeats an earlier page, means paging is ignored: reading stops there, and if the listing's
total shows rows that were not seen, the caller's ``incomplete`` error is raised rather than a
part passed off as the whole. Each client says how its pages show these (``Shown``, given the
page and the number asked for).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

P = TypeVar("P")


@dataclass(frozen=True)
class Shown:
    """What one answer says of itself: which page it is (None: not told), the keys of its
    rows, whether it is the last, and how many rows the whole listing holds (None: not told)."""

    number: int | None
    keys: tuple[str, ...]
    last: bool
    total: int | None


def guarded_pages(
    fetch: Callable[[int], P],
    shown: Callable[[P, int], Shown],
    *,
    what: str,
    unit: str,
    incomplete: Callable[[str], Exception],
    max_pages: int,
    stop: Callable[[P], bool] = lambda page: False,
) -> Iterator[P]:
    """Pages 1, 2, … of a listing, guarded as the module says; ``stop`` ends it early."""
    seen_pages: set[tuple[str, ...]] = set()
    seen: set[str] = set()
    for number in range(1, max_pages + 1):
        page = fetch(number)
        told = shown(page, number)
        if number > 1 and (told.number not in (None, number) or told.keys in seen_pages):
            if told.total is not None and len(seen) < told.total:
                raise incomplete(
                    f"{what} ignores paging: {len(seen)} of {told.total} {unit} could be read"
                )
            return
        seen_pages.add(told.keys)
        seen.update(told.keys)
        yield page
        # An empty page that claims more would loop forever: the emptiness is trusted.
        if told.last or not told.keys or stop(page):
            return
    raise incomplete(f"{what} has more than {max_pages} pages")
