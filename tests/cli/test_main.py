"""The `bridge` command line, as an operator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.cli import main
from bridge.pancake.models import DEFAULT_TRIGGER_STATUSES
from bridge.settings import get_settings
from bridge.states import FulfilmentState
from tests.conftest import bridge_cli, clean_environment, migrated_sqlite_url

SECRET_KEY = "a-test-secret-key-that-is-long-enough"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "bridge.db"
    monkeypatch.setenv("BRIDGE_DATABASE_URL", migrated_sqlite_url(tmp_path))
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
            "--offline",
            "--webhook-secret",
            "w" * 20,
            "--trigger-status",
            "1",
            "--trigger-status",
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
            "--offline",  # caoshop.net is real: no test reaches it
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
        "--offline",  # caoshop.net is real: no test reaches it
    )
    assert (code, out.strip()) == (
        0,
        "choice 1 added: shop 4 variation v-1 -> caoshop plan 319 (not checked: --offline)",
    )

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
        (
            ["shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", "short"],
            "at least 16",
        ),
        (
            ["shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", "w" * 20]
            + ["--trigger-status", "1,6"],
            "the sale is off",
        ),
    ],
)
def test_bad_configuration_is_refused_with_a_reason(
    cli_env: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err


def test_bad_fields_json_is_refused(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", "w" * 20)
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
        "--offline",
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
            capsys, "shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", "w" * 20
        )
        assert code == 2
        assert "BRIDGE_SECRET_KEY" in err


def seed_two_lines(capsys: pytest.CaptureFixture[str], db: Path) -> None:
    """An order with an annotated line (1) and one that needs attention (2), with an attempt."""
    from sqlmodel import Session

    from bridge.db import make_engine
    from bridge.models import Fulfilment, Order, PurchaseAttempt
    from bridge.states import FulfilmentState

    run(capsys, "shops", "list")  # creates the schema
    engine = make_engine(f"sqlite:///{db}")
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


@pytest.mark.parametrize(
    ("variable", "value"),
    [("BRIDGE_PORT", "eighty"), ("BRIDGE_LEASE_SECONDS", "1")],
)
def test_unusable_settings_are_refused_with_their_name(
    cli_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    code, out, err = run(capsys, "shops", "list")
    assert code == 2
    assert out == ""
    assert err.startswith("error: ")
    assert variable in err
    assert "Traceback" not in err


def test_fulfilments_list_and_show(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed_two_lines(capsys, cli_env)

    code, out, _ = run(capsys, "fulfilments", "list", "--state", "needs_attention")
    assert code == 0
    [_, row] = out.strip().splitlines()
    assert "INSUFFICIENT_BALANCE" in row
    assert row.split()[0] == "2"
    code, out, _ = run(capsys, "fulfilments", "show", "2")
    assert code == 0
    assert "Needs a person" in out
    assert "Refused by the supplier" in out
    assert "credentials_enc" not in out
    assert run(capsys, "fulfilments", "show", "99")[0] == 1


def test_the_demo_runs_end_to_end_and_exits_zero(tmp_path: Path) -> None:
    env = clean_environment()
    result = subprocess.run(
        bridge_cli("demo", "--once"),
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


# -- the command line itself: JSON, choices, option values, version, pipes, help ---------------


def configure_one_of_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        run(
            capsys, "shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", "w" * 20
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
            "supplier-key-0123456789",
            "--api-secret",
            "supplier-secret-0123456789",
            "--offline",
        )[0]
        == 0
    )
    assert (
        run(
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
            "--fields",
            '{"email": "{order.bill_email}"}',
            "--offline",
        )[0]
        == 0
    )


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code, out, _ = run(capsys, *argv, "--json")
    assert code == 0
    return json.loads(out)  # stdout is the JSON document and nothing else


def test_list_commands_print_json_rows_without_secrets(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_one_of_each(capsys)
    seed_two_lines(capsys, cli_env)

    [shop] = run_json(capsys, "shops", "list")
    assert (shop["shop_id"], shop["trigger_statuses"]) == ("4", DEFAULT_TRIGGER_STATUSES)
    assert not {"api_key_enc", "webhook_secret_digest"} & set(shop)
    [supplier] = run_json(capsys, "suppliers", "list")
    assert (supplier["name"], supplier["enabled"]) == ("caoshop", True)
    assert not {"api_key_enc", "api_secret_enc"} & set(supplier)
    [mapping] = run_json(capsys, "mappings", "list", "--shop", "4")
    assert mapping["fields_template"] == {"email": "{order.bill_email}"}
    assert run_json(capsys, "mappings", "list", "--shop", "nope") == []

    lines = run_json(capsys, "fulfilments", "list")
    assert isinstance(lines, list)
    assert [line["id"] for line in lines] == [2, 1], "newest first"
    assert not any("credentials_enc" in line or "fields_enc" in line for line in lines)
    [attention] = run_json(capsys, "fulfilments", "list", "--state", "needs_attention")
    assert attention["reason"].startswith("INSUFFICIENT_BALANCE")

    detail = run_json(capsys, "fulfilments", "show", "2")
    assert isinstance(detail, dict)
    assert (detail["id"], detail["state"]) == (2, "needs_attention")
    assert "stored (encrypted)" in detail["credentials"]
    assert "credentials_enc" not in detail
    [attempt] = detail["attempts"]
    assert (attempt["outcome"], attempt["error_code"]) == ("refused", "INSUFFICIENT_BALANCE")
    datetime.fromisoformat(attempt["started_at"])  # timestamps are ISO 8601 strings

    assert run_json(capsys, "alerts", "list") == []


def test_alerts_list_shows_the_newest_first(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.db import make_engine, session_scope, utcnow
    from workers.alerts.store import raise_alert

    run(capsys, "alerts", "list")  # creates the schema
    engine = make_engine(f"sqlite:///{cli_env}")
    now = utcnow()
    with session_scope(engine) as session:
        raise_alert(session, "insufficient_balance", "old", "top up old", now - timedelta(hours=1))
        raise_alert(session, "insufficient_balance", "new", "top up new", now)
    engine.dispose()

    alerts = run_json(capsys, "alerts", "list")
    assert isinstance(alerts, list)
    assert [a["subject"] for a in alerts] == ["new", "old"]
    code, out, _ = run(capsys, "alerts", "list")
    assert code == 0
    [_, first, second] = out.strip().splitlines()
    assert (first.split()[1], second.split()[1]) == ("new", "old")


def test_state_accepts_only_fulfilment_states(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "fulfilments", "list", "--state", "stuck")
    assert code == 2
    assert "stuck" in err
    assert all(state.value in err for state in FulfilmentState), "the choices are listed"
    for state in FulfilmentState:
        assert run(capsys, "fulfilments", "list", "--state", state.value)[0] == 0


def test_option_values_may_start_with_a_dash(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.db import make_engine, session_scope
    from bridge.pancake.models import PancakeShop
    from bridge.secrets import SecretBox

    secret = "-abcdefghijklmnopqrst"
    code, out, err = run(
        capsys, "shops", "add", "4", "--api-key", "k", "--offline", "--webhook-secret", secret
    )
    assert (code, err) == (0, "")
    assert "shop 4 saved" in out
    engine = make_engine(f"sqlite:///{cli_env}")
    with session_scope(engine) as session:
        shop = session.get(PancakeShop, "4")
        assert shop is not None
        assert shop.webhook_secret_digest == SecretBox(SECRET_KEY).digest(secret)
    engine.dispose()


@pytest.mark.parametrize(
    "statuses", [["--trigger-status", "1,20"], ["--trigger-status", "1", "--trigger-status", "20"]]
)
def test_trigger_statuses_repeat_or_take_commas(
    cli_env: Path, capsys: pytest.CaptureFixture[str], statuses: list[str]
) -> None:
    argv = [
        "shops",
        "add",
        "4",
        "--api-key",
        "k",
        "--offline",
        "--webhook-secret",
        "w" * 20,
        *statuses,
    ]
    assert run(capsys, *argv)[0] == 0
    [shop] = run_json(capsys, "shops", "list")
    assert shop["trigger_statuses"] == [1, 20]
    code, _, err = run(capsys, *argv[:-1], "1,confirmed")
    assert code == 2
    assert "confirmed" in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    code, out, _ = run(capsys, "--version")
    assert (code, out.strip()) == (0, f"pancake-bridge {version('pancake-bridge')}")


def test_errors_map_to_exit_statuses_in_one_place() -> None:
    from bridge.cli.exits import exit_code_for
    from bridge.errors import ConfigError, Failed, NotFound, Refused, SettingsError

    for refused in (ConfigError("x"), SettingsError("x"), Refused("x")):
        assert exit_code_for(refused) == 2
    for missing in (NotFound("x"), KeyError("x"), Failed("x")):
        assert exit_code_for(missing) == 1
    assert exit_code_for(RuntimeError("a bug")) is None, "a bug keeps its traceback"


def test_a_closed_pipe_is_not_an_error(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sqlmodel import Session

    import bridge.supplier.models  # noqa: F401  (the suppliers table the mappings refer to)
    from bridge.db import make_engine
    from mappings.models import MappingChoice

    configure_one_of_each(capsys)
    engine = make_engine(f"sqlite:///{cli_env}")
    with Session(engine) as session:
        for i in range(3000):  # far more than a pipe buffer holds
            session.add(
                MappingChoice(
                    shop_id="4",
                    variation_id=f"variation-{i:05d}",
                    supplier_name="caoshop",
                    plan_id=1000 + i,
                    fields_template={"note": "x" * 80},
                )
            )
        session.commit()
    engine.dispose()

    # Block-buffered stdout, as in a shell: with PYTHONUNBUFFERED one large write to a pipe
    # that closes part-way fails silently instead of raising BrokenPipeError.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    for extra in ([], ["--json"]):
        reader = subprocess.Popen(
            bridge_cli("mappings", "list", *extra),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert reader.stdout is not None
        assert reader.stderr is not None
        first = reader.stdout.readline()  # `| head -1`
        reader.stdout.close()
        err = reader.stderr.read()
        reader.stderr.close()
        assert reader.wait(timeout=60) == 0, err
        assert first.split()[:2] in (["id", "shop"], ["["])
        assert "Traceback" not in err
        assert "Error" not in err


def command_paths() -> list[list[str]]:
    """Every command and group of the CLI, as the words that name it."""
    import typer

    from bridge.cli import app

    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        children: dict[str, object] = getattr(command, "commands", {})
        for name, child in children.items():
            walk(child, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def test_every_command_has_a_summary_an_example_and_helped_options() -> None:
    import typer

    from bridge.cli import app

    root = typer.main.get_command(app)
    paths = command_paths()
    groups = [path for path in paths if len(path) == 1 and path != ["db"]]
    assert len(groups) >= 10, "the commands and groups are all found"
    for path in paths:
        command: object = root
        for word in path:
            command = getattr(command, "commands", {})[word]
        # The summary is what a group's --help lists; it must fit there whole.
        summary = getattr(command, "get_short_help_str")(limit=60)  # noqa: B009
        assert summary, (path, "has no summary")
        assert not summary.endswith("..."), (path, "summary is cut in the listing")
        for param in getattr(command, "params", []):
            if "--help" not in getattr(param, "opts", []):
                assert getattr(param, "help", None), (path, param.name, "has no help text")


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "bridge")
def test_help_of_every_command_shows_an_example(
    capsys: pytest.CaptureFixture[str], path: list[str]
) -> None:
    code, out, _ = run(capsys, *path, "--help")
    assert code == 0
    [_, example] = out.split("Example:", 1)
    assert " ".join(["pancake-bridge", *path]) in example, "the example runs this command"


def test_help_needs_no_settings_and_imports_nothing_heavy() -> None:
    heavy = (
        "sqlalchemy",
        "sqlmodel",
        "pydantic",
        "pydantic_settings",
        "alembic",
        "redis",
        "dramatiq",
        "httpx",
        "uvicorn",
        "starlette",
        "cryptography",
        "rich",
        "bridge.settings",
        "bridge.db",
        "bridge.models",
    )
    probe = (
        "import sys; from bridge.cli import main; code = main(['--help']); "
        f"print(code, [m for m in {heavy!r} if m in sys.modules])"
    )
    env = clean_environment()
    env["BRIDGE_LEASE_SECONDS"] = "not a number"  # settings that would not even load
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip().splitlines()[-1] == "0 []", result.stderr
