"""`bridge stock ...` as an operator runs it, against the simulated world."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bridge.cli import main, output
from bridge.cli.output import SyncProgress
from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.pancake.models import PancakeShop
from bridge.settings import get_settings
from mappings.models import MappingChoice
from tests.conftest import fast_settings
from tests.e2e.world import CHATGPT, NETFLIX, SPOTIFY, build_world
from tests.workers.stock.conftest import SECRET_KEY, STOCK_SETTINGS, pushes, quantity
from workers.stock.models import StockLevel, StockSyncRun


@pytest.fixture
def cli_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The world on SQLite, and the environment a `bridge` command run next to it would see."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    sandbox = build_world(Sandbox(fast_settings(url, **STOCK_SETTINGS), secret_key=SECRET_KEY))
    sandbox.start(workers=False)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", sandbox.runtime.settings.pancake_base_url)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        yield sandbox
    finally:
        get_settings.cache_clear()
        sandbox.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lines_for(out: str, variation_id: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(variation_id)]


def test_dry_run_prints_the_plan_and_changes_nothing(
    cli_world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "stock", "sync", "--dry-run")

    assert code == 0
    header = out.splitlines()[0].split()
    assert header == ["variation", "supplier", "stock", "pancake", "new", "why"]
    [netflix] = lines_for(out, NETFLIX)
    assert "caoshop-sim/319: 50" in netflix
    assert "first push" in netflix
    [chatgpt] = lines_for(out, CHATGPT)
    assert "not synced" in chatgpt
    assert "3 would change, 1 left alone" in out
    assert "dry run" in out
    assert pushes(cli_world) == 0
    assert quantity(cli_world, NETFLIX) == 0
    with session_scope(cli_world.runtime.engine) as session:
        assert session.exec(select(StockLevel)).all() == []
        assert session.exec(select(StockSyncRun)).all() == []


def test_sync_pushes_then_status_shows_the_run(
    cli_world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "stock", "sync")

    assert code == 0
    assert "3 changed" in out
    assert (quantity(cli_world, NETFLIX), quantity(cli_world, SPOTIFY)) == (50, 25)

    code, out, _ = run(capsys, "stock", "sync", "--changed")
    assert code == 0
    assert "(none)" in out, "nothing changed the second time"
    assert "0 Pancake calls" in out

    code, out, _ = run(capsys, "stock", "status")
    assert code == 0
    assert "failures in a row: 0" in out
    latest, first = [line for line in out.splitlines() if " cli " in line]
    assert latest.split()[4:7] == ["4", "0", "1"], "variations, changed, left alone"
    assert first.split()[4:7] == ["4", "3", "1"]
    assert "2 Pancake" in first, "the warehouse lookup and one push"
    assert "0 Pancake" in latest


def test_a_failed_sync_exits_non_zero_and_names_the_error(
    cli_world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    cli_world.pancake.inject(502, times=3, path_contains="update_quantity")

    code, _, err = run(capsys, "stock", "sync")

    assert code == 1
    assert "Pancake unavailable" in err
    assert quantity(cli_world, NETFLIX) == 0


def test_policies_and_buffer_are_set_from_the_command_line(
    cli_world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = cli_world.shop_id
    assert (
        run(
            capsys, "stock", "set", "--shop", shop, "--variation", CHATGPT, "--manual-quantity", "4"
        )[0]
        == 0
    )
    assert run(capsys, "stock", "set", "--shop", shop, "--variation", NETFLIX, "--no-sync")[0] == 0
    assert run(capsys, "stock", "buffer", "--shop", shop, "1")[0] == 0
    code, _, err = run(capsys, "stock", "set", "--shop", shop, "--variation", "nope", "--sync")
    assert code == 2
    assert "no mapping" in err

    with session_scope(cli_world.runtime.engine) as session:
        rows = {m.variation_id: m for m in session.exec(select(MappingChoice))}
        shop_row = session.get(PancakeShop, shop)
    assert rows[CHATGPT].manual_stock == 4
    assert rows[NETFLIX].stock_sync is False
    assert shop_row is not None
    assert shop_row.stock_buffer == 1

    assert run(capsys, "stock", "sync")[0] == 0
    assert quantity(cli_world, CHATGPT) == 3, "4 fixed, minus the buffer"
    assert quantity(cli_world, NETFLIX) == 0, "not synced: left as it was"


def test_the_progress_bar_appears_only_on_long_runs() -> None:
    now = [0.0]
    stream = io.StringIO()
    bar = SyncProgress(stream, enabled=True, force_terminal=True, clock=lambda: now[0], after=0.5)

    bar("pushing to 4", 10, 100)
    assert stream.getvalue() == "", "a quick run draws nothing"
    now[0] = 1.0
    bar("pushing to 4", 50, 100)
    bar("reading caoshop", 3, None)
    bar.finish()

    text = stream.getvalue()
    assert "pushing to 4" in text
    assert "50/100" in text
    assert "reading caoshop" in text
    assert "page 3" in text
    silent = io.StringIO()
    off = SyncProgress(silent, enabled=False, clock=lambda: 9.0)
    off("pushing to 4", 1, 2)
    off.finish()
    assert silent.getvalue() == ""


@pytest.mark.parametrize(("mode", "drawn"), [("always", True), ("never", False)])
def test_progress_option_draws_on_stderr_only_when_asked(
    cli_world: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    drawn: bool,
) -> None:
    monkeypatch.setattr(output, "PROGRESS_AFTER_SECONDS", 0.0)  # every run counts as long

    code, out, err = run(capsys, "stock", "sync", "--dry-run", "--progress", mode)

    assert code == 0
    assert ("reading " in err) is drawn
    assert "reading " not in out, "the bar never mixes into the report on stdout"
    assert "3 would change" in out


def test_sync_and_status_as_json(cli_world: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "stock", "sync", "--dry-run", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["dry_run"] is True
    by_variation = {row["variation_id"]: row for row in plan["rows"]}
    assert by_variation[NETFLIX]["push"] is True
    assert plan["changed"] == sum(1 for row in plan["rows"] if row["push"])
    assert pushes(cli_world) == 0

    assert run(capsys, "stock", "sync")[0] == 0
    code, out, _ = run(capsys, "stock", "status", "--json")
    assert code == 0
    status = json.loads(out)
    [latest] = status["runs"]
    assert (latest["trigger"], latest["variations"]) == ("cli", len(plan["rows"]))
    assert status["control"]["failures"] == 0
