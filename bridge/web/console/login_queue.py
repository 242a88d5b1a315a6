"""The login queue: how many passwords are checked at once, and on which threads.

argon2id takes 64 MiB and ~0.2 s of a core per check (and runs its four lanes on threads of its
own), and an anonymous login costs one check whether or not the name exists. Unbounded, 24
logins at once took the process from 0.2 to 1.1 GB and the webhooks sharing it from 23 ms to
0.4 s. So checks run on a pool of ``max_concurrent_logins`` threads of their own, at a lower
CPU priority than the rest of the process; a login waits its turn for at most
``login_queue_seconds`` and is then told to come back (429).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

T = TypeVar("T")

# Added to the checking threads' nice value (Linux keeps one per thread, and argon2's lane
# threads inherit it): the scheduler then gives a waking webhook or worker thread the CPU
# first, and a check takes longer only while the machine is busy.
CHECK_NICENESS = 10


def _yield_the_cpu() -> None:
    if sys.platform == "linux":  # elsewhere the call could lower the whole process
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), CHECK_NICENESS)


class LoginQueue:
    def __init__(self, size: int, wait: float) -> None:
        self.wait = wait
        self._slots = asyncio.Semaphore(size)
        # The hard cap: a check whose login was abandoned (client gone) still holds its thread
        # until it ends, so there are never more than ``size`` at once.
        self._threads = ThreadPoolExecutor(
            size, thread_name_prefix="console-login", initializer=_yield_the_cpu
        )

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[bool]:
        """Yields whether the turn came within the wait (held until the block ends)."""
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            admitted = False
        else:
            admitted = True
        try:
            yield admitted
        finally:
            if admitted:
                self._slots.release()

    async def check(self, work: Callable[[], T]) -> T:
        """Run ``work`` (a password check) on the queue's threads."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, work)
