"""`bridge shops add` reads the shop from Pancake with the key before saving; `shops disable`,
`enable` and `remove`: a disabled shop's orders are recorded and not bought (bought once it is
enabled again), and a shop with lines in flight is not removed. Against the simulators."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from bridge.cli import main
from bridge.db import make_engine, session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.pancake.models import PancakeShop
from bridge.secrets import SecretBox
from bridge.settings import get_settings
from bridge.states import FulfilmentState, OrderState
from bridge.web.server import ServerThread, free_port
from tests.cli.test_orders import reported_and_read, sandbox  # noqa: F401  (a fixture)
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import CHATGPT, NETFLIX, build_world, purchases_per_plan
from tests.unchanged import every_row
from workers.fulfilment.catchup import catch_up, due_catchups
from workers.fulfilment.models import ShopCatchUp, WebhookEvent
from workers.queue.dispatch import CATCHUP
from workers.stock.sync import run_sync

SECRET_KEY = secrets.token_urlsafe(32)
WEBHOOK_SECRET = "w" * 24


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    get_settings.cache_clear()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def pancake() -> Iterator[str]:
    """A Pancake with shop 4 (key pk-4) and shop 5 (key pk-5); its API's URL."""
    simulator = PancakeSimulator()
    simulator.add_shop("4", api_key="pk-4")
    simulator.add_shop("5", api_key="pk-5")
    with ServerThread(simulator.app) as server:
        yield server.url + "/api/v1"
    simulator.close()


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pancake: str) -> Iterator[str]:
    url = migrated_sqlite_url(tmp_path)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", pancake)
    for name in ("BRIDGE_REDIS_URL", "BRIDGE_PANCAKE_API_KEY", "BRIDGE_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    yield url
    get_settings.cache_clear()


def add(
    capsys: pytest.CaptureFixture[str], shop: str, key: str, *extra: str
) -> tuple[int, str, str]:
    argv = ["shops", "add", shop, "--api-key", key, "--webhook-secret", WEBHOOK_SECRET]
    return run(capsys, *argv, *extra)


def stored_key(url: str, shop: str) -> str:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            row = session.get(PancakeShop, shop)
            assert row is not None
            return SecretBox(SECRET_KEY).decrypt(row.api_key_enc)
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    try:
        return every_row(engine)
    finally:
        engine.dispose()


def test_a_refused_key_or_an_unknown_shop_is_not_saved_and_a_working_key_stays(
    database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # --offline saves a key unread (Pancake down, say): the only way a refused key is stored.
    code, out, _ = add(capsys, "5", "pk-unchecked", "--offline")
    assert (code, out.startswith("shop 5 saved (not checked: --offline)")) == (0, True)
    assert stored_key(database, "5") == "pk-unchecked"
    first = rows(database)

    code, out, err = add(capsys, "4", "pk-wrong")
    assert (code, out) == (2, "")
    assert err.startswith("error: Pancake refused the API key (HTTP 401): nothing was saved")
    assert "Cấu hình ứng dụng → API KEY" in err
    code, out, err = add(capsys, "99", "pk-4")
    assert (code, out) == (2, "")
    assert "Pancake has no shop 99 for this key (it opens shop 4)" in err
    assert rows(database) == first

    code, out, err = add(capsys, "4", "pk-4")
    assert (code, err) == (0, "")
    assert out.startswith("shop 4 saved (checked: 1 warehouse(s))")
    working = rows(database)

    # Another shop's key, then a wrong one: refused, the working key kept, nothing changed.
    code, _, err = run(capsys, "shops", "add", "4", "--api-key", "pk-5")
    assert code == 2
    assert "Pancake has no shop 4 for this key (it opens shop 5)" in err
    assert add(capsys, "4", "pk-wrong", "--trigger-status", "1")[0] == 2
    assert rows(database) == working
    assert stored_key(database, "4") == "pk-4"

    # Pancake down: nothing is wrong with what was typed (exit 1), and nothing is saved.
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", f"http://127.0.0.1:{free_port()}/api/v1")
    code, _, err = add(capsys, "5", "pk-5")
    assert code == 1
    assert "Pancake did not answer" in err
    assert "--offline" in err
    assert rows(database) == working


def test_a_shop_with_lines_in_flight_is_not_removed(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    order = sandbox.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    order_pk = reported_and_read(sandbox, order)  # its line waits to be bought: in flight
    before = every_row(sandbox.runtime.engine)

    code, out, err = run(capsys, "shops", "remove", sandbox.shop_id)

    assert (code, out) == (2, "")
    assert err.startswith(f"error: shop {sandbox.shop_id} has 1 line(s) in flight")
    assert f"bridge shops disable {sandbox.shop_id}" in err
    assert every_row(sandbox.runtime.engine) == before
    [shop] = [s for s in json_run(capsys, "shops", "list") if s["shop_id"] == sandbox.shop_id]
    assert (shop["enabled"], shop["in_flight"]) == (True, 1)

    # The order is cancelled in Pancake: its line ends unbought, and the shop can go.
    sandbox.pancake.set_status(sandbox.shop_id, order, 6)
    assert reported_and_read_again(sandbox, order) == order_pk
    code, out, _ = run(capsys, "shops", "remove", sandbox.shop_id)
    assert (code, out.strip()) == (
        0,
        f"shop {sandbox.shop_id} removed; its orders, purchase records and mappings are kept",
    )
    assert json_run(capsys, "shops", "list") == []
    assert [line.state for line in sandbox.fulfilments(order)] == [FulfilmentState.CANCELLED]
    assert run(capsys, "shops", "remove", sandbox.shop_id)[0] == 1  # not found


def reported_and_read_again(world: Sandbox, order_id: str) -> int:
    from datetime import timedelta

    from bridge.db import utcnow
    from workers.fulfilment.intake import intake
    from workers.fulfilment.reported import order_reported

    with session_scope(world.runtime.engine) as session:
        found = session.exec(select(Order).where(Order.order_id == order_id)).one()
        _, sends = order_reported(
            session.connection(),
            world.shop_id,
            order_id,
            status=6,
            item_count=1,
            triggers=[1],
            now=utcnow(),
            lease=timedelta(seconds=30),
        )
        assert found.id is not None
        order_pk = found.id
    for send in sends:
        intake(world.runtime.ctx, send.entity_id)
    return order_pk


def json_run(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    code, out, err = run(capsys, *argv, "--json")
    assert (code, err) == (0, "")
    found: list[dict[str, object]] = json.loads(out)
    return found


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The standard world with its workers, whose database the command line opens too."""
    url = migrated_sqlite_url(tmp_path)
    running = build_world(Sandbox(fast_settings(url), secret_key=SECRET_KEY)).start()
    monkeypatch.setenv("BRIDGE_DATABASE_URL", url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", running.runtime.settings.pancake_base_url)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    try:
        yield running
    finally:
        get_settings.cache_clear()
        running.stop()


def order_row(world: Sandbox, order_id: str) -> Order | None:
    with session_scope(world.runtime.engine) as session:
        found = session.exec(select(Order).where(Order.order_id == order_id)).first()
        session.expunge_all()
    return found


def synced_shops(world: Sandbox) -> set[str]:
    report = run_sync(world.runtime.ctx, trigger="test", dry_run=True)
    return {row.shop_id for row in report.rows}


def test_a_disabled_shop_records_its_orders_buys_nothing_and_buys_them_once_enabled(
    world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    shop = world.shop_id
    caoshop = world.suppliers["caoshop-sim"]
    first = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    manual = world.place_order([{"variation_id": CHATGPT, "quantity": 1}], bill_email="k@e.vn")
    world.wait_settled(first, lines=1, final=True)
    world.wait_for(
        lambda: [line.state for line in world.fulfilments(manual)] == [FulfilmentState.PURCHASED],
        what="the manual plan bought, its credentials awaited",
    )
    assert synced_shops(world) == {shop}

    code, out, _ = run(capsys, "shops", "disable", shop)
    assert (code, out.splitlines()) == (
        0,
        [
            f"shop {shop}: disabled; its orders are recorded, not bought",
            "1 line(s) taken in before go on: their credentials still reach the orders",
        ],
    )
    assert run(capsys, "shops", "disable", shop)[1].startswith(f"shop {shop}: already disabled")

    held = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    world.wait_for(
        lambda: (row := order_row(world, held)) is not None and row.state == OrderState.SKIPPED,
        what="the disabled shop's order recorded as skipped",
    )
    with session_scope(world.runtime.engine) as session:
        stored = session.exec(select(WebhookEvent).where(WebhookEvent.order_id == held)).all()
    assert stored, "its webhook is stored"
    [listed] = [o for o in json_run(capsys, "orders", "list") if o["order_id"] == held]
    assert str(listed["last_error"]).startswith("skipped: the shop is disabled, nothing bought")
    assert world.fulfilments(held) == []
    assert purchases_per_plan(world) == {319: 1, 320: 1}, "nothing bought for it"
    # Neither the catch-up nor the stock sync calls Pancake for it.
    assert [s for s in due_catchups(world.runtime.ctx) if s.actor == CATCHUP] == []
    with session_scope(world.runtime.engine) as session:
        catchup_id = session.exec(select(ShopCatchUp.id).where(ShopCatchUp.shop_id == shop)).one()
    assert catchup_id is not None
    listed_before = world.pancake.count_calls("GET", f"/shops/{shop}/orders")
    assert catch_up(world.runtime.ctx, catchup_id) == []
    assert world.pancake.count_calls("GET", f"/shops/{shop}/orders") == listed_before
    assert synced_shops(world) == set()
    code, out, _ = run(capsys, "doctor", "--json")
    [check] = [c for c in json.loads(out)["checks"] if c["check"] == f"shop {shop} key"]
    assert (check["unknown"], check["detail"].split(":")[0]) == (True, "disabled")

    # A line in flight keeps the shop; the manual plan's credentials still reach its order.
    code, _, err = run(capsys, "shops", "remove", shop)
    assert code == 2
    assert "1 line(s) in flight" in err
    caoshop.complete_pending()
    world.wait_settled(manual, lines=1, final=True)
    (done,) = world.fulfilments(manual)
    assert done.state == FulfilmentState.ANNOTATED, done.reason

    # Enabled again: the order held meanwhile is read again and bought, once.
    code, out, _ = run(capsys, "shops", "enable", shop)
    assert (code, out.splitlines()) == (
        0,
        [
            f"shop {shop}: enabled",
            "1 order(s) skipped while it was disabled will be read again and bought",
        ],
    )
    (bought,) = world.wait_settled(held, lines=1, final=True)
    assert bought.state == FulfilmentState.ANNOTATED, bought.reason
    assert purchases_per_plan(world) == {319: 2, 320: 1}
    assert run(capsys, "shops", "enable", shop)[1].strip() == f"shop {shop}: already enabled"

    # Removed once nothing is in flight: every purchase record stays.
    with session_scope(world.runtime.engine) as session:
        lines = session.exec(select(Fulfilment).order_by(col(Fulfilment.id))).all()
        attempts = session.exec(select(PurchaseAttempt).order_by(col(PurchaseAttempt.id))).all()
        kept = ([line.model_dump() for line in lines], [a.model_dump() for a in attempts])
    assert len(kept[0]) == 3
    assert run(capsys, "shops", "remove", shop)[0] == 0
    with session_scope(world.runtime.engine) as session:
        lines = session.exec(select(Fulfilment).order_by(col(Fulfilment.id))).all()
        attempts = session.exec(select(PurchaseAttempt).order_by(col(PurchaseAttempt.id))).all()
        assert ([line.model_dump() for line in lines], [a.model_dump() for a in attempts]) == kept
        assert session.get(PancakeShop, shop) is None
