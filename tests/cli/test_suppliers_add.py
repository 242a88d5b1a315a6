"""`bridge suppliers add` checks the base URL and keys with one read before saving."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.dev.simulators.supplier import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    Dialect,
    SupplierSimulator,
)
from bridge.web.server import ServerThread, free_port
from tests.cli.test_main import cli_env, run  # noqa: F401  (cli_env is a fixture)

WWW = "https://www.cloneviammo.test/api/v1"


@pytest.fixture
def shop() -> Iterator[tuple[SupplierSimulator, str]]:
    sim = SupplierSimulator(name="clone")
    with ServerThread(sim.app) as server:
        yield sim, server.url + "/api/v1"


def add(
    capsys: pytest.CaptureFixture[str], url: str, *extra: str, key: str = DEMO_API_KEY
) -> tuple[int, str, str]:
    argv = ["suppliers", "add", "clone", "--base-url", url, "--api-key", key]
    return run(capsys, *argv, "--api-secret", DEMO_API_SECRET, *extra)


def saved(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(capsys, "suppliers", "list")
    assert code == 0
    return out


@pytest.mark.parametrize("dialect", ["full", "short"])
def test_a_working_supplier_is_checked_with_one_read_and_saved(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    dialect: Dialect,
) -> None:
    sim = SupplierSimulator(name="clone", dialect=dialect)
    with ServerThread(sim.app) as server:
        code, out, err = add(capsys, server.url + "/api/v1/")

    assert (code, err) == (0, "")
    assert out.strip() == "supplier clone saved (checked, balance 10,000,000)"
    assert sim.calls == [("GET", "/api/v1/account/balance")]
    assert server.url + "/api/v1" in saved(capsys)


def clock_column(capsys: pytest.CaptureFixture[str]) -> str:
    """The last column of the one supplier's row: its measured clock, or "-"."""
    [_, row] = saved(capsys).strip().splitlines()
    match = re.search(r"([+-]\d+ s ± \d+ s|-)$", row)
    assert match is not None, row
    return match.group(1)


def test_the_check_measures_the_supplier_clock_and_a_new_url_forgets_it(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    sim = SupplierSimulator(name="clone")  # full dialect: answers carry a timestamp
    sim.clock = lambda: datetime.now(UTC) - timedelta(seconds=300)
    with ServerThread(sim.app) as server:
        assert add(capsys, server.url + "/api/v1")[0] == 0
        measured = clock_column(capsys)
        assert measured in {"-300 s ± 0 s", "-300 s ± 1 s", "-299 s ± 1 s", "-301 s ± 1 s"}
        # The same URL again, unchecked: what was measured still holds.
        assert add(capsys, server.url + "/api/v1", "--offline")[0] == 0
        assert clock_column(capsys) == measured
    with ServerThread(sim.app) as moved:
        assert add(capsys, moved.url + "/api/v1", "--offline")[0] == 0
    assert clock_column(capsys) == "-", "another server may keep another clock"


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirecting_url_is_refused_naming_where_it_points(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    shop: tuple[SupplierSimulator, str],
    status: int,
) -> None:
    sim, url = shop
    sim.redirect_to, sim.redirect_status = WWW, status

    code, out, err = add(capsys, url)

    assert (code, out) == (2, "")
    assert err == f"error: {url} redirects to {WWW}: use that as the base URL\n"
    assert len(sim.calls) == 1
    assert "clone" not in saved(capsys), "nothing is saved"


def test_a_refused_key_is_named_by_its_code(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    shop: tuple[SupplierSimulator, str],
) -> None:
    _, url = shop
    code, _, err = add(capsys, url, key="sk_live_" + "f" * 32)

    assert code == 2
    assert "INVALID_API_KEY" in err
    assert "sk_live_" not in err
    assert "clone" not in saved(capsys)


def test_an_unreachable_host_is_refused_and_offline_saves_without_a_check(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1"  # nothing listens there

    code, _, err = add(capsys, url)
    assert code == 2
    assert f"cannot reach {url}" in err
    assert "--offline" in err

    code, out, err = add(capsys, url, "--offline")
    assert (code, err) == (0, "")
    assert out.strip() == "supplier clone saved (not checked: --offline)"
    assert url in saved(capsys)


def zone_column(capsys: pytest.CaptureFixture[str]) -> str:
    """The one supplier's zone, as `suppliers list` prints it."""
    [_, row] = saved(capsys).strip().splitlines()
    match = re.search(r"(\S+ \((?:set|learned)\)|-)\s+(?:[+-]\d+ s ± \d+ s|-)$", row)
    assert match is not None, row
    return match.group(1)


def test_the_operators_timezone_is_kept_until_changed_and_a_bad_one_is_refused_at_once(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    shop: tuple[SupplierSimulator, str],
) -> None:
    sim, url = shop
    assert add(capsys, url)[0] == 0
    assert zone_column(capsys) == "-", "not known until set or learned"

    assert add(capsys, url, "--timezone", "UTC+8")[0] == 0
    assert zone_column(capsys) == "+08:00 (set)"
    assert add(capsys, url, "--offline")[0] == 0, "a key rotation keeps it"
    assert zone_column(capsys) == "+08:00 (set)"

    calls = len(sim.calls)
    code, out, err = add(capsys, url, "--timezone", "Asia/Ho_Chi_Minh")
    assert (code, out) == (2, "")
    assert "--timezone" in err
    assert len(sim.calls) == calls, "refused before any request"
    assert zone_column(capsys) == "+08:00 (set)"

    assert add(capsys, url, "--timezone", "auto")[0] == 0
    assert zone_column(capsys) == "-"
