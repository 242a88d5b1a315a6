"""No purchase at a loss unnoticed, end to end: a choice the stock sync's last catalogue read
prices above its max cost (default: the item's Pancake retail price) is never bought; the line
takes its next choice, or waits for a person told "price rose from 75,000 to 120,000"; and what
each purchase really cost is shown against its choice (`bridge mappings show`, the console).

The choices are saved as an operator saves them, with `bridge mappings add|edit`, which reads the
supplier's catalogue: that price is the "from" of a rise.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.cli import main
from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.settings import get_settings
from bridge.states import FulfilmentState
from bridge.supplier.models import PlanShelf
from bridge.web.console.users import set_user
from tests.conftest import Backend, fast_settings
from tests.e2e.world import CAOSHOP, NETFLIX, SHOPKEY
from tests.web.console.conftest import PASSWORD, USER, csrf_token, log_in
from workers.stock.sync import run_exclusive

CREATE = ("POST", "/api/v1/orders/create")
NETFLIX_NAME = "Netflix Premium 1 tháng"


def build(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """Caoshop's plan 319 at 75,000 and shopkey's plan 78 at 90,000 sell the Netflix variation,
    which the shop sells at 100,000. Nothing is mapped yet: the test maps it as an operator,
    through the command line on the same database."""
    key = secrets.token_urlsafe(32)
    monkeypatch.setenv("BRIDGE_CONSOLE_INSECURE_COOKIES", "true")  # httpx over plain http
    sandbox = Sandbox(fast_settings(backend.database_url), secret_key=key, broker=backend.broker)
    caoshop = sandbox.add_supplier(CAOSHOP, SupplierSimulator(dialect="full", name=CAOSHOP))
    caoshop.add_plan(319, name=NETFLIX_NAME, price=75_000, stock=50)
    shopkey = sandbox.add_supplier(SHOPKEY, SupplierSimulator(dialect="short", name=SHOPKEY))
    shopkey.add_plan(78, name=NETFLIX_NAME, price=90_000, stock=50)
    sandbox.pancake.add_variation(sandbox.shop_id, NETFLIX, name=NETFLIX_NAME, retail_price=100_000)
    monkeypatch.setenv("BRIDGE_DATABASE_URL", backend.database_url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", key)
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", sandbox.runtime.settings.pancake_base_url)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    return sandbox.start()


@pytest.fixture
def priced(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    sandbox = build(backend, monkeypatch)
    try:
        yield sandbox
    finally:
        get_settings.cache_clear()
        sandbox.stop()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def shown(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(
        cli(capsys, "mappings", "show", "--variation", NETFLIX, "--json")
    )
    return document


def map_netflix(capsys: pytest.CaptureFixture[str], *, second: bool) -> None:
    """Choice 1: caoshop 319 (checked at 75,000, no max cost of its own: the retail price);
    choice 2, when ``second``: shopkey 78, tried after it."""
    where = ["--shop", "4", "--variation", NETFLIX]
    out = cli(capsys, "mappings", "add", *where, "--supplier", CAOSHOP, "--plan", "319")
    assert f"checked: {NETFLIX_NAME}, 75,000" in out
    if second:
        add = ["--supplier", SHOPKEY, "--plan", "78", "--priority", "1", "--max-cost", "95000"]
        assert "checked" in cli(capsys, "mappings", "add", *where, *add)


def price_rises(sandbox: Sandbox, price: float) -> None:
    """Caoshop raises plan 319's price, and the stock sync reads the catalogue."""
    sandbox.suppliers[CAOSHOP].add_plan(319, name=NETFLIX_NAME, price=price, stock=50)
    run_exclusive(sandbox.runtime.ctx, trigger="test")
    with session_scope(sandbox.runtime.engine) as session:
        shelf = session.get(PlanShelf, (CAOSHOP, 319))
        assert shelf is not None
        assert shelf.final_price == price, "the purchase step reads the price from here"


