"""`bridge demo` keeps nothing: its folder (database and all) is gone after every way out."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import bridge_cli, clean_environment

ROOT = Path(__file__).resolve().parents[1]


def demo(tmp: Path, *argv: str) -> subprocess.Popen[str]:
    env = clean_environment()
    env["TMPDIR"] = str(tmp)  # where tempfile puts the demo's folder
    env["PYTHONUNBUFFERED"] = "1"  # each line reaches the test as it is printed
    return subprocess.Popen(
        bridge_cli("demo", *argv),
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def data_folder(first_line: str) -> Path:
    # "bridge:   http://127.0.0.1:…  (data in /tmp/…/bridge-demo-xyz, removed on exit)"
    return Path(first_line.split("(data in ", 1)[1].split(",", 1)[0])


def test_the_demo_removes_its_folder_when_it_is_done(tmp_path: Path) -> None:
    process = demo(tmp_path, "--once")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, out + err
    folder = data_folder(out.splitlines()[0])
    assert folder.parent == tmp_path
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_demo_removes_its_folder_when_stopped(tmp_path: Path, stop: signal.Signals) -> None:
    process = demo(tmp_path)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("The bridge keeps running"):
                break
        folder = data_folder(lines[0])
        assert (folder / "bridge.db").is_file(), "the demo's rows are there while it runs"
    finally:
        process.send_signal(stop)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, "".join(lines) + out + err
    assert "Traceback" not in err
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []
