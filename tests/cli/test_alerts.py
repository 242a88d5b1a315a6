"""`bridge alerts test`, `resolve` and `list`, as an operator runs them, against a local fake
of Telegram's Bot API over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.settings import get_settings
from tests.conftest import migrated_sqlite_url
from tests.fake_telegram import CHAT, TOKEN, URL, FakeTelegram, serve

SECRET_KEY = "a-test-secret-key-that-is-long-enough"


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    db = tmp_path / "bridge.db"
    monkeypatch.setenv("BRIDGE_DATABASE_URL", migrated_sqlite_url(tmp_path))
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    monkeypatch.delenv("BRIDGE_ALERT_URLS", raising=False)
    get_settings.cache_clear()
    yield db
    get_settings.cache_clear()


@pytest.fixture
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    with serve(monkeypatch) as fake:
        yield fake


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_alerts_test_sends_one_message_to_each_channel_and_says_which_went(
    cli_env: Path,
    telegram: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = "555555:SECONDBOT"
    monkeypatch.setenv("BRIDGE_ALERT_URLS", f"{URL} tgram://{other}/{CHAT}")
    telegram.failing.add(other)

    code, out, err = run(capsys, "alerts", "test", "--message", "xin chào, operator")

    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[1].split() == ["tgram", "#1", "sent"]
    assert lines[2].split() == ["tgram", "#2", "not", "sent:", "HTTP", "500"]
    assert telegram.texts() == ["<b>pancake-bridge: test</b>\r\nxin chào, operator"]
    for secret in (TOKEN, other):
        assert secret.split(":")[1] not in out + err


def test_alerts_test_fails_when_no_channel_takes_it(
    cli_env: Path,
    telegram: FakeTelegram,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BRIDGE_ALERT_URLS", URL)
    telegram.failing.add(TOKEN)
    code, out, err = run(capsys, "alerts", "test")
    assert code == 1
    assert "not sent: HTTP 500" in out
    assert err.strip() == "error: no channel took the message"
    assert telegram.requests == 1

    monkeypatch.setenv("BRIDGE_ALERT_URLS", "nonsense")
    code, out, err = run(capsys, "alerts", "test")
    assert code == 1
    assert "not sent: not a URL apprise can use" in out


def test_alerts_test_without_channels_says_how_to_set_one(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "alerts", "test")
    assert (code, out) == (1, "")
    assert "BRIDGE_ALERT_URLS is not set" in err
    assert "tgram://BOT_TOKEN/CHAT_ID" in err


def test_alerts_resolve_closes_one_by_hand_and_list_shows_it(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.db import make_engine, session_scope, utcnow
    from workers.alerts.store import raise_alert

    run(capsys, "alerts", "list")  # creates the schema
    engine = make_engine(f"sqlite:///{cli_env}")
    with session_scope(engine) as session:
        raise_alert(session, "cancelled_after_purchase", "4:1001:7", "refund it by hand", utcnow())
    engine.dispose()
    [listed] = run_json(capsys)
    assert (listed["resolved"], listed["next_send_at"] is not None) == (False, True)

    code, out, _ = run(capsys, "alerts", "resolve", str(listed["id"]))
    assert (code, out.strip()) == (0, f"alert {listed['id']}: resolved")
    code, out, _ = run(capsys, "alerts", "resolve", str(listed["id"]))
    assert (code, out.strip()) == (0, f"alert {listed['id']} was not open")
    [listed] = run_json(capsys)
    assert (listed["resolved"], listed["resolution"]) == (True, "resolved by hand")
    code, out, _ = run(capsys, "alerts", "list")
    assert out.splitlines()[1].split()[:5] == [
        "cancelled_after_purchase",
        "4:1001:7",
        str(listed["id"]),
        "1",
        "resolved",
    ]

    code, _, err = run(capsys, "alerts", "resolve", "999")
    assert (code, err.strip()) == (1, "error: alert 999 does not exist")


def run_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    code, out, err = run(capsys, "alerts", "list", "--json")
    assert code == 0, err
    records: list[dict[str, object]] = json.loads(out)
    return records
