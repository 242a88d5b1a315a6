"""A supplier whose ``products/list`` ignores paging (the platform's own server: its first ten
products whatever is asked, ``pagination`` counting them all) is read whole per category, or
by search when ``categories/list`` answers empty; a mapped plan that could not be read is said
so by ``bridge mappings check`` and ``bridge stock sync``, never taken for a vanished one nor
left unsaid. On each backend, through the command line, against the simulators over HTTP."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.cli import main
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.settings import get_settings
from tests.conftest import Backend, fast_settings
from tests.supplier.test_catalogue import HIDDEN, four_categories, stock

SUPPLIER = "realshop"
RATE_LIMIT = 1_000
# Variation -> plan: one plan among the first ten products, the rest past them.
MAPPED = {"v-401": 401} | {f"v-{plan}": plan for plan in HIDDEN}


@pytest.fixture
def world(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """One shop and one supplier that answers as the platform's server does, its products past
    the first ten mapped; the command line opens the same database and simulated Pancake."""
    key = secrets.token_urlsafe(32)
    # A limit the reads of several commands in a row stay under (the budget is tested apart),
    # and the bridge told so: catalogue reads are paced one call's spacing apart, a second each
    # at the default 60 a minute.
    settings = fast_settings(backend.database_url, supplier_rate_limit=RATE_LIMIT)
    sandbox = Sandbox(settings, secret_key=key, broker=backend.broker)
    sim = SupplierSimulator(real_server=True, rate_limit_per_minute=RATE_LIMIT, name=SUPPLIER)
    sandbox.add_supplier(SUPPLIER, sim)
    sim.switch(paging="first_ten")
    for variation, plan in MAPPED.items():
        sandbox.map(variation, supplier=SUPPLIER, plan_id=plan)
    sandbox.start(workers=False)
    sandbox.pancake.send_webhooks = False
    monkeypatch.setenv("BRIDGE_DATABASE_URL", backend.database_url)
    monkeypatch.setenv("BRIDGE_SECRET_KEY", key)
    monkeypatch.setenv("BRIDGE_SUPPLIER_RATE_LIMIT", str(RATE_LIMIT))
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", sandbox.runtime.settings.pancake_base_url)
    monkeypatch.delenv("BRIDGE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        yield sandbox
    finally:
        get_settings.cache_clear()
        sandbox.stop()


def supplier(world: Sandbox) -> SupplierSimulator:
    return world.suppliers[SUPPLIER]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """A command with ``--json``: its exit code, its report and what it said on stderr."""
    code = main([*argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out), err


def problems(report: dict[str, Any]) -> dict[int, list[str]]:
    return {row["plan_id"]: row["problems"] for row in report["rows"]}


def requests(world: Sandbox, path: str) -> int:
    return sum(1 for _, called in supplier(world).calls if called.endswith(path))


def test_a_catalogue_in_four_categories_is_read_per_category_for_its_mapped_plans(
    world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    for category in range(1, 5):
        supplier(world).add_category(category, f"Danh mục {category}")
    stock(supplier(world), four_categories())

    code, report, err = run(capsys, "mappings", "check")

    assert code == 0
    assert problems(report) == {plan: [] for plan in MAPPED.values()}
    assert {row["plan_id"]: row["stock"] for row in report["rows"]} == {
        plan: plan - 400 for plan in MAPPED.values()
    }
    # The listing, categories/list, then the two categories that hold the mapped plans past
    # the first ten (read first: fewer of their products were on that page); the other two
    # are not asked for. The rest of the catalogue is a gap, said as such.
    assert report["supplier_calls"] == {SUPPLIER: 4}
    assert (requests(world, "/products/list"), requests(world, "/categories/list")) == (3, 1)
    gap = (
        "23 of 35 products, by categories; 4 calls: products/list ignores paging (10 products "
        "listed); categories/list names 4; 2 categories read"
    )
    assert report["catalogue_gaps"] == {SUPPLIER: gap}
    assert err == (
        f"supplier {SUPPLIER}'s catalogue could be read only in part (every mapped plan "
        f"found): {gap}\n"
    )

    # Stock past the first ten products reaches Pancake: the balance, then the same 4 calls.
    code, synced, _ = run(capsys, "stock", "sync")
    assert {
        variation: world.pancake.remain_quantity(world.shop_id, variation) for variation in MAPPED
    } == {variation: plan - 400 for variation, plan in MAPPED.items()}
    assert synced["supplier_calls"] == 5
    # Every mapped plan was read: nothing is unread, so the sync has nothing to complain of.
    assert (code, synced["errors"]) == (0, [])


def test_with_an_empty_categories_list_search_finds_every_mapped_plan(
    world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    stock(supplier(world))  # no product names a category
    supplier(world).switch(categories_list_empty=True)

    code, report, err = run(capsys, "mappings", "check")

    assert code == 0
    assert problems(report) == {plan: [] for plan in MAPPED.values()}
    # The listing, categories/list, then searches (single letters, rare ones first) until every
    # mapped plan was found: 7 searches, where reading all 35 products would take 16.
    assert report["supplier_calls"] == {SUPPLIER: 9}
    assert (requests(world, "/products/list"), requests(world, "/categories/list")) == (8, 1)
    # Only the mapped plans were looked for: the rest of the catalogue is a gap, said as such.
    assert report["catalogue_gaps"] == {
        SUPPLIER: "24 of 35 products, by search; 9 calls: products/list ignores paging (10 "
        "products listed); categories/list is empty; 7 searches"
    }
    assert err == (
        f"supplier {SUPPLIER}'s catalogue could be read only in part (every mapped plan "
        "found): "
        f"{report['catalogue_gaps'][SUPPLIER]}\n"
    )


def test_a_plan_that_cannot_be_read_is_reported_not_vanished(
    world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    sim = supplier(world)
    # 400 products with no category and names no search narrows below ten in 30 calls.
    for plan in range(401, 801):
        sim.add_plan(plan, name=f"Gói {plan}", product_id=plan - 400, stock=plan - 400)
    sim.switch(categories_list_empty=True)

    code, report, err = run(capsys, "mappings", "check")

    assert code == 1
    found = problems(report)
    assert found[401] == []
    unread = [plan for plan in HIDDEN if found[plan] == ["plan_unread"]]
    assert unread, "a mapped plan past what 30 calls can read"
    assert all(found[plan] in ([], ["plan_unread"]) for plan in HIDDEN)
    [detail] = next(r["details"] for r in report["rows"] if r["plan_id"] == unread[0])
    assert detail.startswith(f"plan {unread[0]} is not in what could be read of the catalogue (")
    assert detail.endswith(" of 400 products read): not verified")
    assert report["supplier_calls"] == {SUPPLIER: 30}
    assert SUPPLIER in report["catalogue_gaps"]
    assert "stopped at 30 calls" in report["catalogue_gaps"][SUPPLIER]
    assert (
        f"supplier {SUPPLIER}'s catalogue could be read only in part ({len(unread)} mapped "
        "plan(s) not found): 10 of 400 products" in err
    )

    # The stock sync says it of each such plan too, and still syncs the plans it could read.
    code, synced, _ = run(capsys, "stock", "sync")
    assert code == 1
    assert world.pancake.remain_quantity(world.shop_id, "v-401") == 1
    [said] = synced["errors"]
    assert said.startswith(f"supplier {SUPPLIER}: catalogue read in part (10 of 400 products")
    assert said.endswith("plans unread: " + ", ".join(map(str, unread)))
    rows = {row["variation_id"]: row for row in synced["rows"]}
    for plan in unread:
        assert rows[f"v-{plan}"]["supplier_stock"] == f"{SUPPLIER}/{plan}: unread"
        assert rows[f"v-{plan}"]["new"] is None  # Pancake keeps its value until it is stale
