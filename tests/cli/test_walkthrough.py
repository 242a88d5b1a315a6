"""The walk-through as a person follows it, in a real shell.

The simulators are started as the README says (``uv run bridge sim …``), the blocks they print
are pasted unchanged into bash (``set -e``, nothing in the environment but PATH and HOME, and
TMPDIR so the block's ``mktemp -d`` lands in the test's folder), which ends by running
``bridge run``. The order is placed with the ``curl`` line the Pancake simulator prints, the
delivered credentials are read back from the order's note, and the console is logged in to
with the user and password the pasted block made and showed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from bridge.web.server import free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BANNER_END = "Ctrl-C stops it."
BLOCK_EDGE = "# ----"
DEADLINE_SECONDS = 150.0  # a bound, not a wait: about 35 s on a busy 2-core machine


class Shell:
    """A process group started from a command line, its output (stdout and stderr) read line
    by line as it comes; stopped as Ctrl-C stops a terminal's foreground job."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert self.popen.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def until(self, wanted: Callable[[str], bool], what: str, deadline: float) -> str:
        """The first line (from here on) that is ``wanted``."""
        while True:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                line = None
            if line is None:
                transcript = "\n".join(self.seen)
                if self.popen.poll() is not None and self.lines.empty():
                    raise AssertionError(f"exited before {what}:\n{transcript}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"timed out waiting for {what}:\n{transcript}")
                continue
            self.seen.append(line)
            if wanted(line):
                return line

    def stop(self) -> int:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGINT)
        try:
            code = self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            code = self.popen.wait(timeout=10)
        self._reader.join(timeout=10)
        if self.popen.stdout is not None:
            self.popen.stdout.close()
        return code


@pytest.fixture
def shells() -> Iterator[Callable[[list[str], dict[str, str]], Shell]]:
    started: list[Shell] = []

    def start(argv: list[str], env: dict[str, str]) -> Shell:
        shell = Shell(argv, env)
        started.append(shell)
        return shell

    yield start
    for shell in reversed(started):
        shell.stop()


def block(banner: list[str]) -> list[str]:
    """The lines a banner says to paste: from its opening ``# ----`` line to its closing one."""
    first = next(i for i, line in enumerate(banner) if line.startswith(BLOCK_EDGE))
    last = next(i for i, line in enumerate(banner) if i > first and line.startswith(BLOCK_EDGE))
    return banner[first : last + 1]


