"""Thin actors: take an id, run the step function, send its follow-ups after it committed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import dramatiq

from workers.context import Context
from workers.dispatch import QUEUE, Send

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
