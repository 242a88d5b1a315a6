"""How the commands the CLI prints start the program: never the bare `bridge` (iproute2's)."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import pytest

from bridge.cli.invocation import checkout, program

ROOT = Path(__file__).resolve().parents[2]


def test_from_the_checkout_it_is_uv_run_and_from_elsewhere_uv_run_with_the_project(
    tmp_path: Path,
) -> None:
    if shutil.which("uv") is None:
        pytest.fail("uv is not on the PATH (the walk-through runs `uv run`)")
    assert checkout() == ROOT
    assert program(ROOT) == "uv run bridge"
    assert program(ROOT / "bridge" / "cli") == "uv run bridge"
    assert program(tmp_path) == f"uv run --project {shlex.quote(str(ROOT))} bridge"


def test_without_uv_it_is_the_installed_name_or_the_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    venv_bin = Path(sys.executable).parent
    # This environment's own bin folder, without uv: the name pip and uv install.
    monkeypatch.setenv("PATH", str(venv_bin))
    if shutil.which("uv") is not None:
        pytest.skip(f"uv is installed in {venv_bin} itself")
    assert program(ROOT) == "pancake-bridge"
    # Nothing on the PATH: this interpreter, which runs wherever it is.
    monkeypatch.setenv("PATH", str(tmp_path))
    assert program(ROOT) == f"{shlex.quote(sys.executable)} -m bridge.cli"
