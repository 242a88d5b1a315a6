"""`bridge doctor` beyond this host: BRIDGE_PUBLIC_URL, each shop's Pancake key and webhook, each
supplier's balance, each check failing once with what to do, against the simulators."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.pancake.webhook_tokens import url_token
from bridge.settings import get_settings
from bridge.web.server import ServerThread, free_port
from tests.conftest import migrated_sqlite_url

PUBLIC_URL = "https://bridge.example.com"
HOOK = f"{PUBLIC_URL}/webhooks/pancake/4"
SECRET = "w" * 24
CONNECT = "run `bridge shops connect 4`"


@dataclass
class World:
    pancake: PancakeSimulator
    supplier: SupplierSimulator
    pancake_url: str


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, tuple[str, str]]]:
    """The exit status and each check as (status, detail): ok, PROBLEM or UNKNOWN."""
    code, out, _ = run(capsys, "doctor", "--json")
    report = json.loads(out)
    found = {}
    for c in report["checks"]:
        found[c["check"]] = (
            "UNKNOWN" if c["unknown"] else "ok" if c["ok"] else "PROBLEM",
            c["detail"],
        )
    return code, found


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[World]:
    """Shop 4 connected here (`bridge shops connect`: the header and the URL's token) and one
    supplier, all sound."""
    for name in ("BRIDGE_REDIS_URL", "BRIDGE_SECRET_KEY_PREVIOUS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", migrated_sqlite_url(tmp_path))
    monkeypatch.setenv("BRIDGE_SECRET_KEY", secrets.token_urlsafe(32))
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", PUBLIC_URL)
    with (
        PancakeSimulator() as pancake,
        ServerThread(pancake.app) as pancake_server,
        ServerThread((supplier := SupplierSimulator(name="caoshop")).app) as supplier_server,
    ):
        pancake.add_shop("4", api_key="pk-1")
        pancake.configure_webhook("4", url=HOOK, headers={"X-Bridge-Secret": SECRET})
        url = pancake_server.url + "/api/v1"
        monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", url)
        assert (
            run(capsys, "shops", "add", "4", "--api-key", "pk-1", "--webhook-secret", SECRET)[0]
            == 0
        )
        assert run(capsys, "shops", "connect", "4", "--webhook-secret", SECRET)[0] == 0
        argv = ["suppliers", "add", "caoshop", "--base-url", supplier_server.url + "/api/v1"]
        code, _, err = run(
            capsys, *argv, "--api-key", DEMO_API_KEY, "--api-secret", DEMO_API_SECRET
        )
        assert code == 0, err
        yield World(pancake, supplier, url)
    get_settings.cache_clear()


def test_a_sound_world_passes_every_check_one_line_each(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    connected = len(world.pancake.calls)
    code, found = doctor(capsys)
    assert code == 0, found
    assert found["public url"] == ("ok", PUBLIC_URL)
    assert found["shop 4 key"] == ("ok", "accepted (1 warehouse(s))")
    assert found["shop 4 webhook"] == ("ok", f"points here ({HOOK}?token=***)")
    assert found["supplier caoshop"][0] == "ok"
    assert found["supplier caoshop"][1].startswith("balance 10,000,000 (http://127.0.0.1:")
    reads = world.pancake.calls[connected:]
    assert reads == [("GET", "/shops/4/warehouses"), ("GET", "/shops")], "reads only"
    assert [path for _, path in world.supplier.calls] == ["/api/v1/account/balance"] * 2

    code, out, _ = run(capsys, "doctor")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith(("shop 4", "supplier", "public"))]
    assert len(rows) == 4, "one line per check"
    for secret in (SECRET, url_token(SECRET, "4"), "pk-1", DEMO_API_KEY, DEMO_API_SECRET):
        assert secret not in out


def test_a_missing_or_unsafe_public_url(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRIDGE_PUBLIC_URL")
    code, found = doctor(capsys)
    assert code == 1
    assert found["public url"] == (
        "PROBLEM",
        "BRIDGE_PUBLIC_URL is not set: set it to the address Pancake reaches this bridge at "
        "(e.g. https://bridge.example.com), for `bridge shops connect` and the webhook checks",
    )
    assert "shop 4 webhook" not in found, "nothing to compare it with"
    assert found["shop 4 key"][0] == "ok"

    monkeypatch.setenv("BRIDGE_PUBLIC_URL", "http://bridge.example.com")
    code, found = doctor(capsys)
    assert code == 1
    assert found["public url"][0] == "PROBLEM"
    assert "use https://" in found["public url"][1]


def test_a_refused_or_unreachable_pancake_key(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key Pancake refuses is saved only unchecked (as when it is revoked after saving).
    assert run(capsys, "shops", "add", "4", "--api-key", "pk-revoked", "--offline")[0] == 0
    code, found = doctor(capsys)
    assert code == 1
    assert found["shop 4 key"] == (
        "PROBLEM",
        "Pancake refused it (HTTP 401): save the shop's key from Pancake (Cấu hình → Cấu hình "
        "ứng dụng → API KEY) with `bridge shops add 4 --api-key -`",
    )
    assert "shop 4 webhook" not in found
    assert found["supplier caoshop"][0] == "ok", "one failure does not hide the others"

    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", f"http://127.0.0.1:{free_port()}/api/v1")
    code, found = doctor(capsys)
    assert code == 1
    status, detail = found["shop 4 key"]
    assert status == "PROBLEM"
    assert detail.startswith("Pancake did not answer (GET /api/v1/shops/4/warehouses failed: ")
    assert detail.endswith("check BRIDGE_PANCAKE_BASE_URL and the network")
    assert "pk-revoked" not in detail


def test_a_webhook_unset_elsewhere_disabled_or_with_another_secret(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = world.pancake
    sim.configure_webhook("4", url="", headers={})
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (1, ("PROBLEM", f"none set: {CONNECT}"))

    sim.configure_webhook("4", url="https://other.example/hook?token=s3cr3t", headers={})
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (
        1,
        (
            "PROBLEM",
            f"goes to https://other.example/hook?token=***, not {HOOK}: run `bridge shops "
            "connect 4 --replace` if this bridge should have it (a shop has one webhook URL)",
        ),
    )

    sim.configure_webhook("4", url=HOOK, headers={"X-Bridge-Secret": SECRET}, types=["orders"])
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (
        1,
        ("PROBLEM", f"points here, but it does not send variations_warehouses: {CONNECT}"),
    )

    sim.configure_webhook("4", url=HOOK, headers={"X-Bridge-Secret": "an-old-secret-value"})
    code, found = doctor(capsys)
    assert code == 1
    assert found["shop 4 webhook"][1].startswith(
        "points here, but its X-Bridge-Secret is not shop 4's stored secret: run `bridge shops "
        "connect 4 --new-secret`"
    )
    assert "an-old-secret-value" not in json.dumps(found)


def test_a_url_without_the_token_is_unknown_and_one_with_another_token_a_problem(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = world.pancake
    # As connected before URL tokens: the header alone, which some shops' Pancake never sends.
    sim.configure_webhook("4", url=HOOK, headers={"X-Bridge-Secret": SECRET})
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (
        0,
        (
            "UNKNOWN",
            f"points here ({HOOK}), without a token in the URL: its webhooks get in only if "
            f"Pancake sends the X-Bridge-Secret header, which some shops' does not; {CONNECT} to "
            "add one",
        ),
    )

    # A token made from another secret (one replaced since): refused at the endpoint.
    stale = url_token("a-secret-replaced-since", "4")
    sim.configure_webhook("4", url=f"{HOOK}?token={stale}", headers={"X-Bridge-Secret": SECRET})
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (
        1,
        ("PROBLEM", f"points here, but the token in its URL is not shop 4's: {CONNECT}"),
    )
    assert stale not in json.dumps(found)

    # `shops connect` puts the shop's own token back.
    assert run(capsys, "shops", "connect", "4", "--webhook-secret", SECRET)[0] == 0
    code, found = doctor(capsys)
    assert (code, found["shop 4 webhook"]) == (0, ("ok", f"points here ({HOOK}?token=***)"))


def test_a_webhook_pancake_does_not_show_is_unknown_not_a_failure(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.pancake.shops_list_webhook = False
    code, found = doctor(capsys)
    assert code == 0
    assert found["shop 4 webhook"] == (
        "UNKNOWN",
        "cannot tell (GET /shops does not show the shop's webhook fields): check in Pancake "
        f"(Cấu hình → Cấu hình ứng dụng → Webhook) that it is {HOOK}, or {CONNECT}",
    )
    code, out, _ = run(capsys, "doctor")
    assert "UNKNOWN" in out


@pytest.mark.parametrize("dialect", ["full", "short"])
def test_a_supplier_refusal_is_named_by_its_code_with_the_next_step(
    world: World, capsys: pytest.CaptureFixture[str], dialect: str
) -> None:
    world.supplier.dialect = dialect  # type: ignore[assignment]
    world.supplier.refuse("DISABLED_API_KEY")
    code, found = doctor(capsys)
    assert code == 1
    assert found["supplier caoshop"] == (
        "PROBLEM",
        "DISABLED_API_KEY (HTTP 401: API Key đã bị vô hiệu hóa): the supplier has disabled this "
        "API key. Next: enable it on the supplier's API page, or make a new key and save it: "
        "bridge suppliers add NAME --base-url URL --api-key - --api-secret -.",
    )
    assert found["shop 4 webhook"][0] == "ok"


def test_alert_channels_not_set_set_or_not_understood(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BRIDGE_ALERT_URLS", raising=False)
    code, found = doctor(capsys)
    assert code == 0, "nobody to tell is no failure"
    status, detail = found["alerts"]
    assert status == "UNKNOWN"
    assert "set BRIDGE_ALERT_URLS, e.g. tgram://BOT_TOKEN/CHAT_ID" in detail

    token = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOpp"
    monkeypatch.setenv("BRIDGE_ALERT_URLS", f"tgram://{token}/987654321")
    code, found = doctor(capsys)
    assert code == 0
    assert found["alerts"] == ("ok", "tgram #1; `bridge alerts test` sends a message now")

    monkeypatch.setenv("BRIDGE_ALERT_URLS", f"tgram://{token}/987654321, nosuchservice://x")
    code, out, _ = run(capsys, "doctor", "--json")
    assert code == 1
    [alerts] = [c for c in json.loads(out)["checks"] if c["check"] == "alerts"]
    assert (alerts["ok"], alerts["unknown"]) == (False, False)
    assert alerts["detail"].startswith("apprise cannot use nosuchservice #2 of BRIDGE_ALERT_URLS")
    assert token not in out, "the URLs carry tokens"
