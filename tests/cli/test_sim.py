"""`bridge sim pancake|supplier`: the simulators as real processes, driven over their control API
(tests/cli/test_walkthrough.py pastes what they print into a shell and runs a real `bridge run`)."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from bridge.dev.simulators.control import PANCAKE_ROUTES, SUPPLIER_ROUTES
from bridge.web.server import free_port
from tests.cli.test_main import cli_env, run  # noqa: F401  (cli_env is a fixture)
from tests.cli.test_walkthrough import block
from tests.conftest import bridge_cli, clean_environment

ROOT = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops it."
SIM_PANCAKE_KEY = "sim-pancake-api-key"
NETFLIX = "var-netflix-1m"


class Process:
    """A `bridge ...` subprocess whose stdout lines are read as they come."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            bridge_cli(*args),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr = ""
        assert self.popen.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def banner(self, timeout: float = 30.0) -> list[str]:
        """Every line up to the one that says it is ready."""
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while not seen or seen[-1] != BANNER_END:
            try:
                seen.append(self.lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                self.stop()
                raise AssertionError(f"no banner; stderr: {self.stderr}") from None
        return seen

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; its exit status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            code = self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            code = self.popen.wait()
        self._reader.join(timeout=10)
        for stream in (self.popen.stdout, self.popen.stderr):
            if stream is not None and not stream.closed:
                if stream is self.popen.stderr:
                    self.stderr += stream.read()
                stream.close()
        return code


@pytest.fixture
def processes() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Process:
        process = Process(*args, env=env or clean_environment())
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


@pytest.mark.parametrize("dialect", ["full", "short"])
def test_faults_injected_through_the_supplier_control_api_are_what_the_check_then_names(
    processes: Callable[..., Process],
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    dialect: str,
) -> None:
    port = free_port()
    supplier = processes("sim", "supplier", "--port", str(port), "--dialect", dialect)
    banner = supplier.banner()
    assert banner[0].startswith(f"Supplier simulator (Shop API v1, {dialect} dialect)")
    url = f"http://127.0.0.1:{port}"
    [add] = [line for line in block(banner) if "suppliers add" in line]
    key, secret = add.split()[2:4]  # printf '%s\n%s\n' KEY SECRET | ...
    argv = ["suppliers", "add", "sim", "--base-url", f"{url}/api/v1", "--api-key", key]
    assert run(capsys, *argv, "--api-secret", secret)[0] == 0

    with httpx.Client(base_url=f"{url}/_control", timeout=10) as http:
        assert http.get("").json() == {"routes": SUPPLIER_ROUTES}
        answer = http.post("/faults", json={"error_code": "IP_NOT_ALLOWED"})
        assert answer.json() == {"injected": {"error_code": "IP_NOT_ALLOWED", "times": 1}}
        code, out, _ = run(capsys, "suppliers", "check", "sim")
        assert code == 1
        assert "IP_NOT_ALLOWED (HTTP 403: IP không được phép truy cập)" in out

        assert http.post("/faults", json={"fault": "429"}).status_code == 200
        code, out, _ = run(capsys, "suppliers", "check", "sim")
        assert code == 1
        assert "RATE_LIMIT_EXCEEDED (HTTP 429: Retry-After 1 s)" in out

        assert http.post("/switches", json={"serves_account_info": False}).status_code == 200
        code, out, _ = run(capsys, "suppliers", "check", "sim")
        assert code == 0, out
        assert "this shop has no account/info" in out

        # Mistakes are answered, not crashed on.
        assert http.post("/faults", json={"error_code": "NOPE"}).status_code == 400
        assert http.post("/faults", content=b"{not json").status_code == 400
        assert http.post("/switches", json={"paging": "sideways"}).status_code == 400
        assert http.post("/plans/999/stock", json={"stock": 1}).status_code == 404
        assert http.post("/complete", json={"trans_id": "PO1"}).json()["error"] == "unknown id PO1"
        assert http.get("/ledger").json() == {"purchases": [], "balance": 10_000_000}


def test_the_pancake_control_api_presets_webhooks_and_hides_what_the_docs_do_not_promise(
    processes: Callable[..., Process],
) -> None:
    port = free_port()
    processes("sim", "pancake", "--port", str(port), "--shop-id", "7").banner()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=10) as http:
        assert http.get("/_control").json() == {"routes": PANCAKE_ROUTES}
        preset = http.put(
            "/_control/shops/7/webhook",
            json={"url": "https://other.example/hook", "headers": {"X-Token": "t0k3n"}},
        )
        assert preset.status_code == 200
        assert preset.json()["webhook_headers"] == {"X-Token": "***"}, "secrets stay masked"
        listed = http.get("/api/v1/shops", params={"api_key": SIM_PANCAKE_KEY}).json()
        [shop] = listed["shops"]
        assert (shop["id"], shop["webhook_url"]) == (7, "https://other.example/hook")
        assert shop["pages"][0]["shop_id"] == 7

        switched = http.post(
            "/_control/switches", json={"shops_list_webhook": False, "shops_list_id": False}
        )
        assert switched.json()["shops_list_webhook"] is False
        [shop] = http.get("/api/v1/shops", params={"api_key": SIM_PANCAKE_KEY}).json()["shops"]
        assert not any(key.startswith("webhook_") for key in shop)
        assert "id" not in shop
        assert http.get("/api/v1/shops", params={"api_key": "wrong"}).status_code == 401

        placed = http.post(
            "/_control/shops/7/orders", json={"items": [{"variation_id": NETFLIX}], "confirm": True}
        ).json()
        assert placed["status"] == 1
        cancelled = http.post(
            f"/_control/shops/7/orders/{placed['order_id']}/status", json={"status": 6}
        )
        assert cancelled.json()["status_name"] == "cancelled"
        assert http.post("/_control/shops/7/orders", json={"items": []}).status_code == 400
        assert http.get("/_control/shops/9/orders/1").status_code == 404
        assert http.post("/_control/faults", json={"status": 503}).status_code == 200
        assert http.get("/api/v1/shops", params={"api_key": SIM_PANCAKE_KEY}).status_code == 503
        assert ["GET", "/shops"] in http.get("/_control/calls").json()


@pytest.mark.parametrize(
    ("command", "routes"), [("pancake", PANCAKE_ROUTES), ("supplier", SUPPLIER_ROUTES)]
)
def test_the_help_lists_every_control_route(
    capsys: pytest.CaptureFixture[str], command: str, routes: dict[str, str]
) -> None:
    code, out, _ = run(capsys, "sim", command, "--help")
    assert code == 0
    for route in routes:
        method, path = route.split()
        assert re.search(rf"^\s+{method}\s+{re.escape(path)}\s", out, re.MULTILINE), route


def test_a_port_in_use_is_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out, err = run(capsys, "sim", "supplier", "--port", str(port))
    assert (code, out) == (2, "")
    assert err.startswith(f"error: cannot listen on 127.0.0.1:{port} (")
    assert err.endswith("choose another --port\n")
