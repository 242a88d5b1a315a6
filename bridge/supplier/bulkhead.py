"""A supplier's share of a worker process's threads: no supplier can stall the others.

A supplier that hangs holds every thread that calls it until the call's deadline. Without a
bound, its lines alone would take every worker thread of the process and an order for a healthy
supplier would wait behind them. The ``Bulkhead`` lets at most ``size`` calls to one supplier
run at once in a process; one more is refused at once with ``SupplierBusy``, never made to wait
for a slot: a thread waiting for a hung supplier's slot is a thread held by that supplier all
the same. Nothing was sent then, so the step hands its line back to the queue for later, as it
does when the key's budget is spent (``SupplierBusy`` is a ``BudgetExhausted``, which every
step already reads as "nothing sent, come back in ``retry_after``").

How long "later" is follows what the calls in progress show: come back after as long as the
oldest of them has already run (at least ``MIN_RETRY_SECONDS``, at most the call's deadline).
A healthy supplier that is merely busy frees a slot within a second; a hung one holds its slots
until the deadline, and its lines come back around then instead of every second. So a slot is
held only by a call on its way to the supplier: the client takes the key's budget before it
enters (``SupplierClient._send``), since a call waiting here for the budget would count that
wait as the supplier's slowness and turn away the calls that could have used the budget.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.supplier.budget import BudgetExhausted

MIN_RETRY_SECONDS = 1.0


class SupplierBusy(BudgetExhausted):
    """The supplier's share of this process's worker threads is taken by calls in progress:
    nothing was sent; try again in ``retry_after`` seconds."""

    def __init__(self, retry_after: float, reason: str) -> None:
        Exception.__init__(self, f"{reason}; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


def bulkhead_size(worker_threads: int, share: float) -> int:
    """The calls one supplier may have in progress in a process of ``worker_threads``
    threads: its ``share`` of them, rounded down, and at least one."""
    return max(1, int(worker_threads * share))


class Bulkhead:
    """At most ``size`` calls at once to the supplier ``name``, in this process."""

    def __init__(self, name: str, size: int, *, retry_cap: float) -> None:
        if size < 1:
            raise ValueError("a bulkhead holds at least one call")
        self.name = name
        self.size = size
        self._retry_cap = max(retry_cap, MIN_RETRY_SECONDS)
        self._lock = threading.Lock()
        self._started: dict[int, float] = {}  # call -> when it entered (monotonic)
        self._ids = itertools.count()

    @property
    def in_use(self) -> int:
        with self._lock:
            return len(self._started)

    def check(self) -> None:
        """``SupplierBusy`` if no slot is free now (a hint: ``call`` is the gate)."""
        with self._lock:
            self._refuse_when_full(time.monotonic())

    @contextmanager
    def call(self) -> Iterator[None]:
        """Hold one slot for the duration of the block; ``SupplierBusy`` when none is free."""
        now = time.monotonic()
        with self._lock:
            self._refuse_when_full(now)
            call = next(self._ids)
            self._started[call] = now
        try:
            yield
        finally:
            with self._lock:
                del self._started[call]

    def _refuse_when_full(self, now: float) -> None:
        """Called under ``_lock``."""
        if len(self._started) >= self.size:
            ran = now - min(self._started.values())
            raise SupplierBusy(
                self._retry_after(ran),
                f"supplier {self.name} busy: {self.size} call(s) in progress, the oldest "
                f"for {ran:.0f}s",
            )

    def _retry_after(self, ran: float) -> float:
        # Jittered, so lines refused together do not all come back together.
        wait = min(max(ran, MIN_RETRY_SECONDS), self._retry_cap)
        return wait * random.uniform(0.8, 1.2)
