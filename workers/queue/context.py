"""What every step needs: settings, the database, the secret box, and cached API clients.

Each supplier's clients in this process share one ``Bulkhead``: its calls may hold at most
``supplier_thread_share`` of the process's ``worker_threads`` at once, so a supplier that hangs
keeps the other threads free for the other suppliers' lines (``bridge.supplier.bulkhead``). It is
kept by supplier name, so a client rebuilt for a rotated key shares it with the one before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from bridge.db import utcnow
from bridge.pancake.client import PancakeClient
from bridge.pancake.models import PancakeShop
from bridge.retrying import backoff_delay
from bridge.secrets import SecretBox
from bridge.settings import Settings
from bridge.supplier.budget import Budgets, KeyBudget
from bridge.supplier.bulkhead import Bulkhead, bulkhead_size
from bridge.supplier.client import SupplierClient
from bridge.supplier.models import Supplier


@dataclass
class Context:
    settings: Settings
    engine: Engine
    box: SecretBox
    budgets: Budgets
    clock: Callable[[], datetime] = utcnow
    # The worker process this context runs steps for (its heartbeat row), None outside one
    # (a CLI command): purchases it claims are taken back at once if that process dies.
    worker_id: str | None = None
    _clients: dict[tuple[str, ...], PancakeClient | SupplierClient] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    # The (rate, daily) limits each cached supplier client's budget was last given.
    _limits: dict[tuple[str, ...], tuple[int | None, int | None]] = field(default_factory=dict)
    _bulkheads: dict[str, Bulkhead] = field(default_factory=dict)

    def pancake(self, shop: PancakeShop) -> PancakeClient:
        # Keyed by the encrypted key too, so a rotated key gets a fresh client.
        key = ("pancake", shop.shop_id, shop.api_key_enc)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = PancakeClient(
                    self.settings.pancake_base_url,
                    self.box.decrypt(shop.api_key_enc),
                    timeout=httpx.Timeout(self.settings.pancake_timeout_seconds, connect=5.0),
                )
                self._clients[key] = client
        assert isinstance(client, PancakeClient)
        return client

    def supplier(self, supplier: Supplier) -> SupplierClient:
        key = (
            "shop",
            supplier.name,
            supplier.base_url,
            supplier.api_key_enc,
            supplier.api_secret_enc,
        )
        # The key's own limits once account/info told them; the configured ones until then.
        limits = (supplier.rate_limit, supplier.daily_limit)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = SupplierClient(
                    supplier.base_url,
                    self.box.decrypt(supplier.api_key_enc),
                    self.box.decrypt(supplier.api_secret_enc),
                    timeout=httpx.Timeout(
                        self.settings.supplier_timeout_seconds,
                        connect=min(5.0, self.settings.supplier_timeout_seconds),
                    ),
                    budget=self.supplier_budget(supplier),
                    budget_wait=self.settings.supplier_budget_wait_seconds,
                    name=supplier.name,
                    deadline=self.settings.supplier_timeout_seconds,
                    max_answer_bytes=self.settings.supplier_max_answer_bytes,
                    bulkhead=self._bulkhead(supplier.name),
                )
                self._clients[key] = client
                self._limits[key] = limits
            elif self._limits.get(key) != limits:
                # The client keeps its budget object; Budgets retunes that same object.
                self.supplier_budget(supplier)
                self._limits[key] = limits
        assert isinstance(client, SupplierClient)
        return client

    def _bulkhead(self, name: str) -> Bulkhead:
        """The supplier's share of this process's worker threads (called under ``_lock``)."""
        bulkhead = self._bulkheads.get(name)
        if bulkhead is None:
            s = self.settings
            size = bulkhead_size(s.worker_threads, s.supplier_thread_share)
            bulkhead = Bulkhead(name, size, retry_cap=s.supplier_timeout_seconds)
            self._bulkheads[name] = bulkhead
        return bulkhead

    def supplier_budget(self, supplier: Supplier) -> KeyBudget:
        """The supplier key's budget under its own limits (the configured ones until told)."""
        return self.budgets.for_key(
            self.box.decrypt(supplier.api_key_enc),
            rate_limit=supplier.rate_limit,
            daily_limit=supplier.daily_limit,
        )

    def lease_until(self, now: datetime, delay: float = 0.0) -> datetime:
        """When a step due in ``delay`` seconds counts as lost, and the sweep sends it again."""
        return now + timedelta(seconds=delay + self.settings.lease_seconds)

    def retry_delay(self, failures: int) -> float:
        """Wait before retrying a step that failed transiently ``failures`` times."""
        return backoff_delay(max(failures - 1, 0), base=2.0, cap=self.settings.poll_max_seconds)

    def poll_delay(self, polls: int, waited: float = 0.0) -> float:
        """Wait before poll number ``polls`` + 1 of a line that has waited ``waited`` seconds:
        growing by ``poll_factor`` up to ``poll_max_seconds``, then with the wait itself
        (``poll_wait_share`` of it), so a line waiting for days is read a few times a day."""
        s = self.settings
        # Capped exponent: a line polled for days must not overflow the float.
        grown = s.poll_initial_seconds * s.poll_factor ** min(polls, 64)
        return float(max(min(s.poll_max_seconds, grown), s.poll_wait_share * max(waited, 0.0)))

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            self._limits.clear()
        self.budgets.close()
