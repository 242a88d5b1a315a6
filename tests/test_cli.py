"""The `bridge` command line, as an operator uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.settings import get_settings

SECRET_KEY = "a-test-secret-key-that-is-long-enough"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "bridge.db"
    monkeypatch.setenv("BRIDGE_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_configure_a_shop_a_supplier_and_mappings(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, secret = "sk_live_a1b2c3d4" + "9" * 24, "sk_secret_a1b2c3d4" + "9" * 56
    assert (
        run(
            capsys,
            "shops",
            "add",
            "4",
            "--api-key",
            "pk-123",
            "--webhook-secret",
            "w" * 20,
            "--trigger-status",
            "1",
            "20",
        )[0]
        == 0
    )
    assert (
        run(
            capsys,
            "suppliers",
            "add",
            "caoshop",
            "--base-url",
            "https://caoshop.net/api/v1",
            "--api-key",
            key,
            "--api-secret",
            secret,
        )[0]
        == 0
    )
    code, out, _ = run(
        capsys,
        "mappings",
        "add",
        "--shop",
        "4",
        "--variation",
        "v-1",
        "--supplier",
        "caoshop",
        "--plan",
        "319",
        "--units",
        "2",
        "--fields",
        '{"email": "{order.bill_email}"}',
    )
    assert (code, out.strip()) == (0, "mapping 1 saved")

    code, out, _ = run(capsys, "mappings", "list")
    [header, row] = out.strip().splitlines()
    assert header.split()[:6] == ["id", "shop", "variation", "supplier", "plan", "units"]
    assert row.split()[:7] == ["1", "4", "v-1", "caoshop", "319", "2", "0"]
    assert '{"email": "{order.bill_email}"}' in row
    code, out, _ = run(capsys, "shops", "list")
    assert "1,20" in out
    code, out, _ = run(capsys, "suppliers", "list")
    assert "https://caoshop.net/api/v1" in out
    assert key not in out
    assert secret not in out
    assert key.encode() not in cli_env.read_bytes(), "API keys are encrypted at rest"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "mappings",
                "add",
                "--shop",
                "9",
                "--variation",
                "v",
                "--supplier",
                "x",
                "--plan",
                "1",
            ],
            "unknown shop 9",
        ),
        (
            [
                "suppliers",
                "add",
                "x",
                "--base-url",
                "caoshop.net",
                "--api-key",
                "k",
                "--api-secret",
                "s",
            ],
            "base URL",
        ),
        (["shops", "add", "4", "--api-key", "k", "--webhook-secret", "short"], "at least 16"),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_bad_fields_json_is_refused(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "shops", "add", "4", "--api-key", "k", "--webhook-secret", "w" * 20)
    run(
        capsys,
        "suppliers",
        "add",
        "s",
        "--base-url",
        "http://x/api/v1",
        "--api-key",
        "k",
        "--api-secret",
        "s",
    )
    for fields in ("{not json", '["a list"]', '{"nested": {"a": 1}}'):
        code, _, err = run(
            capsys,
            "mappings",
            "add",
            "--shop",
            "4",
            "--variation",
            "v",
            "--supplier",
            "s",
            "--plan",
            "1",
            "--fields",
            fields,
        )
        assert code == 2
        assert "--fields" in err


def test_commands_that_touch_secrets_require_a_real_secret_key(
    cli_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for value in (None, "changeme", "short"):
        if value is None:
            monkeypatch.delenv("BRIDGE_SECRET_KEY")
        else:
            monkeypatch.setenv("BRIDGE_SECRET_KEY", value)
        get_settings.cache_clear()
        code, _, err = run(
            capsys, "shops", "add", "4", "--api-key", "k", "--webhook-secret", "w" * 20
        )
        assert code == 2
        assert "BRIDGE_SECRET_KEY" in err


def test_fulfilments_list_and_show(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlmodel import Session

    from bridge.db import make_engine
    from bridge.models import Fulfilment, Order, PurchaseAttempt
    from bridge.states import FulfilmentState

    run(capsys, "shops", "list")  # creates the schema
    engine = make_engine(f"sqlite:///{cli_env}")
    with Session(engine) as session:
        order = Order(shop_id="4", order_id="1418")
        session.add(order)
        session.flush()
        assert order.id is not None
        for key, state, reason in [
            ("a", FulfilmentState.ANNOTATED, None),
            (
                "b",
                FulfilmentState.NEEDS_ATTENTION,
                "INSUFFICIENT_BALANCE: supplier caoshop plan 319",
            ),
        ]:
            session.add(
                Fulfilment(
                    order_pk=order.id,
                    shop_id="4",
                    order_id="1418",
                    line_key=key,
                    quantity=1,
                    state=state,
                    reason=reason,
                    credentials_enc="x",
                )
            )
        session.flush()
        session.add(
            PurchaseAttempt(
                fulfilment_id=2,
                supplier_name="caoshop",
                plan_id=319,
                quantity=1,
                outcome="refused",
                error_code="INSUFFICIENT_BALANCE",
            )
        )
        session.commit()
    engine.dispose()

    code, out, _ = run(capsys, "fulfilments", "list", "--state", "needs_attention")
    assert code == 0
    [_, row] = out.strip().splitlines()
    assert "INSUFFICIENT_BALANCE" in row
    assert row.split()[0] == "2"
    code, out, _ = run(capsys, "fulfilments", "show", "2")
    assert code == 0
    assert "needs_attention" in out
    assert "refused" in out
    assert "credentials_enc" not in out
    assert run(capsys, "fulfilments", "show", "99")[0] == 1


def test_the_demo_runs_end_to_end_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bridge.cli", "demo", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "placed and confirmed" in out
    assert out.count(": annotated") == 2
    assert "trans_id PO" in out
    assert "==== pancake-bridge #1 ====" in out
    assert "Khách cần gấp trước 20h" in out, "the staff note is kept"
    assert "stock sync: Pancake now sells 23 of var-netflix-1m" in out
    assert list(tmp_path.iterdir()) == [], "the demo leaves the working directory clean"


def test_retry_and_resend_are_safe_to_run_twice(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlmodel import Session

    from bridge.db import make_engine
    from bridge.models import Fulfilment, Order
    from bridge.states import FulfilmentState

    run(capsys, "shops", "list")  # creates the schema
    engine = make_engine(f"sqlite:///{cli_env}")
    with Session(engine) as session:
        order = Order(shop_id="4", order_id="1418")
        session.add(order)
        session.flush()
        assert order.id is not None
        session.add(
            Fulfilment(
                order_pk=order.id,
                shop_id="4",
                order_id="1418",
                line_key="a",
                quantity=1,
                state=FulfilmentState.NEEDS_ATTENTION,
                reason="INSUFFICIENT_BALANCE: x",
            )
        )
        session.commit()

    code, first, _ = run(capsys, "fulfilments", "retry", "1")
    assert (code, "pending again" in first) == (0, True)
    code, second, _ = run(capsys, "fulfilments", "retry", "1")
    assert (code, "nothing to retry" in second) == (0, True)
    with Session(engine) as session:
        line = session.get(Fulfilment, 1)
        assert line is not None
        assert line.state == FulfilmentState.PENDING
        assert line.retry_from is not None
    engine.dispose()
    code, _, err = run(capsys, "fulfilments", "resend", "1")
    assert code == 2
    assert "no stored credentials" in err
    assert run(capsys, "fulfilments", "retry", "99")[0] == 1
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0
    assert "(none)" in out
