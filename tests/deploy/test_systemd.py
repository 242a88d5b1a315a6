"""deploy/systemd: each unit passes ``systemd-analyze verify`` (with the install path pointed at
this checkout's environment, since /opt/pancake-bridge does not exist here), with no warning."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
INSTALLED = "/opt/pancake-bridge/.venv/bin/bridge"


def verify(directory: Path, unit: str) -> subprocess.CompletedProcess[str]:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is needed: apt-get install -y systemd (.ci/run does)")
    return subprocess.run(
        [analyze, "verify", str(directory / unit)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """The units as they would be installed, the bridge being this checkout's."""
    here = str(Path(sys.prefix) / "bin" / "bridge")
    for unit in UNITS.glob("*.service"):
        text = unit.read_text()
        assert INSTALLED in text, unit.name
        (tmp_path / unit.name).write_text(text.replace(INSTALLED, here))
    shutil.copy(
        tmp_path / "pancake-bridge-worker@.service", tmp_path / "pancake-bridge-worker@1.service"
    )
    return tmp_path


@pytest.mark.parametrize(
    "unit",
    [
        "pancake-bridge-migrate.service",
        "pancake-bridge-web.service",
        "pancake-bridge-worker@1.service",
    ],
)
def test_the_unit_verifies_cleanly(installed: Path, unit: str) -> None:
    checked = verify(installed, unit)
    assert checked.returncode == 0, checked.stderr
    assert [line for line in checked.stderr.splitlines() if "pancake-bridge" in line] == []


def test_verify_would_see_a_mistake(installed: Path) -> None:
    """The check above can fail: a misspelt setting is reported."""
    unit = installed / "pancake-bridge-web.service"
    unit.write_text(unit.read_text().replace("Restart=always", "Restart=sometimes"))
    assert "restart specifier" in verify(installed, unit.name).stderr


def test_web_and_workers_wait_for_the_migrations() -> None:
    for name in ("pancake-bridge-web.service", "pancake-bridge-worker@.service"):
        text = (UNITS / name).read_text()
        assert "Requires=pancake-bridge-migrate.service" in text, name
        assert "pancake-bridge-migrate.service" in text.split("After=", 1)[1].splitlines()[0]
