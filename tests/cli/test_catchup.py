"""`bridge shops list` shows how far the catch-up for missed webhooks has read each shop."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.db import make_engine, session_scope
from bridge.settings import get_settings
from tests.conftest import migrated_sqlite_url
from workers.fulfilment.models import ShopCatchUp

SECRET_KEY = "a-test-secret-key-that-is-long-enough"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = migrated_sqlite_url(tmp_path)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def shops(capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    assert main(["shops", "list", *flags]) == 0
    return capsys.readouterr().out


def test_shops_list_says_until_when_each_shop_is_caught_up(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    for shop in ("4", "5"):
        assert (
            main(
                ["shops", "add", shop, "--api-key", "k", "--offline", "--webhook-secret", "w" * 20]
            )
            == 0
        )
    capsys.readouterr()
    [four, five] = json.loads(shops(capsys, "--json"))
    assert (four["caught_up_until"], four["catchup_error"]) == (None, None), "not run yet"

    engine = make_engine(database)
    with session_scope(engine) as session:
        until = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
        session.add(ShopCatchUp(shop_id="4", caught_up_until=until))
        session.add(ShopCatchUp(shop_id="5", last_error="GET /shops/5/orders answered 401"))
    engine.dispose()

    [header, row4, row5] = shops(capsys).strip().splitlines()
    assert "caught up until" in header
    assert "2026-12-01T08:30:00+00:00" in row4
    assert row5.split()[:5] == ["5", "yes", "0", "-", "1,2,3,8,9,12,13,16"]
    # Read by the header's columns: other columns stand between.
    assert row5[header.index("caught up until") :].split()[0] == "-"
    assert row5.endswith("GET /shops/5/orders answered 401")
    [four, five] = json.loads(shops(capsys, "--json"))
    assert four["caught_up_until"] == "2026-12-01T08:30:00+00:00"
    assert five["catchup_error"] == "GET /shops/5/orders answered 401"