def wait_for(condition: Callable[[], Any], what: str, deadline: float) -> Any:
    while True:
        try:
            value = condition()
        except httpx.TransportError:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_pasting_what_the_simulators_print_delivers_an_order_and_opens_the_console(
    shells: Callable[[list[str], dict[str, str]], Shell], tmp_path: Path
) -> None:
    uv = shutil.which("uv")
    assert uv is not None, "the walk-through runs `uv run`: uv must be on the PATH"
    deadline = time.monotonic() + DEADLINE_SECONDS
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "TMPDIR": str(tmp_path)}
    pancake_port, supplier_port, bridge_port = free_port(), free_port(), free_port()
    pancake_url = f"http://127.0.0.1:{pancake_port}"
    bridge_url = f"http://127.0.0.1:{bridge_port}"

    # Terminals 1 and 2: the simulators, as the walk-through starts them.
    pancake = shells(
        ["uv", "run", "bridge", "sim", "pancake", "--port", str(pancake_port)]
        + ["--bridge-url", bridge_url],
        env,
    )
    supplier = shells(["uv", "run", "bridge", "sim", "supplier", "--port", str(supplier_port)], env)
    pancake.until(lambda line: line == BANNER_END, "the Pancake simulator's banner", deadline)
    supplier.until(lambda line: line == BANNER_END, "the supplier simulator's banner", deadline)
    pancake_block, supplier_block = block(pancake.seen), block(supplier.seen)
    # Nothing a person would have to fix before it pastes: every command is `uv run bridge`,
    # never iproute2's `bridge`, and the port the bridge listens on is the one Pancake calls.
    pasted = [line for line in pancake_block + supplier_block if not line.startswith("#")]
    assert not [line for line in pasted if re.search(r"(?<!uv run )\bbridge ", line)]
    assert pasted[-1] == "uv run bridge run", "the bridge starts last, in the foreground"
    assert f"export BRIDGE_HOST=127.0.0.1 BRIDGE_PORT={bridge_port}" in pancake_block

    # Terminal 3: both blocks pasted, the Pancake simulator's first; the last line runs the bridge.
    script = tmp_path / "pasted.sh"
    script.write_text("set -e\n" + "\n".join(pancake_block + supplier_block) + "\n")
    terminal = shells(["bash", str(script)], env)
    login = terminal.until(lambda line: line.startswith("console login: "), "a login", deadline)
    user, password = login.removeprefix("console login: ").split(" / ")
    terminal.until(lambda line: line == f"console: {bridge_url}/admin/", "bridge run", deadline)
    wait_for(lambda: httpx.get(f"{bridge_url}/healthz").is_success, "the bridge", deadline)

    # Terminal 4: the order, placed with the line the Pancake simulator printed.
    [place] = [
        line.strip() for line in pancake.seen if "curl -s -X POST" in line and "/orders" in line
    ]
    placed = subprocess.run(
        ["bash", "-c", place], env=env, capture_output=True, text=True, timeout=30, check=True
    )
    order = json.loads(placed.stdout)
    control = f"{pancake_url}/_control/shops/4/orders/{order['order_id']}"

    def delivered() -> list[str]:
        ledger = httpx.get(f"http://127.0.0.1:{supplier_port}/_control/ledger").json()
        items: list[str] = [item for p in ledger["purchases"] for item in p["items"]]
        return items

    def note() -> str:
        return str(httpx.get(control).json()["note"] or "")

    credentials = wait_for(delivered, "the supplier to sell", deadline)
    assert len(credentials) == 1, "one Netflix account bought, once"
    assert credentials[0].startswith("Account: "), credentials
    wait_for(lambda: credentials[0] in note(), "the credentials in the order's note", deadline)

    # The console, with the user the block made: an HTTP login as a browser does it (the
    # session cookie is Secure, which a browser sends to http://127.0.0.1 and httpx does not).
    with httpx.Client(base_url=bridge_url, timeout=30) as browser:
        jar: dict[str, str] = {}

        def send(method: str, path: str, **kwargs: Any) -> httpx.Response:
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())} if jar else {}
            answer = browser.request(method, path, headers=headers, **kwargs)
            for header in answer.headers.get_list("set-cookie"):
                cookie = SimpleCookie()
                cookie.load(header)
                jar.update({name: morsel.value for name, morsel in cookie.items()})
            return answer

        form = send("GET", "/admin/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', form.text)
        assert token is not None, form.text
        answer = send(
            "POST",
            "/admin/login",
            data={"username": user, "password": password, "csrftoken": token.group(1)},
        )
        assert answer.status_code == 303, answer.text
        home = send("GET", answer.headers["location"])
        assert home.status_code == 200
        assert "/admin/logout" in home.text, "the console's own page, logged in"
    assert "no console user yet" not in "\n".join(terminal.seen)
    assert note().count(credentials[0]) == 1

    # Ctrl-C in each terminal (uv answers 130 for a child it stopped on SIGINT).
    assert terminal.stop() in (0, 130)
    assert pancake.stop() in (0, 130)
    assert supplier.stop() in (0, 130)


def test_the_readme_walkthrough_pastes_what_the_simulators_print() -> None:
    """The README's walk-through shows the very lines the simulators print at their default
    ports (what the paste test above runs), so following the README alone works."""
    from bridge.cli.sim import DEFAULT_BRIDGE_URL, order_lines, pancake_block, supplier_block

    # Compared line by line without the indentation that keeps a block inside its list item.
    readme = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()]
    cli = "uv run bridge"
    assert any(line.startswith(f"{cli} sim pancake") for line in readme)
    assert any(line.startswith(f"{cli} sim supplier") for line in readme)
    for shown in (
        pancake_block("http://127.0.0.1:8081", DEFAULT_BRIDGE_URL, "4", cli),
        supplier_block("http://127.0.0.1:8082", "sim", "4", cli),
        order_lines("http://127.0.0.1:8081", "4"),
    ):
        starts = [i for i, line in enumerate(readme) if line == shown[0]]
        assert any(readme[i : i + len(shown)] == shown for i in starts), "\n".join(shown)


@pytest.mark.parametrize(
    ("bridge_url", "listen"),
    [
        ("http://127.0.0.1:27080", ["export BRIDGE_HOST=127.0.0.1 BRIDGE_PORT=27080"]),
        ("http://localhost", ["export BRIDGE_HOST=127.0.0.1 BRIDGE_PORT=80"]),
        ("http://[::1]:27080", ["export BRIDGE_HOST=::1 BRIDGE_PORT=27080"]),
        # TLS ends at a proxy or tunnel in front, which forwards to this machine.
        (
            "https://abc.trycloudflare.com",
            ["export BRIDGE_HOST=127.0.0.1 BRIDGE_PORT=8080  # where your https proxy forwards"],
        ),
    ],
)
def test_the_pancake_block_listens_where_the_bridge_url_says(
    bridge_url: str, listen: list[str]
) -> None:
    from bridge.cli.sim import pancake_block

    lines = pancake_block("http://127.0.0.1:8081", bridge_url, "4", "uv run bridge")
    assert lines[3 : 3 + len(listen)] == listen
    assert f"export BRIDGE_PUBLIC_URL={bridge_url}" in lines


@pytest.mark.parametrize(
    ("bridge_url", "said"),
    [
        (
            "bridge:8080",
            "error: the public URL bridge:8080 must be an absolute http(s) URL, e.g. "
            "https://bridge.example.com\n",
        ),
        # What `shops connect` would refuse, refused before anything is pasted.
        (
            "http://bridge-vm.test:9000",
            "error: the public URL http://bridge-vm.test:9000 is http://: Pancake would send the "
            "webhook secret unencrypted; use https:// (http:// is for this machine only, e.g. "
            "the simulators)\n",
        ),
    ],
)
def test_a_bridge_url_shops_connect_would_refuse_is_refused_before_serving(
    capsys: pytest.CaptureFixture[str], bridge_url: str, said: str
) -> None:
    from tests.cli.test_main import run

    code, out, err = run(capsys, "sim", "pancake", "--port", "0", "--bridge-url", bridge_url)
    assert (code, out, err) == (2, "", said)
