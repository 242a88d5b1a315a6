"""Thin actors: take an id, run the step function, send its follow-ups after it committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import dramatiq

from bridge.logs import bound
from workers.queue.context import Context
from workers.queue.dispatch import (
    ANNOTATE,
    CATCHUP,
    DELIVER,
    INTAKE,
    PURCHASE,
    QUEUE,
    SETTLE,
    STOCK_SYNC,
    Send,
)

# A step: take one id, do the work, return the follow-up messages (sent after it committed).
Step = Callable[[Context, int], list[Send]]


def declare_actors(
    broker: dramatiq.Broker,
    ctx: Context,
    dispatch: Callable[[Iterable[Send]], None],
    steps: Mapping[str, Step],
) -> None:
    """One actor per step, named after it (``fulfilment.purchase``), on the one queue."""
    for name, step in steps.items():
        dramatiq.Actor(
            _bind(name, step, ctx, dispatch),
            broker=broker,
            actor_name=name,
            queue_name=QUEUE,
            priority=0,
            options={"max_retries": 0},
        )


# What each step's argument is: the name every event of the step is logged with.
ID_NAMES = {
    PURCHASE: "fulfilment_id",
    SETTLE: "fulfilment_id",
    DELIVER: "fulfilment_id",
    INTAKE: "order_pk",
    ANNOTATE: "order_pk",
    CATCHUP: "catchup_id",
    STOCK_SYNC: "stock_control_id",
}


def _bind(
    name: str, step: Step, ctx: Context, dispatch: Callable[[Iterable[Send]], None]
) -> Callable[[int], None]:
    id_name = ID_NAMES.get(name, "entity_id")

    def run(entity_id: int) -> None:
        with bound(step=name, **{id_name: entity_id}):
            dispatch(step(ctx, entity_id))

    run.__name__ = step.__name__
    run.__module__ = step.__module__
    return run
