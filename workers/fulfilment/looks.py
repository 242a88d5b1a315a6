"""When settlement looks at the supplier's order list for a purchase whose answer was lost.

Most lost answers are of orders the supplier committed and lists at once (a worker killed while
the answer was on its way, a dropped connection): a look a few seconds after the send finds the
order, and the customer need not wait for the whole window. A supplier may also commit or list an
order late, so not finding it proves nothing until the window (``settle_delay_seconds``) has
passed. Settlement therefore looks at ``settle_first_look_seconds`` after the send, then at twice
as long each time, and at the window: with the defaults at 2, 4, 8, 16 and 32 s, then 60 s.

An early look acts only on an order it proves the purchase's (``workers.fulfilment.settle``);
any other reading waits for the next look. Only a look at or past the window concludes that
nothing was bought (the line is bought again) or that a person must decide.

Each look costs one ``orders/list`` page (more when the window reaches past it) and an
``orders/status`` per candidate whose listing does not say who placed it. A supplier that never
lists the order within the window costs at most the early looks more than one look at the window.
"""

from __future__ import annotations

from bridge.settings import Settings


def schedule(settings: Settings) -> tuple[float, ...]:
    """Every look's time, in seconds after the send: the early ones, then the window."""
    window = settings.settle_delay_seconds
    looks: list[float] = []
    at = settings.settle_first_look_seconds
    while 0 < at < window:
        looks.append(at)
        at *= 2
    return (*looks, window)


def first_look(settings: Settings) -> float:
    """Seconds after the send of the first look: a line parked now waits at most this long."""
    return schedule(settings)[0]


def next_look(settings: Settings, elapsed: float) -> float:
    """Seconds from ``elapsed`` after the send to the next look (the window's, at the latest);
    0 once the window has passed."""
    return max(next((at for at in schedule(settings) if at > elapsed), elapsed) - elapsed, 0.0)


def final(settings: Settings, elapsed: float) -> bool:
    """Has the window passed: may a look conclude that nothing was bought?"""
    return elapsed >= settings.settle_delay_seconds
