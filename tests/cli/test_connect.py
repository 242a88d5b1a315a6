"""`bridge shops connect`: the bridge points a shop's Pancake webhook at itself, against the
Pancake simulator over real HTTP, and never takes a webhook URL another integration holds."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bridge.cli import main
from bridge.dev.sandbox import PANCAKE_API_KEY, Sandbox
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.pancake.connect import (
    CurrentWebhook,
    WebhookOwner,
    answer_problems,
    webhook_owner,
    webhook_request,
)
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import ListedShop, ShopWebhook
from bridge.pancake.shops import add_shop
from bridge.pancake.webhook_tokens import token_matches, url_token
from bridge.settings import get_settings
from bridge.states import FulfilmentState
from bridge.web.server import ServerThread
from tests.conftest import fast_settings, migrated_sqlite_url

SECRET_KEY = secrets.token_urlsafe(32)
SHOP = "4"
FOREIGN = "https://hooks.other-integration.example/pancake"
FOREIGN_TOKEN = "tok-ABCDEF123456"


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A running bridge and Pancake simulator whose shop 4 has no webhook set yet; the CLI's
    environment points at the same database and the simulator."""
    settings = fast_settings(migrated_sqlite_url(tmp_path))
    box = Sandbox(settings, secret_key=SECRET_KEY)
    box.start(webhook=False)
    for name in ("BRIDGE_REDIS_URL", "BRIDGE_PUBLIC_URL", "BRIDGE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", box.runtime.settings.pancake_base_url)
    try:
        yield box
    finally:
        box.stop()
        get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def connect(
    capsys: pytest.CaptureFixture[str], sandbox: Sandbox, *extra: str, secret: str | None = None
) -> tuple[int, str, str]:
    given = secret if secret is not None else sandbox.webhook_secret
    argv = ["shops", "connect", SHOP, "--public-url", sandbox.bridge_url]
    return run(capsys, *argv, "--webhook-secret", given, *extra)


def puts(sim: PancakeSimulator) -> int:
    return sim.count_calls("PUT", f"/shops/{SHOP}")


def stored_digest(sandbox: Sandbox) -> str:
    return stored_digests(sandbox)[0]


def stored_digests(sandbox: Sandbox) -> tuple[str, str | None]:
    """The shop's stored secret digest and URL token digest."""
    with Session(sandbox.runtime.engine) as session:
        shop = session.get(PancakeShop, SHOP)
        assert shop is not None
        return shop.webhook_secret_digest, shop.webhook_token_digest


def token_stored(sandbox: Sandbox, token: str) -> bool:
    secret_digest, digest = stored_digests(sandbox)
    return token_matches(sandbox.runtime.box, token, secret_digest, digest)


@pytest.mark.parametrize("lists_own_id", [True, False], ids=["shop-id", "pages-shop-id"])
def test_connect_points_the_webhook_here_and_pancake_webhooks_are_then_accepted(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], lists_own_id: bool
) -> None:
    sim = sandbox.pancake
    # The docs' GET /shops sample names the shop only in its pages' shop_id.
    sim.shops_list_id = lists_own_id
    supplier = sandbox.add_supplier("caoshop-sim", SupplierSimulator(name="caoshop-sim"))
    supplier.add_plan(319, name="Netflix Premium 1 tháng", price=75_000, stock=10)
    sandbox.map("var-netflix", supplier="caoshop-sim", plan_id=319)

    code, out, err = connect(capsys, sandbox)

    assert (code, err) == (0, ""), err
    url = f"{sandbox.bridge_url}/webhooks/pancake/{SHOP}"
    token = url_token(sandbox.webhook_secret, SHOP)
    assert out.splitlines() == [
        f"shop {SHOP}'s webhook now: none set",
        f"shop {SHOP}: Pancake sends orders, variations_warehouses webhooks to {url}?token=*** "
        "with the secret in X-Bridge-Secret and a token in the URL",
    ]
    config = sim.webhook_config(SHOP)
    assert config["webhook_enable"] is True
    assert config["webhook_url"] == f"{url}?token={token}"
    assert set(config["webhook_types"]) == {"orders", "variations_warehouses"}
    assert config["webhook_headers"] == {"X-Bridge-Secret": sandbox.webhook_secret}
    assert puts(sim) == 1
    assert sandbox.webhook_secret not in out
    assert token not in out
    assert token_stored(sandbox, token)

    order_id = sandbox.place_order([{"variation_id": "var-netflix", "quantity": 1}])
    [line] = sandbox.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    assert len(supplier.ledger) == 1
    assert sim.wait_idle()
    assert {d.result for d in sim.deliveries} == {200}, "every webhook was accepted"

    # Connected already: running it again changes nothing that matters and says so; the token
    # is made from the secret, so the URL is the same.
    code, out, _ = connect(capsys, sandbox)
    assert code == 0
    assert out.startswith(f"shop {SHOP}'s webhook now: points here ({url}?token=***)\n")
    assert sim.webhook_config(SHOP)["webhook_url"] == f"{url}?token={token}"


