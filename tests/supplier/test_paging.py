"""Reading listings whole whatever the docs leave open: sort order of orders/list, paging of
products/list. Against the supplier simulator over real HTTP, set to each reading of the docs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest

from bridge.dev.simulators.supplier import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    ListOrder,
    SupplierSimulator,
)
from bridge.supplier.client import SupplierClient
from bridge.supplier.errors import ListingIncomplete
from bridge.supplier.schemas import OrderItem
from bridge.web.server import ServerThread

PLAN = 319
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def served() -> Iterator[tuple[SupplierSimulator, SupplierClient]]:
    sim = SupplierSimulator(dialect="full")
    for plan in range(1, 131):
        sim.add_plan(plan, name=f"Plan {plan}", price=1_000, stock=1_000)
    sim.add_plan(PLAN, name="Netflix", price=1_000, stock=1_000)
    with ServerThread(sim.app) as server:
        client = SupplierClient(server.url + "/api/v1", DEMO_API_KEY, DEMO_API_SECRET)
        yield sim, client
        client.close()


def buy(sim: SupplierSimulator, client: SupplierClient, orders: int) -> None:
    """``orders`` supplier orders, a minute apart on the supplier's clock, bought in one call."""
    minutes = count()
    sim.clock = lambda: START + timedelta(minutes=next(minutes))
    client.create_order([OrderItem(plan_id=PLAN, quantity=1) for _ in range(orders)])


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_orders_since_a_moment_are_all_found_in_either_list_order(
    served: tuple[SupplierSimulator, SupplierClient], order: ListOrder
) -> None:
    sim, client = served
    buy(sim, client, 350)
    sim.list_order = order
    since = START + timedelta(minutes=340)
    before = client.calls
    pages = list(client.iter_order_pages(since=since))
    found = {
        o.trans_id
        for page in pages
        for o in page.orders
        if o.created_at is not None and o.created_at >= since
    }
    expected = {p.trans_id for p in sim.ledger if p.created_at >= since}
    assert len(expected) == 10
    assert found == expected
    # The ten newest orders sit on one page at either end: at most the first page, the page
    # they are on and the one that reaches back past the moment.
    assert client.calls - before <= 3


@pytest.mark.parametrize("order", ["newest_first", "oldest_first"])
def test_without_a_moment_every_order_is_listed_once(
    served: tuple[SupplierSimulator, SupplierClient], order: ListOrder
) -> None:
    sim, client = served
    buy(sim, client, 250)
    sim.list_order = order
    listed = [o.trans_id for page in client.iter_order_pages() for o in page.orders]
    assert sorted(listed) == sorted(p.trans_id for p in sim.ledger)


def test_a_catalogue_whose_shop_ignores_paging_costs_one_call(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    sim.paging = "unpaged"
    before = client.calls
    plans = {plan.id for product in client.iter_products() for plan in product.plans}
    assert plans == set(range(1, 131)) | {PLAN}
    assert client.calls - before == 1


def test_a_shop_that_repeats_its_first_page_is_not_read_forever_nor_taken_for_whole(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    sim.paging = "ignores_page"
    before = client.calls
    with pytest.raises(ListingIncomplete, match="100 of 131"):
        list(client.iter_products())
    assert client.calls - before == 2, "the repeated page is seen on the second call"


def test_a_paged_catalogue_is_read_in_as_many_calls_as_it_has_pages(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    before = client.calls
    assert len(list(client.iter_product_pages())) == 2  # 131 products at 100 a page
    assert client.calls - before == 2
