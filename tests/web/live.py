"""A real `bridge run` process (web, workers and console in one process, as deployed) on a SQLite
file prepared with one shop, one console user and one delivered line, for tests that need the
process itself: its memory, its sockets, its settings from the environment."""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bridge.db import session_scope, utcnow
from bridge.models import Fulfilment, Order
from bridge.pancake.shops import add_shop
from bridge.runtime.wiring import Runtime
from bridge.web.console.users import set_user
from bridge.web.server import free_port
from tests.conftest import bridge_cli, clean_environment, fast_settings

ROOT = Path(__file__).resolve().parents[2]
SHOP = "4"
USER = "alice"
PASSWORD = "đúng mật khẩu 2026"
CODES = ["NETFLIX-CODE-1"]


@dataclass
class LiveBridge:
    process: subprocess.Popen[bytes]
    url: str
    port: int
    database_url: str
    secret_key: str
    webhook_secret: str
    line_id: int
    log: Path

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/pancake/{SHOP}"

    def rss_mb(self) -> float:
        """The process's resident memory now (VmRSS), in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def prepare(database_url: str, secret_key: str, webhook_secret: str) -> int:
    """The database `bridge run` will open: the shop, the console user and a line with delivered
    codes (the reveal's subject). The line's id."""
    runtime = Runtime(fast_settings(database_url), secret_key=secret_key)
    try:
        with session_scope(runtime.engine) as session:
            add_shop(
                session,
                runtime.box,
                SHOP,
                api_key="live-pancake-key",
                webhook_secret=webhook_secret,
            )
            set_user(session, USER, PASSWORD, utcnow())
            order = Order(shop_id=SHOP, order_id="1001", state="done", item_count=1)
            session.add(order)
            session.flush()
            assert order.id is not None
            line = Fulfilment(
                order_pk=order.id,
                shop_id=SHOP,
                order_id="1001",
                line_key="1001:0",
                quantity=1,
                state="annotated",
                credentials_enc=runtime.box.encrypt(json.dumps(CODES)),
                delivered_count=1,
            )
            session.add(line)
            session.flush()
            assert line.id is not None
            return line.id
    finally:
        runtime.stop()


def start(tmp_path: Path, **env: str) -> LiveBridge:
    """`bridge run` with ``env`` (BRIDGE_… settings) on top of what it needs; ready when this
    returns."""
    secret_key = secrets.token_urlsafe(32)
    webhook_secret = secrets.token_urlsafe(24)
    database_url = f"sqlite:///{tmp_path / 'bridge.db'}"
    line_id = prepare(database_url, secret_key, webhook_secret)
    port = free_port()
    log = tmp_path / "bridge.log"
    environment = clean_environment() | {
        "BRIDGE_SECRET_KEY": secret_key,
        "BRIDGE_DATABASE_URL": database_url,
        "BRIDGE_PORT": str(port),
        "BRIDGE_STOCK_SYNC_ENABLED": "false",
        "BRIDGE_WORKER_THREADS": "2",
        "BRIDGE_CONSOLE_INSECURE_COOKIES": "true",
        **env,
    }
    with log.open("wb") as output:
        process = subprocess.Popen(
            bridge_cli("run"), cwd=ROOT, env=environment, stdout=output, stderr=subprocess.STDOUT
        )
    bridge = LiveBridge(
        process,
        f"http://127.0.0.1:{port}",
        port,
        database_url,
        secret_key,
        webhook_secret,
        line_id,
        log,
    )
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"bridge run exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{bridge.url}/healthz", timeout=1).status_code == 200:
                return bridge
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            bridge.stop()
            raise AssertionError(f"bridge run did not listen: {log.read_text()[-2000:]}")
        time.sleep(0.2)
