"""Messages carry one id and name a step; they are sent only after the transaction committed."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import dramatiq

from bridge.logs import event

QUEUE = "bridge"
INTAKE = "order.intake"
PURCHASE = "fulfilment.purchase"
DELIVER = "fulfilment.deliver"
ANNOTATE = "order.annotate"
STOCK_SYNC = "stock.sync"
SETTLE = "fulfilment.settle"
CATCHUP = "order.catchup"
ACCOUNT_CHECK = "supplier.account_check"
ALERT_NOTIFY = "alerts.notify"
READINGS = "supplier.readings"


@dataclass(frozen=True, slots=True)
class Send:
    actor: str
    entity_id: int
    delay_seconds: float = 0.0


class Dispatcher:
    """Enqueues ``Send``s on the broker; a failed enqueue is logged and left to the sweep."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self._broker = broker

    def __call__(self, sends: Iterable[Send]) -> None:
        for send in sends:
            message: dramatiq.Message[None] = dramatiq.Message(
                queue_name=QUEUE,
                actor_name=send.actor,
                args=(send.entity_id,),
                kwargs={},
                options={},
            )
            delay = int(send.delay_seconds * 1000) if send.delay_seconds > 0 else None
            try:
                self._broker.enqueue(message, delay=delay)
            except Exception as exc:  # noqa: BLE001 - the row's lease brings it back via the sweep
                event(
                    "queue.enqueue.failed",
                    logging.WARNING,
                    actor=send.actor,
                    id=send.entity_id,
                    error=type(exc).__name__,
                )
