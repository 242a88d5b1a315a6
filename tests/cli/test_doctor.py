"""Where the database lives, and `bridge doctor`, as an operator meets them."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.settings import get_settings
from bridge.web.server import ServerThread
from tests.conftest import REDIS_URL, bridge_cli, clean_environment, require_service

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = secrets.token_urlsafe(32)


PUBLIC_URL = "https://bridge.example.com"


@pytest.fixture
def pancake(monkeypatch: pytest.MonkeyPatch) -> Iterator[PancakeSimulator]:
    """A Pancake whose shop 4 (key pk-1) sends its webhooks here with the secret "w" * 24, as
    the shop these tests add; the doctor checks both."""
    with PancakeSimulator() as sim, ServerThread(sim.app) as server:
        sim.add_shop("4", api_key="pk-1")
        sim.configure_webhook(
            "4", url=f"{PUBLIC_URL}/webhooks/pancake/4", headers={"X-Bridge-Secret": "w" * 24}
        )
        monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", server.url + "/api/v1")
        monkeypatch.setenv("BRIDGE_PUBLIC_URL", PUBLIC_URL)
        yield sim


@pytest.fixture
def data_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pancake: PancakeSimulator
) -> Iterator[Path]:
    """No BRIDGE_DATABASE_URL: the per-user data directory (XDG_DATA_HOME) is a fresh folder."""
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.delenv("BRIDGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    monkeypatch.delenv("BRIDGE_SECRET_KEY_PREVIOUS", raising=False)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    get_settings.cache_clear()
    yield home / "pancake-bridge"
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, object]]:
    code, out, _ = run(capsys, "doctor", "--json")
    report: dict[str, object] = json.loads(out)
    return code, report


def checks(report: dict[str, object]) -> dict[str, tuple[bool, str]]:
    listed = report["checks"]
    assert isinstance(listed, list)
    return {c["check"]: (c["ok"], c["detail"]) for c in listed}


def test_the_default_database_lives_in_the_user_data_directory_not_the_working_one(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not data_home.exists()
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0
    assert str(data_home / "bridge.db") in out
    assert (data_home / "bridge.db").is_file()
    assert list(Path.cwd().iterdir()) == [], "nothing lands in the working directory"
    assert (
        run(
            capsys,
            "shops",
            "add",
            "4",
            "--api-key",
            "pk-1",
            "--offline",
            "--webhook-secret",
            "w" * 24,
        )[0]
        == 0
    )

    os.chdir(data_home.parent.parent)  # another directory: the same database
    code, out, _ = run(capsys, "shops", "list", "--json")
    assert code == 0
    assert [shop["shop_id"] for shop in json.loads(out)] == ["4"]


def test_doctor_reports_a_sound_installation_and_counts_shops_and_suppliers(
    data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = doctor(capsys)
    assert code == 1, "no database yet"
    assert report["ok"] is False
    assert not checks(report)["database"][0]
    assert not (data_home / "bridge.db").exists(), "the doctor creates nothing"

    run(capsys, "shops", "add", "4", "--api-key", "pk-1", "--offline", "--webhook-secret", "w" * 24)
    code, report = doctor(capsys)
    assert code == 0, report
    assert report["database"] == str(data_home / "bridge.db")
    found = checks(report)
    assert found["database"] == (True, "reachable")
    assert found["schema"][0]
    assert found["redis"] == (
        True,
        "not configured: the embedded broker (web and workers in one process)",
    )
    assert found["secret key"][0]
    assert found["public url"] == (True, PUBLIC_URL)
    assert found["shop 4 key"] == (True, "accepted (1 warehouse(s))")
    # Connected by hand with the header only (as before URL tokens): it may work, it may not.
    assert found["shop 4 webhook"] == (
        True,
        f"points here ({PUBLIC_URL}/webhooks/pancake/4), without a token in the URL: its "
        "webhooks get in only if Pancake sends the X-Bridge-Secret header, which some shops' "
        "does not; run `bridge shops connect 4` to add one",
    )
    assert (report["shops"], report["suppliers"]) == (1, 0)

    code, out, _ = run(capsys, "doctor")
    assert code == 0
    assert out.startswith(f"database: {data_home / 'bridge.db'}\n")
    assert "shops: 1  suppliers: 0" in out


def test_doctor_names_each_problem_and_exits_non_zero(
    data_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run(capsys, "shops", "add", "4", "--api-key", "pk-1", "--offline", "--webhook-secret", "w" * 24)
    from bridge.runtime.wiring import Runtime
    from bridge.settings import Settings

    Runtime(Settings()).stop()  # the first start stores the key check

    monkeypatch.setenv("BRIDGE_SECRET_KEY", secrets.token_urlsafe(32))
    code, report = doctor(capsys)
    assert code == 1
    assert checks(report)["secret key"][0] is False
    assert "does not open this database's secrets" in checks(report)["secret key"][1]

    monkeypatch.setenv("BRIDGE_SECRET_KEY_PREVIOUS", SECRET_KEY)
    code, report = doctor(capsys)
    assert code == 0
    assert "BRIDGE_SECRET_KEY_PREVIOUS" in checks(report)["secret key"][1]
    assert run(capsys, "secrets", "rotate")[0] == 0
    monkeypatch.delenv("BRIDGE_SECRET_KEY_PREVIOUS")
    code, report = doctor(capsys)
    assert checks(report)["secret key"] == (True, "proves against the stored check")
    # A webhook secret is kept as a digest under the key: it is re-entered after a rotation
    # (docs/security.md, "The secret key"); until then the doctor sees what Pancake would refuse.
    assert code == 1
    assert checks(report)["shop 4 webhook"] == (
        False,
        "points here, but its X-Bridge-Secret is not shop 4's stored secret: run `bridge shops "
        "connect 4 --new-secret`, or store the one Pancake sends with `bridge shops add 4 "
        "--webhook-secret -`",
    )
    run(capsys, "shops", "add", "4", "--webhook-secret", "w" * 24)
    code, report = doctor(capsys)
    assert (code, checks(report)["shop 4 webhook"][0]) == (0, True)

    monkeypatch.setenv("BRIDGE_SECRET_KEY", "changeme")
    code, report = doctor(capsys)
    assert code == 1
    assert "placeholder" in checks(report)["secret key"][1]


def test_doctor_sees_redis_and_never_prints_its_password(
    data_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    run(capsys, "db", "upgrade")
    monkeypatch.setenv("BRIDGE_REDIS_URL", REDIS_URL)
    code, report = doctor(capsys)
    assert (code, checks(report)["redis"]) == (0, (True, f"{REDIS_URL} reachable"))

    monkeypatch.setenv("BRIDGE_REDIS_URL", "redis://:hunter2-secret@127.0.0.1:1/0")
    code, out, _ = run(capsys, "doctor")
    assert code == 1
    assert "redis://:***@127.0.0.1:1/0 not reachable" in out
    assert "hunter2" not in out


def test_doctor_on_postgresql_hides_the_password(
    postgres_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust authentication: the password is accepted and ignored, so it can be a marker.
    with_password = postgres_url.replace("postgres@", "postgres:hunter2-secret@")
    monkeypatch.setenv("BRIDGE_DATABASE_URL", with_password)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    code, out, _ = run(capsys, "doctor")
    assert code == 1, "not migrated yet"
    assert "run `bridge db upgrade`" in out
    assert run(capsys, "db", "upgrade")[0] == 0
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 0, out
    assert json.loads(out)["database"] == with_password.replace("hunter2-secret", "***")
    assert "hunter2" not in out

    monkeypatch.setenv("BRIDGE_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    code, report = doctor(capsys)
    assert code == 1
    assert checks(report)["database"][1].startswith("not reachable: ")


def test_a_missing_database_folder_is_one_sentence_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "no-such-folder" / "bridge.db"
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{missing}")
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    for argv in (["db", "upgrade"], ["shops", "list"], ["mappings", "list"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert err == (
            f"error: the folder of the SQLite database {missing} does not exist: create "
            f"{missing.parent} or point BRIDGE_DATABASE_URL elsewhere.\n"
        )
        assert out == ""
    assert not missing.parent.exists(), "a folder that was named explicitly is not made up"


def test_the_worker_prints_where_its_database_is_and_never_a_password(
    postgres_url: str, tmp_path: Path
) -> None:
    with_password = postgres_url.replace("postgres@", "postgres:hunter2-secret@")
    env = clean_environment()
    env.update({"BRIDGE_DATABASE_URL": with_password, "BRIDGE_SECRET_KEY": SECRET_KEY})
    worker = subprocess.Popen(
        bridge_cli("worker"),
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    try:
        first = worker.stderr.readline()
        assert worker.stderr.readline() == "bridge worker running; Ctrl-C to stop\n"
    finally:
        worker.send_signal(signal.SIGINT)
        rest = worker.communicate(timeout=60)[1]
    shown = with_password.replace("hunter2-secret", "***")
    assert first == f"bridge worker: database {shown}\n"
    assert "hunter2" not in first + rest
    assert worker.returncode == 0


def test_an_unparseable_database_url_is_a_finding_not_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "not a url")
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    code, report = doctor(capsys)
    assert code == 1
    assert report["database"] == "(an unreadable BRIDGE_DATABASE_URL)"
    ok, detail = checks(report)["database"]
    assert not ok
    assert detail.startswith("BRIDGE_DATABASE_URL is not a database URL")
