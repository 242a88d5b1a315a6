"""The fault world across two hosts: the same simulators, bridge web side and checks as
``tests.faults.world``, but each worker is `bridge worker` run inside a host of its own (a network
namespace, ``tests.hosts.network``) that reaches PostgreSQL, Redis and the simulators over the LAN
only, at the gateway's address."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bridge.db import session_scope
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET
from bridge.supplier.models import Supplier
from bridge.supplier.suppliers import add_supplier
from tests.conftest import bridge_cli
from tests.faults.processes import ROOT, WorkerProc
from tests.faults.world import FaultWorld
from tests.hosts.network import Forwarder, Lan

LOOPBACK = "127.0.0.1"


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, f"{url} names no port"
    return port


class HostsWorld(FaultWorld):
    """Worker ``i`` runs on host ``i % lan.hosts``; ``keys`` gives a supplier its own API key (and
    so its own budget: the bridge keeps one per key)."""

    def __init__(
        self,
        database_url: str,
        workdir: Path,
        lan: Lan,
        *,
        keys: Mapping[str, str] | None = None,
        shop_options: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> None:
        self.keys = dict(keys or {})
        merged = {name: dict(values) for name, values in (shop_options or {}).items()}
        for name, key in self.keys.items():
            merged.setdefault(name, {})["api_key"] = key
        super().__init__(database_url, workdir, launch="exec", shop_options=merged, **options)
        self.lan = lan
        self._forwarder = Forwarder(lan.gateway)

    def __enter__(self) -> HostsWorld:
        return self.start()

    def _on_lan(self, url: str) -> str:
        return url.replace(f"//{LOOPBACK}:", f"//{self.lan.gateway}:").replace(
            f"@{LOOPBACK}:", f"@{self.lan.gateway}:"
        )

    def start(self) -> HostsWorld:
        super().start()
        try:
            runtime = self.sandbox.runtime
            ports = {_port(self.database_url), _port(self.redis_url)}
            ports.add(_port(runtime.settings.pancake_base_url))
            with session_scope(runtime.engine) as session:
                for name in self.suppliers:
                    row = session.get(Supplier, name)
                    assert row is not None
                    ports.add(_port(row.base_url))
                    add_supplier(
                        session,
                        runtime.box,
                        name,
                        base_url=self._on_lan(row.base_url),
                        api_key=self.keys.get(name, DEMO_API_KEY),
                        api_secret=DEMO_API_SECRET,
                    )
            for port in sorted(ports):
                self._forwarder.forward(port)
        except BaseException:
            self.close()
            raise
        return self

    def env(self) -> dict[str, str]:
        env = super().env()
        for name in ("BRIDGE_DATABASE_URL", "BRIDGE_REDIS_URL", "BRIDGE_PANCAKE_BASE_URL"):
            env[name] = self._on_lan(env[name])
        return env

    def host_of(self, index: int) -> int:
        return index % self.lan.hosts

    def _spawn(self, index: int) -> WorkerProc:
        self._generation += 1
        log_path = self.workdir / f"worker-{index}.{self._generation}.log"
        with log_path.open("ab") as log:
            popen = subprocess.Popen(
                self.lan.command(self.host_of(index), bridge_cli("worker")),
                cwd=ROOT,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return WorkerProc(index, self._generation, popen.pid, log_path, time.monotonic(), popen)

    def events(self, index: int, name: str) -> list[dict[str, Any]]:
        """The JSON log lines named ``name`` that worker ``index`` (every generation) wrote."""
        found = []
        for path in sorted(self.workdir.glob(f"worker-{index}.*.log")):
            for line in path.read_text(errors="replace").splitlines():
                if f'"{name}"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == name:
                    found.append(record)
        return found

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._forwarder.close()