def test_a_plan_dearer_than_its_max_cost_is_not_bought_and_the_next_choice_is(
    priced: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    caoshop, shopkey = priced.suppliers[CAOSHOP], priced.suppliers[SHOPKEY]
    map_netflix(capsys, second=True)
    price_rises(priced, 120_000)

    order_id = priced.place_order([{"variation_id": NETFLIX, "quantity": 1}])

    [line] = priced.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    assert (line.supplier_name, line.plan_id) == (SHOPKEY, 78)
    assert caoshop.calls.count(CREATE) == 0, "no request spent on a plan priced above its max"
    assert caoshop.ledger == []
    [bought] = shopkey.ledger
    assert bought.amount == 90_000
    assert priced.note(order_id).count(bought.items[0]) == 1

    first, second = shown(capsys)["choices"]
    assert (first["plan_id"], first["max_cost"], first["checked_price"]) == (319, None, 75_000)
    assert first["last_paid"] is None
    assert (second["plan_id"], second["max_cost"], second["checked_price"]) == (78, 95_000, 90_000)
    assert second["last_paid"]["amount"] == 90_000
    assert (second["last_paid"]["items"], second["last_paid"]["trans_id"]) == (1, bought.trans_id)
    text = cli(capsys, "mappings", "show", "--variation", NETFLIX)
    assert f"90,000 for 1 item ({bought.trans_id}" in text
    assert "never bought" in text


def test_with_no_other_choice_the_line_waits_for_a_person_told_of_the_rise(
    priced: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    caoshop = priced.suppliers[CAOSHOP]
    map_netflix(capsys, second=False)
    price_rises(priced, 120_000)

    order_id = priced.place_order([{"variation_id": NETFLIX, "quantity": 2}])

    [line] = priced.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    reason = line.reason or ""
    assert reason.startswith(f"supplier {CAOSHOP} plan 319: price rose from 75,000 to 120,000")
    assert "above the max cost 100,000 (the Pancake retail price)" in reason
    assert caoshop.calls.count(CREATE) == 0
    assert caoshop.ledger == []

    # The operator accepts the new price: the choice is checked again at it, and bought.
    out = cli(capsys, "mappings", "edit", "--choice", "1", "--max-cost", "125000")
    assert "max_cost: - -> 125000 (checked" in out
    assert f"checked: {NETFLIX_NAME}, 120,000" in out
    assert "again; the next sweep picks it up" in cli(capsys, "fulfilments", "retry", str(line.id))
    [line] = priced.wait_settled(order_id, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    [bought] = caoshop.ledger
    assert (bought.plan_id, bought.quantity, bought.amount) == (319, 2, 240_000)

    [choice] = shown(capsys)["choices"]
    assert (choice["max_cost"], choice["checked_price"]) == (125_000, 120_000)
    assert choice["last_paid"]["amount"] == 240_000
    assert (choice["last_paid"]["items"], choice["last_paid"]["per_item"]) == (2, 120_000)


def test_the_console_shows_the_max_cost_and_what_was_paid(
    priced: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    map_netflix(capsys, second=True)
    with session_scope(priced.runtime.engine) as session:
        set_user(session, USER, PASSWORD, utcnow())
    order_id = priced.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = priced.wait_settled(order_id, lines=1, final=True)
    assert (line.state, line.supplier_name) == (FulfilmentState.ANNOTATED, CAOSHOP)
    [bought] = priced.suppliers[CAOSHOP].ledger
    price_rises(priced, 120_000)

    with httpx.Client(base_url=priced.bridge_url, timeout=30) as client:
        assert log_in(client).status_code == 303
        page = client.get(f"/admin/mappings/variation/{priced.shop_id}/{NETFLIX}")
        assert page.status_code == 200
        first, second = page.text.split('data-choice="')[1:3]
        assert f"75,000 for 1 item ({bought.trans_id}" in first
        assert "100,000 (retail price)" in first
        # As the purchases judge it: by the stock sync's last catalogue read.
        assert "Not bought: price rose from 75,000 to 120,000" in first
        assert "never bought" in second
        assert "95,000" in second
        assert "Not bought" not in second

        # The choice editor: a max cost as typed, refused with the reason, then saved.
        editor = "/admin/mappings/choice/1"
        assert 'name="max_cost"' in client.get(editor).text
        typed = {"supplier_name": CAOSHOP, "plan_id": "319", "units": "1", "priority": "0"}
        typed |= {"stock_sync": "on", "unchecked": "on"}
        refused = client.post(
            editor, data=typed | {"max_cost": "125,000", "csrftoken": csrf_token(client, editor)}
        )
        assert refused.status_code == 422
        assert "no separators" in refused.text
        assert 'value="125,000"' in refused.text, "what was typed comes back"
        saved = client.post(
            editor, data=typed | {"max_cost": "125000", "csrftoken": csrf_token(client, editor)}
        )
        assert saved.status_code == 303
    [first, _] = shown(capsys)["choices"]
    # Saved without a catalogue check: the price a rise is told from stays.
    assert (first["max_cost"], first["checked_price"]) == (125_000, 75_000)
    assert [h["after"]["max_cost"] for h in first["history"]][0] == 125_000


def test_an_operator_sets_and_clears_a_max_cost_and_the_csv_carries_it(
    priced: Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    map_netflix(capsys, second=True)
    refusals = {
        "--max-cost -5": "the max cost must be a positive amount",
        "--max-cost 5 --no-max-cost": "give --max-cost or --no-max-cost, not both",
    }
    for bad, said in refusals.items():
        assert main(["mappings", "edit", "--choice", "2", *bad.split()]) == 2
        assert said in capsys.readouterr().err
    out = cli(capsys, "mappings", "edit", "--choice", "2", "--no-max-cost")
    assert "max_cost: 95000 -> - (checked" in out
    out = cli(capsys, "mappings", "list", "--shop", "4")
    assert [line.split()[-2:] for line in out.strip().splitlines()[1:]] == [
        ["retail", "price"],
        ["retail", "price"],
    ]
    cli(capsys, "mappings", "edit", "--choice", "1", "--max-cost", "99500.5")
    cli(capsys, "mappings", "export", str(tmp_path / "mappings.csv"))
    exported = (tmp_path / "mappings.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert [row["max_cost"] for row in rows] == ["99500.5", ""]
    rows[1]["max_cost"] = "97000"
    with (tmp_path / "edited.csv").open("w", encoding="utf-8", newline="") as edited:
        writer = csv.DictWriter(edited, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert "1 edit (changed)" in cli(capsys, "mappings", "import", str(tmp_path / "edited.csv"))
    assert [c["max_cost"] for c in shown(capsys)["choices"]] == [99_500.5, 97_000]
