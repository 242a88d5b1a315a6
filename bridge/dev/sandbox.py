"""Simulated Pancake and suppliers wired to a real bridge over real HTTP.

This is `bridge run` against the simulators: the demo drives it, and so do the end-to-end tests.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import dramatiq
from sqlmodel import col, select

from bridge.db import session_scope
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.models import Fulfilment
from bridge.pancake.shops import add_shop
from bridge.routes import WEBHOOK_PATH, WEBHOOK_SECRET_HEADER
from bridge.runtime.wiring import Runtime
from bridge.settings import Settings
from bridge.states import TERMINAL, FulfilmentState
from bridge.supplier.suppliers import add_supplier
from bridge.web.server import ServerThread
from mappings.audit import SYSTEM
from mappings.commands import add_choice

SHOP_ID = "4"  # a Pancake shop id, as webhook bodies (and the fixtures) name it
PANCAKE_API_KEY = "demo-pancake-api-key"
CONFIRMED = 1
# A test may want to see an unknown purchase before it is settled: it is parked, not moving.
PARKED_OR_TERMINAL = TERMINAL | {FulfilmentState.PURCHASE_UNKNOWN}


class Sandbox:
    def __init__(
        self,
        settings: Settings,
        *,
        secret_key: str | None = None,
        broker: dramatiq.Broker | None = None,
        shop_id: str = SHOP_ID,
    ) -> None:
        self.shop_id = shop_id
        self.webhook_secret = secrets.token_urlsafe(24)
        self.pancake = PancakeSimulator()
        self.pancake.add_shop(shop_id, api_key=PANCAKE_API_KEY)
        self._pancake_server = ServerThread(self.pancake.app).start()
        settings = settings.model_copy(
            update={"pancake_base_url": self._pancake_server.url + "/api/v1"}
        )
        self.runtime = Runtime(
            settings, secret_key=secret_key or secrets.token_urlsafe(32), broker=broker
        )
        self.suppliers: dict[str, SupplierSimulator] = {}
        self._supplier_servers: list[ServerThread] = []
        self._bridge_server: ServerThread | None = None
        with session_scope(self.runtime.engine) as session:
            add_shop(
                session,
                self.runtime.box,
                shop_id,
                api_key=PANCAKE_API_KEY,
                webhook_secret=self.webhook_secret,
            )

    @property
    def bridge_url(self) -> str:
        assert self._bridge_server is not None, "start() first"
        return self._bridge_server.url

    @property
    def webhook_url(self) -> str:
        return self.bridge_url + WEBHOOK_PATH.format(shop_id=self.shop_id)

    def start(self, *, workers: bool = True, webhook: bool = True) -> Sandbox:
        """``webhook=False`` leaves the shop's webhook unset, for ``bridge shops connect``."""
        self._bridge_server = self.runtime.start_web()
        if webhook:
            self.pancake.configure_webhook(
                self.shop_id,
                url=self.webhook_url,
                headers={WEBHOOK_SECRET_HEADER: self.webhook_secret},
            )
        if workers:
            self.runtime.start_workers()
        return self

    def add_supplier(self, name: str, simulator: SupplierSimulator) -> SupplierSimulator:
        server = ServerThread(simulator.app).start()
        self._supplier_servers.append(server)
        self.suppliers[name] = simulator
        with session_scope(self.runtime.engine) as session:
            add_supplier(
                session,
                self.runtime.box,
                name,
                base_url=server.url + "/api/v1",
                api_key=DEMO_API_KEY,
                api_secret=DEMO_API_SECRET,
            )
        return simulator

    def map(
        self,
        variation_id: str,
        *,
        supplier: str,
        plan_id: int,
        name: str | None = None,
        units: int = 1,
        fields: dict[str, Any] | None = None,
        priority: int = 0,
        retail_price: int = 100_000,
    ) -> None:
        """Add the variation to the simulated shop and map it to a supplier plan.

        ``retail_price`` is what the shop sells it for: by default the bridge buys no plan
        dearer than that (the choice's max cost)."""
        self.pancake.add_variation(
            self.shop_id, variation_id, name=name or variation_id, retail_price=retail_price
        )
        with session_scope(self.runtime.engine) as session:
            add_choice(
                session,
                actor=SYSTEM,
                shop_id=self.shop_id,
                variation_id=variation_id,
                supplier_name=supplier,
                plan_id=plan_id,
                units=units,
                fields=fields,
                priority=priority,
            )

    def place_order(self, items: list[dict[str, Any]], **order: Any) -> str:
        """A new order, then staff confirm it: the two webhooks Pancake sends for that."""
        order_id = self.pancake.create_order(self.shop_id, items=items, status=0, **order)
        self.pancake.set_status(self.shop_id, order_id, CONFIRMED)
        return order_id

    def fulfilments(self, order_id: str | None = None) -> list[Fulfilment]:
        statement = select(Fulfilment).order_by(col(Fulfilment.id))
        if order_id is not None:
            statement = statement.where(Fulfilment.order_id == order_id)
        with session_scope(self.runtime.engine) as session:
            return list(session.exec(statement))

    def wait_for(
        self, condition: Callable[[], bool], *, timeout: float = 30.0, what: str = ""
    ) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}")
            time.sleep(0.05)

    def wait_settled(
        self, order_id: str, *, lines: int, timeout: float = 30.0, final: bool = False
    ) -> list[Fulfilment]:
        """Until the order has ``lines`` fulfilments and none is still in progress.

        ``final``: an unknown purchase being settled counts as in progress too.
        """
        done = TERMINAL if final else PARKED_OR_TERMINAL

        def settled() -> bool:
            rows = self.fulfilments(order_id)
            return len(rows) >= lines and all(r.state in done for r in rows)

        self.wait_for(settled, timeout=timeout, what=f"order {order_id} to settle")
        return self.fulfilments(order_id)

    def note(self, order_id: str) -> str:
        return str(self.pancake.order(self.shop_id, order_id).get("note") or "")

    def stop(self) -> None:
        self.runtime.stop()
        self.pancake.close()
        servers = [self._pancake_server, *self._supplier_servers]
        for server in servers:
            server.ask_to_stop()
        for server in servers:
            server.stop()