def test_another_integrations_webhook_is_not_taken_without_replace(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sandbox.pancake
    sim.configure_webhook(
        SHOP, url=f"{FOREIGN}?token={FOREIGN_TOKEN}", headers={"X-Token": FOREIGN_TOKEN}
    )
    before = sim.webhook_config(SHOP)

    code, out, err = connect(capsys, sandbox)

    assert code == 2
    assert out == f"shop {SHOP}'s webhook now: goes to {FOREIGN}?token=***\n"
    assert err == (
        f"error: shop {SHOP}'s webhook already goes to {FOREIGN}?token=*** (another "
        "integration's); a shop has one webhook URL, so pointing it here stops webhooks reaching "
        "that one: add --replace to point it here anyway\n"
    )
    assert FOREIGN_TOKEN not in out + err, "a URL's query may hold another integration's token"
    assert puts(sim) == 0
    assert sim.webhook_config(SHOP) == before
    assert stored_digests(sandbox)[1] is None, "nothing sent, nothing stored"

    code, out, err = connect(capsys, sandbox, "--replace")

    assert (code, err) == (0, "")
    config = sim.webhook_config(SHOP)
    token = url_token(sandbox.webhook_secret, SHOP)
    assert config["webhook_url"] == f"{sandbox.bridge_url}/webhooks/pancake/{SHOP}?token={token}"
    assert config["webhook_headers"] == {"X-Bridge-Secret": sandbox.webhook_secret}


def test_this_bridge_at_an_old_address_is_named_as_such(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    old = f"https://old-bridge.example/webhooks/pancake/{SHOP}"
    sandbox.pancake.configure_webhook(SHOP, url=old, headers={})

    code, _, err = connect(capsys, sandbox)

    assert code == 2
    assert f"already goes to {old} (a pancake-bridge URL at another address)" in err


def test_when_pancake_does_not_show_the_webhook_it_cannot_tell_and_refuses_unless_replace(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sandbox.pancake
    sim.shops_list_webhook = False  # the docs promise no webhook field in GET /shops
    reason = "GET /shops does not show the shop's webhook fields"

    code, out, err = connect(capsys, sandbox)

    assert code == 2
    assert out == f"shop {SHOP}'s webhook now: cannot tell ({reason})\n"
    assert err == (
        f"error: cannot tell whether shop {SHOP}'s webhook is in use ({reason}): look in "
        "Pancake (Cấu hình → Cấu hình ứng dụng → Webhook), then add --replace to point it "
        "here anyway\n"
    )
    assert puts(sim) == 0

    code, _, err = connect(capsys, sandbox, "--replace")
    assert (code, err) == (0, "")
    assert sim.webhook_config(SHOP)["webhook_url"].startswith(sandbox.bridge_url)


def listed(*entries: dict[str, Any]) -> list[ListedShop]:
    return [ListedShop.model_validate(entry) for entry in entries]


def test_a_shop_is_found_by_its_id_or_its_pages_and_otherwise_it_cannot_tell() -> None:
    wanted = "https://bridge.example/webhooks/pancake/4"
    page = {"id": "104438181227821", "platform": "facebook", "shop_id": 4}
    owner = WebhookOwner

    def found(*entries: dict[str, Any]) -> CurrentWebhook:
        return webhook_owner(listed(*entries), "4", wanted)

    # The docs' sample: name, avatar, pages naming the shop; no webhook field.
    assert found({"name": "Shop", "pages": [page]}).owner is owner.UNKNOWN
    assert found({"name": "Shop", "pages": [page], "webhook_url": ""}).owner is owner.NONE
    assert found({"pages": [page], "webhook_url": None}).owner is owner.NONE
    assert found({"id": 4, "webhook_url": wanted + "/"}).owner is owner.HERE
    assert found({"id": "4", "webhook_url": FOREIGN}).owner is owner.ELSEWHERE
    # A shop's own url and e-mail are not its webhook's.
    assert found({"id": 4, "url": FOREIGN, "email": "a@b.c"}).owner is owner.UNKNOWN
    # A webhook_url of a shape that cannot be read is not shown.
    assert found({"id": 4, "webhook_url": {"href": FOREIGN}}).owner is owner.UNKNOWN
    nameless = found({"name": "A", "webhook_url": ""}, {"name": "B", "webhook_url": ""})
    assert (nameless.owner, nameless.reason) == (
        owner.UNKNOWN,
        "GET /shops does not say which of its shops is shop 4",
    )
    other = found({"id": 9, "webhook_url": ""})
    assert other.reason == "GET /shops does not list shop 4"
    twice = found({"id": 4, "webhook_url": ""}, {"pages": [page], "webhook_url": FOREIGN})
    assert twice.reason == "GET /shops lists shop 4 2 times"


def test_the_dry_run_prints_the_request_with_secrets_masked_and_sends_nothing(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = sandbox.pancake
    digest = stored_digest(sandbox)

    code, out, err = connect(capsys, sandbox, "--dry-run")

    assert (code, err) == (0, "")
    base = sandbox.runtime.settings.pancake_base_url
    lines = out.splitlines()
    assert lines[:4] == [
        f"shop {SHOP}'s webhook now: none set",
        "request (not sent: --dry-run):",
        f"  PUT {base}/shops/{SHOP}?api_key=***",
        "  Content-Type: application/json",
    ]
    assert json.loads("\n".join(lines[4:-1])) == {
        "shop": {
            "webhook_enable": True,
            "webhook_url": f"{sandbox.bridge_url}/webhooks/pancake/{SHOP}?token=***",
            "webhook_types": ["orders", "variations_warehouses"],
            "webhook_headers": {"X-Bridge-Secret": "***"},
        }
    }
    assert lines[-1] == "dry run: nothing sent"
    assert sandbox.webhook_secret not in out
    assert url_token(sandbox.webhook_secret, SHOP) not in out
    assert stored_digests(sandbox) == (digest, None), "a dry run stores no token"
    assert PANCAKE_API_KEY not in out
    assert puts(sim) == 0
    assert sim.webhook_config(SHOP)["webhook_url"] == ""

    # With a new secret: nothing made is stored, and what would be refused is refused.
    sim.configure_webhook(SHOP, url=FOREIGN, headers={})
    code, out, err = run(
        capsys, "shops", "connect", SHOP, "--public-url", sandbox.bridge_url, "--new-secret",
        "--dry-run",
    )  # fmt: skip
    assert code == 2
    assert '"X-Bridge-Secret": "***"' in out
    assert f'/webhooks/pancake/{SHOP}?token=***"' in out
    assert "dry run: nothing sent" not in out
    assert "--replace" in err
    assert puts(sim) == 0
    assert stored_digests(sandbox) == (digest, None)


def test_a_new_secret_is_sent_to_pancake_and_stored_but_never_printed(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Set for `shops add`, it does not conflict with --new-secret.
    monkeypatch.setenv("BRIDGE_WEBHOOK_SECRET", sandbox.webhook_secret)
    monkeypatch.setenv("BRIDGE_PUBLIC_URL", sandbox.bridge_url + "/")

    code, out, err = run(capsys, "shops", "connect", SHOP, "--new-secret")

    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1].endswith(
        "with the new secret in X-Bridge-Secret and a token in the URL"
    )
    config = sandbox.pancake.webhook_config(SHOP)
    sent = config["webhook_headers"]["X-Bridge-Secret"]
    assert sent != sandbox.webhook_secret
    assert len(sent) >= 32
    assert sent not in out
    digest = stored_digest(sandbox)
    assert sandbox.runtime.box.matches(sent, digest)
    assert not sandbox.runtime.box.matches(sandbox.webhook_secret, digest)
    # The URL's token is the new secret's; the old secret's token is no longer let in.
    token = url_token(sent, SHOP)
    assert config["webhook_url"].endswith(f"/webhooks/pancake/{SHOP}?token={token}")
    assert token not in out
    assert token_stored(sandbox, token)
    assert not token_stored(sandbox, url_token(sandbox.webhook_secret, SHOP))

    # Now only the new secret proves it is the owner.
    code, _, err = run(capsys, "shops", "connect", SHOP, "--webhook-secret", sent)
    assert (code, err) == (0, "")


def test_the_secret_must_be_the_stored_one_or_a_new_one(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = connect(capsys, sandbox, secret="not-the-secret-at-all")
    assert (code, out) == (2, "")
    assert err == (
        f"error: that is not shop {SHOP}'s webhook secret (the one given to `bridge shops "
        "add`): give that one, or make a new one with --new-secret\n"
    )
    code, _, err = connect(capsys, sandbox, "--new-secret")
    assert code == 2
    assert "give --webhook-secret or --new-secret, not both" in err
    # No terminal, no secret: a usage error naming the ways in.
    code, _, err = run(capsys, "shops", "connect", SHOP, "--public-url", sandbox.bridge_url)
    assert code == 2
    assert "--new-secret" in err
    assert "BRIDGE_WEBHOOK_SECRET" in err
    assert puts(sandbox.pancake) == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (
            None,
            "no public URL: give --public-url https://bridge.example.com or set BRIDGE_PUBLIC_URL",
        ),
        ("bridge.example.com", "must be an absolute http(s) URL"),
        ("http://bridge.example.com", "is http://: Pancake would send the webhook secret"),
        ("https://bridge.example.com/?x=1", "must have no user, query or fragment"),
        ("https://u:pw@bridge.example.com", "must have no user, query or fragment"),
    ],
)
def test_the_public_url_must_be_one_pancake_can_use_safely(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str], url: str | None, problem: str
) -> None:
    argv = ["shops", "connect", SHOP, "--webhook-secret", sandbox.webhook_secret]
    code, out, err = run(capsys, *argv, *(["--public-url", url] if url else []))
    assert (code, out) == (2, "")
    assert problem in err
    assert "pw" not in err
    assert puts(sandbox.pancake) == 0


def test_an_unknown_shop_and_a_refused_key_are_named(
    sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(
        capsys, "shops", "connect", "77", "--public-url", sandbox.bridge_url, "--new-secret"
    )
    assert (code, err) == (1, "error: no shop 77: add it first (bridge shops add 77)\n")

    with Session(sandbox.runtime.engine) as session:
        add_shop(session, sandbox.runtime.box, SHOP, api_key="a-key-pancake-refuses")
        session.commit()
    code, _, err = connect(capsys, sandbox)
    assert code == 2
    assert f"Pancake refused shop {SHOP}'s API key" in err
    assert "a-key-pancake-refuses" not in err
    assert puts(sandbox.pancake) == 0


class ContraryPancake:
    """A Pancake that takes the PUT and answers settings other than those sent."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self.app = Starlette(
            routes=[
                Route("/api/v1/shops", self.shops, methods=["GET"]),
                Route("/api/v1/shops/{shop_id}", self.put, methods=["PUT"]),
            ]
        )

    async def shops(self, _: Request) -> JSONResponse:
        return JSONResponse({"shops": [{"id": 4, "webhook_url": ""}], "success": True})

    async def put(self, request: Request) -> JSONResponse:
        sent = (await request.json())["shop"]
        return JSONResponse({"success": True, "data": {"id": 4, **sent, **self.answer}})


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ({"webhook_enable": False}, "webhook_enable is False, not True"),
        ({"webhook_types": ["orders"]}, "webhook_types is ['orders'], not"),
        ({"webhook_url": "https://elsewhere.example/x?k=1"}, "webhook_url is https://elsewhere"),
        ({"webhook_headers": {"x-bridge-secret": "other"}}, "does not carry X-Bridge-Secret"),
    ],
)
def test_an_answer_that_shows_other_settings_than_sent_fails(
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    answer: dict[str, Any],
    problem: str,
) -> None:
    with ServerThread(ContraryPancake(answer).app) as contrary:
        monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", contrary.url + "/api/v1")
        code, _, err = connect(capsys, sandbox)
    assert code == 1
    assert err.startswith("error: Pancake took the webhook settings, but its answer shows ")
    assert problem in err
    assert "k=1" not in err
    assert "other" not in err.replace("other settings", "")
    assert sandbox.webhook_secret not in err


def test_the_answer_is_read_however_pancake_wraps_it_and_headers_may_be_left_out() -> None:
    sent = webhook_request(
        "https://b.example/webhooks/pancake/4",
        "s" * 20,
        CurrentWebhook(WebhookOwner.NONE),
    )
    fields = sent.to_api()
    without_headers = {k: v for k, v in fields.items() if k != "webhook_headers"}
    shuffled = {**without_headers, "webhook_types": list(reversed(fields["webhook_types"]))}
    assert answer_problems(sent, ShopWebhook.from_api(shuffled)) == []
    lowercase = {**fields, "webhook_headers": {"x-bridge-secret": "s" * 20}}
    assert answer_problems(sent, ShopWebhook.from_api(lowercase)) == []
    assert answer_problems(sent, ShopWebhook()) == [
        "webhook_enable is not in the answer",
        "webhook_types is not in the answer",
        "webhook_url is not in the answer",
    ]
    assert "s" * 20 not in repr(sent), "the secret never shows in a repr"
