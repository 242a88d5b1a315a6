"""The broker, built in one place: Redis when BRIDGE_REDIS_URL is set, else an in-process one.

Middleware, in order: only Retries, with max_retries=0. Retrying is the database's job (every row
has a lease and the sweep re-sends it), and dramatiq's own retries would re-run a purchase whose
answer was merely slow. No TimeLimit: it cannot interrupt a blocking call and would only fire a
retry after a purchase that succeeded. No AgeLimit: a delayed poll may legitimately wait hours.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware, Retries

# Out of a million broker commands, how many also look for dead workers' messages. A process
# polls its queues a few times a second, so this looks about once a second per process; when no
# worker is dead a look is two sorted-set range reads.
MAINTENANCE_CHANCE = 100_000


def build_broker(
    redis_url: str | None,
    *,
    namespace: str = "pancake-bridge",
    heartbeat_timeout_seconds: float = 10.0,
) -> dramatiq.Broker:
    """With Redis, a worker silent for ``heartbeat_timeout_seconds`` counts as dead and the
    messages it had taken (running, prefetched, or held until their delay) go back to the queue
    for the others: the same timeout as the bridge's own heartbeat (``workers/queue/heartbeat.py``),
    instead of dramatiq's default minute. A live worker taken for dead costs duplicates, which
    every step tolerates."""
    middleware: list[Middleware] = [Retries(max_retries=0)]
    if redis_url:
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url,
            namespace=namespace,
            middleware=middleware,
            heartbeat_timeout=int(heartbeat_timeout_seconds * 1000),
            maintenance_chance=MAINTENANCE_CHANCE,
        )
        return broker
    return StubBroker(middleware=middleware)
