"""Thin actors: take an id, run the step function, send its follow-ups after it committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import dramatiq

from workers.context import Context
from workers.dispatch import (
    ANNOTATE,
    DELIVER,
    INTAKE,
    PURCHASE,
    QUEUE,
    SETTLE,
    STOCK_SYNC,
    Send,
)
from workers.fulfilment.annotate import annotate
from workers.fulfilment.deliver import deliver
from workers.fulfilment.intake import intake
from workers.fulfilment.purchase import purchase
from workers.fulfilment.settle import settle
from workers.stock.sync import sync_stock

Step = Callable[[Context, int], list[Send]]
STEPS: dict[str, Step] = {
    INTAKE: intake,
    PURCHASE: purchase,
    SETTLE: settle,
    DELIVER: deliver,
    ANNOTATE: annotate,
    STOCK_SYNC: sync_stock,
}


def declare_actors(
    broker: dramatiq.Broker, ctx: Context, dispatch: Callable[[Iterable[Send]], None]
) -> None:
    for name, step in STEPS.items():
        dramatiq.Actor(
            _bind(step, ctx, dispatch),
            broker=broker,
            actor_name=name,
            queue_name=QUEUE,
            priority=0,
            options={"max_retries": 0},
        )


def _bind(
    step: Step, ctx: Context, dispatch: Callable[[Iterable[Send]], None]
) -> Callable[[int], None]:
    def run(entity_id: int) -> None:
        dispatch(step(ctx, entity_id))

    run.__name__ = step.__name__
    run.__module__ = step.__module__
    return run
