"""Worker processes of the fault-injection world: started, watched, signalled and reaped.

``bridge worker`` needs ~3 s of imports on a small CI machine, while the SIGKILL test kills a worker
every 0.3-0.8 s. So by default workers are forked from a *zygote*: one process per test session
that imported the bridge once and forks a fresh child per worker; the child sets its environment
and runs exactly what ``python -m bridge.cli worker`` runs (``bridge.cli.main``). Each worker is
still a separate OS process with its own connections and threads, killed with a real SIGKILL.
``launch="exec"`` starts ``python -m bridge.cli worker`` itself instead (``exec_worker``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from tests.conftest import bridge_cli, clean_environment
from tests.faults.waiting import poll

ROOT = Path(__file__).resolve().parents[2]
WORKER_READY = "bridge worker running"


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"({path.name}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


# -- the zygote ---------------------------------------------------------------------------------


def zygote_main() -> None:
    """Entry point of the zygote process: import the bridge once, then fork workers on request.

    Protocol on stdin/stdout, one JSON line per request ``{"env": {...}, "log": path}``, answered
    with the child's pid. Children are reaped by the kernel (SIGCHLD ignored) and die with the
    zygote (PR_SET_PDEATHSIG); the zygote exits when its stdin closes.
    """
    import bridge.cli
    import bridge.runtime.wiring  # noqa: F401 - what `bridge worker` imports lazily, paid once here

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    me = os.getpid()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while line := sys.stdin.readline():
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _worker_child(me, request, bridge.cli.main)
        sys.stdout.write(f"{pid}\n")
        sys.stdout.flush()


def _worker_child(
    zygote_pid: int, request: Mapping[str, Any], main: Callable[[Sequence[str]], int]
) -> NoReturn:
    code = 70
    try:
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
        if os.getppid() != zygote_pid:
            os._exit(1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        log = os.open(str(request["log"]), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.clear()
        os.environ.update(request["env"])
        code = main(["worker"])
    except BaseException:  # noqa: BLE001 - a child must never return into the zygote's loop
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class Zygote:
    """The test side of ``zygote_main``: one per test session."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self._lock = threading.Lock()
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from tests.faults.processes import zygote_main; zygote_main()",
                ],
                cwd=ROOT,
                env=clean_environment(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        try:
            self._expect_line(b"ready\n", timeout=60)
        except BaseException:
            self.close()
            raise

    def _expect_line(self, wanted: bytes, timeout: float) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not got or got[0] != wanted:
            raise RuntimeError(f"the worker zygote did not start: {tail(self.log_path)}")

    def spawn(self, env: Mapping[str, str], log_path: Path) -> int:
        with self._lock:
            assert self._proc.stdin is not None
            assert self._proc.stdout is not None
            request = json.dumps({"env": dict(env), "log": str(log_path)}) + "\n"
            self._proc.stdin.write(request.encode())
            self._proc.stdin.flush()
            answer = self._proc.stdout.readline()
        if not answer.strip():
            raise RuntimeError(f"the worker zygote died: {tail(self.log_path)}")
        return int(answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


# -- one worker ---------------------------------------------------------------------------------


def exec_worker(env: Mapping[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``python -m bridge.cli worker`` itself (no zygote), its output appended to the log."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            bridge_cli("worker"),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@dataclass
class WorkerProc:
    index: int
    generation: int
    pid: int
    log_path: Path
    started_at: float
    popen: subprocess.Popen[bytes] | None = None
    killed_by_us: bool = False
    _ready: bool = False

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return _pid_alive(self.pid)

    def ready(self) -> bool:
        if not self._ready:
            with contextlib.suppress(OSError):
                self._ready = WORKER_READY in self.log_path.read_text(errors="replace")
        return self._ready

    def exit_code(self) -> int | None:
        return self.popen.poll() if self.popen is not None else None

    def send(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if self.popen is not None:
                self.popen.send_signal(sig)
            else:
                os.kill(self.pid, sig)

    def wait_gone(self, timeout: float) -> bool:
        if self.popen is not None:
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                return False
            return True
        return poll(lambda: not _pid_alive(self.pid), timeout, interval=0.01)
