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


def build_broker(redis_url: str | None, *, namespace: str = "pancake-bridge") -> dramatiq.Broker:
    middleware: list[Middleware] = [Retries(max_retries=0)]
    if redis_url:
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=redis_url, namespace=namespace, middleware=middleware
        )
        return broker
    return StubBroker(middleware=middleware)
