"""`bridge suppliers check`: what each supplier's API tells of the account, and a sentence and a
next step for every documented error code, against the supplier simulator in both dialects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.dev.simulators.supplier import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    Dialect,
    SupplierSimulator,
)
from bridge.supplier.vocabulary import ERROR_ADVICE, ErrorCode, advice
from bridge.web.server import ServerThread, free_port
from tests.cli.test_main import cli_env, run  # noqa: F401  (cli_env is a fixture)

# The error table of every supplier doc (shared/api-docs/shop-api-*.txt): code and HTTP status.
DOCUMENTED = {
    "INVALID_API_KEY": 401,
    "INVALID_API_SECRET": 401,
    "DISABLED_API_KEY": 401,
    "RATE_LIMIT_EXCEEDED": 429,
    "IP_NOT_ALLOWED": 403,
    "PERMISSION_DENIED": 403,
    "INSUFFICIENT_BALANCE": 400,
    "PRODUCT_NOT_FOUND": 404,
    "OUT_OF_STOCK": 400,
}
# A refused key (or host) refuses every call: nothing after the first is asked.
KEY_REFUSALS = {"INVALID_API_KEY", "INVALID_API_SECRET", "DISABLED_API_KEY", "IP_NOT_ALLOWED"}
CHECKS = [
    "base URL",
    "auth",
    "balance",
    "limits",
    "usage today",
    "permissions",
    "key expiry",
    "catalogue",
]


@pytest.fixture(params=["full", "short"])
def shop(
    request: pytest.FixtureRequest,
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> Iterator[SupplierSimulator]:
    """A supplier simulator, added to the bridge with `suppliers add` (checked online)."""
    dialect: Dialect = request.param
    sim = SupplierSimulator(name="sim", dialect=dialect, rate_limit_per_minute=60)
    sim.add_plan(319, name="Netflix Premium 1 tháng", price=75_000, stock=25)
    sim.add_plan(320, name="ChatGPT Plus 1 tháng", price=450_000, is_instant=False)
    sim.add_plan(321, name="ChatGPT Plus 3 tháng", product_id=320, product_name="ChatGPT Plus")
    with ServerThread(sim.app) as server:
        argv = ["suppliers", "add", "sim", "--base-url", server.url + "/api/v1"]
        code, _, err = run(
            capsys, *argv, "--api-key", DEMO_API_KEY, "--api-secret", DEMO_API_SECRET
        )
        assert code == 0, err
        sim.calls.clear()
        yield sim


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, tuple[str, str]]]:
    code, out, err = run(capsys, "suppliers", "check", "--json", *argv)
    assert err == ""
    [found] = json.loads(out)
    assert found["supplier"] == "sim"
    lines = {line["check"]: (line["status"], line["detail"]) for line in found["checks"]}
    assert list(lines) == CHECKS
    assert found["ok"] is (code == 0)
    return code, lines


def test_a_working_supplier_is_described_check_by_check(
    shop: SupplierSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    shop.used_today = 41
    code, out, err = run(capsys, "suppliers", "check")

    assert (code, err) == (0, ""), out
    rows = out.splitlines()
    assert rows[0].split() == ["supplier", "check", "status", "detail"]
    assert [row.split()[0] for row in rows[1:]] == ["sim"] * len(CHECKS)
    assert all(" ok " in row for row in rows[1:]), out
    assert "10,000,000" in out
    assert "3 plans (2 instant) in 2 products" in out
    assert DEMO_API_KEY not in out
    assert DEMO_API_SECRET not in out

    code, lines = check(capsys, "sim")
    assert code == 0
    if shop.dialect == "full":
        assert lines["limits"] == ("ok", "60 a minute, 10,000 a day")
        assert lines["usage today"] == ("ok", "46 of 10,000 requests")  # its own reads count
        assert lines["permissions"] == ("ok", "every one the bridge needs")
    else:  # the short dialect's account/info answers the user alone
        assert lines["limits"][0] == "ok"
        assert lines["limits"][1].startswith("not told: the bridge keeps 60 a minute, 10,000")
        assert lines["usage today"] == lines["permissions"] == ("ok", "not told")
    assert [path for _, path in shop.calls] == [
        "/api/v1/account/balance",
        "/api/v1/account/info",
        "/api/v1/products/list",
    ] * 2, "reads only, one request each"


def test_limits_spent_permissions_missing_and_a_shop_without_account_info(
    shop: SupplierSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    if shop.dialect == "short":
        shop.serves_account_info = False
        code, lines = check(capsys)
        assert code == 0
        assert lines["limits"][1].startswith("this shop has no account/info: the bridge keeps")
        return
    shop.used_today, shop.daily_limit = 400, 500
    shop.permissions = ["orders.create", "account.balance", "account.info"]
    code, lines = check(capsys)
    assert code == 1
    assert lines["usage today"] == ("ok", "402 of 500 requests")
    assert lines["permissions"][0] == "PROBLEM"
    assert "orders.list (settling" in lines["permissions"][1]
    assert lines["permissions"][1].endswith("Next: grant them on the supplier's API page.")

    # The day's limit spent: the shop refuses with 429, and the key's budget waits for it.
    shop.used_today = 500
    code, lines = check(capsys)
    assert code == 1
    assert lines["balance"][1].startswith("RATE_LIMIT_EXCEEDED (HTTP 429: Retry-After 3600 s)")
    assert lines["limits"][1].startswith("BUSY")


@pytest.mark.parametrize("code", sorted(DOCUMENTED))
def test_every_documented_error_code_gets_a_sentence_and_a_next_step(
    shop: SupplierSimulator, capsys: pytest.CaptureFixture[str], code: str
) -> None:
    shop.refuse(code, 10)  # every call the check makes

    exit_code, lines = check(capsys)

    assert exit_code == 1
    meaning, next_step = advice(code)
    row = "auth" if code in KEY_REFUSALS | {"PERMISSION_DENIED"} else "balance"
    status, detail = lines[row]
    assert status == "PROBLEM"
    assert detail.startswith(f"{code} (HTTP {DOCUMENTED[code]}")
    assert f": {meaning}. Next: {next_step}." in detail
    if code in KEY_REFUSALS:
        assert len(shop.calls) == 1, "a refused key is not asked again"
        assert {lines[c][0] for c in CHECKS[3:]} == {"skipped"}


@pytest.mark.parametrize(
    ("path", "row"),
    [("account/info", "limits"), ("products/list", "catalogue")],
)
def test_a_refusal_of_one_read_is_reported_on_its_line_and_the_rest_still_read(
    shop: SupplierSimulator, capsys: pytest.CaptureFixture[str], path: str, row: str
) -> None:
    shop.refuse("PERMISSION_DENIED", path_contains=path)

    code, lines = check(capsys)

    assert code == 1
    problems = {check for check, (status, _) in lines.items() if status == "PROBLEM"}
    assert problems == {row}
    assert lines[row][1].startswith("PERMISSION_DENIED (HTTP 403: Không có quyền thực hiện)")
    assert lines["balance"][0] == lines["auth"][0] == "ok"


def test_every_error_code_of_the_vocabulary_has_advice() -> None:
    assert set(ERROR_ADVICE) == set(ErrorCode)
    assert set(DOCUMENTED) <= set(ErrorCode)
    assert advice("SOMETHING_NEW") == advice(None) == ERROR_ADVICE[ErrorCode.UNKNOWN]
    for meaning, next_step in ERROR_ADVICE.values():
        for clause in (meaning, next_step):
            assert clause
            assert not clause.endswith("."), "the sentence is built around it"


def test_an_unreachable_or_redirecting_supplier_and_an_unknown_name(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1"
    argv = ["suppliers", "add", "sim", "--base-url", url, "--offline"]
    assert run(capsys, *argv, "--api-key", DEMO_API_KEY, "--api-secret", DEMO_API_SECRET)[0] == 0

    code, lines = check(capsys)
    assert code == 1
    assert lines["auth"][0] == "PROBLEM"
    assert lines["auth"][1].startswith("UNREACHABLE")
    assert "check the base URL's host name and port" in lines["auth"][1]

    sim = SupplierSimulator(name="sim")
    sim.redirect_to = "https://www.cloneviammo.test/api/v1"
    with ServerThread(sim.app) as server:
        argv = ["suppliers", "add", "sim", "--base-url", server.url + "/api/v1", "--offline"]
        assert (
            run(capsys, *argv, "--api-key", DEMO_API_KEY, "--api-secret", DEMO_API_SECRET)[0] == 0
        )
        code, lines = check(capsys)
    assert code == 1
    assert lines["auth"][1].startswith(
        "REDIRECTED (HTTP 301: redirects to https://www.cloneviammo.test/api/v1: use that as the "
        "base URL): the base URL is not the API root"
    )

    code, _, err = run(capsys, "suppliers", "check", "nope")
    assert (code, err) == (1, "error: no supplier nope: `bridge suppliers list` shows them\n")
