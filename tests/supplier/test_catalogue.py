"""Reading a catalogue whole, or saying what could not be read (``bridge.supplier.catalogue``),
against the supplier simulator over real HTTP: a shop that pages, and the platform's own server
that serves its first ten products whatever is asked (``paging="first_ten"``), with its
categories listed, with ``categories/list`` empty (its bug), and with no categories at all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier.catalogue import MAX_CALLS, Catalogue, Route, read_catalogue
from bridge.supplier.client import SupplierClient
from bridge.supplier.errors import ListingIncomplete
from bridge.supplier.probe import Step, probe_supplier
from bridge.supplier.schemas import Product
from bridge.supplier.verdicts import OK, PROBLEM, Limits, judge_probe
from bridge.web.server import ServerThread

# 35 products of one plan each; plan ids 401..435, product ids 1..35.
NAMES = [
    "Netflix Premium",
    "Spotify Family",
    "YouTube Premium",
    "ChatGPT Plus",
    "Canva Pro",
    "Microsoft 365",
    "Adobe Creative Cloud",
    "Google One",
    "Zoom Pro",
    "Duolingo Super",
    "CapCut Pro",
    "Grammarly Premium",
    "Disney Plus",
    "Apple Music",
    "Tinder Gold",
    "LinkedIn Premium",
    "Coursera Plus",
    "Notion Plus",
    "Figma Professional",
    "Dropbox Plus",
    "NordVPN",
    "ExpressVPN",
    "Surfshark VPN",
    "Kaspersky Total",
    "Bitdefender Total",
    "Quizlet Plus",
    "Midjourney Basic",
    "Perplexity Pro",
    "Claude Pro",
    "Gemini Advanced",
    "Elsa Speak",
    "FPT Play",
    "VieON VIP",
    "Galaxy Play",
    "K+ Premium",
]
PLANS = range(401, 436)
# Past the first ten products: what the platform's server never lists unfiltered.
HIDDEN = (420, 427, 435)
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def plan_of(plan_id: int) -> str:
    return NAMES[plan_id - 401]


def stock(sim: SupplierSimulator, categories: dict[int, int] | None = None) -> None:
    """The 35 plans, each plan's product in ``categories[plan]`` when given."""
    for plan in PLANS:
        sim.add_plan(
            plan,
            name=f"{plan_of(plan)} 1 tháng",
            product_id=plan - 400,
            product_name=plan_of(plan),
            price=50_000,
            stock=plan - 400,
            category_id=(categories or {}).get(plan),
        )


def four_categories() -> dict[int, int]:
    """Plans spread over categories 1-4, 8 or 9 a category, every category among the first
    ten products."""
    return {plan: 1 + plan % 4 for plan in PLANS}


@pytest.fixture
def served() -> Iterator[tuple[SupplierSimulator, SupplierClient]]:
    sim = SupplierSimulator(real_server=True)
    for category in range(1, 5):
        sim.add_category(category, f"Danh mục {category}")
    with ServerThread(sim.app) as server:
        client = SupplierClient(server.url + "/api/v1", DEMO_API_KEY, DEMO_API_SECRET)
        yield sim, client
        client.close()


def calls(sim: SupplierSimulator, path: str) -> int:
    return sum(1 for _, called in sim.calls if called.endswith(path))


def assert_whole(catalogue: Catalogue) -> None:
    assert catalogue.complete
    assert set(catalogue) == set(PLANS)
    assert (catalogue.products, catalogue.listed, catalogue.gap) == (35, 35, "")
    assert catalogue[420].product_name == plan_of(420)
    assert catalogue[420].stock_count == 20


def test_a_shop_that_pages_is_read_in_one_call_a_page(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim, four_categories())

    catalogue = read_catalogue(client)

    assert_whole(catalogue)
    assert (catalogue.routes, catalogue.calls) == ((Route.PAGES,), 1)
    assert calls(sim, "/products/list") == 1
    assert calls(sim, "/categories/list") == 0


def test_the_first_ten_only_is_not_taken_for_the_whole_listing(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim)
    sim.switch(paging="first_ten")

    # One page of 100 asked, ten served, "has_more" false: only the total shows the rest.
    with pytest.raises(ListingIncomplete, match="10 of 35"):
        list(client.iter_products())


@pytest.mark.parametrize("listed", ["categories listed", "categories/list empty"])
def test_35_plans_in_4_categories_are_read_whole_per_category(
    served: tuple[SupplierSimulator, SupplierClient], listed: str
) -> None:
    sim, client = served
    stock(sim, four_categories())
    # With categories/list empty (the real server's bug), the categories come from the products.
    sim.switch(paging="first_ten", categories_list_empty=listed != "categories listed")

    catalogue = read_catalogue(client)

    assert_whole(catalogue)
    assert catalogue.routes == (Route.PAGES, Route.CATEGORIES)
    # The unfiltered listing, categories/list, then one listing per category.
    assert catalogue.calls == 6
    assert (calls(sim, "/products/list"), calls(sim, "/categories/list")) == (5, 1)


def test_a_shop_that_repeats_its_first_page_is_read_per_category(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    for plan in range(1, 151):  # 150 products, 50 in each of categories 1-3
        sim.add_plan(plan, name=f"Gói {plan}", category_id=1 + (plan - 1) // 50)
    sim.switch(paging="ignores_page")  # always the first page, of the size asked

    catalogue = read_catalogue(client)

    assert catalogue.complete
    assert set(catalogue) == set(range(1, 151))
    # Pages 1 and 2 (the same 100), categories/list, then category 3 first: none of its
    # products was on the page read.
    assert catalogue.calls == 2 + 1 + 1


def test_categories_are_found_through_the_products_listed_in_them(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    # Products 1-10 in category 1, 11-19 in 2, 20-28 in 3, 29-35 in 4; products 1, 11 and 20
    # are in the next category too (a product is in the categories of its plans): category 4 is
    # found three listings away from the first ten.
    stock(sim, {plan: 1 + (plan > 410) + (plan > 419) + (plan > 428) for plan in PLANS})
    for plan, product, also in ((500, 1, 2), (501, 11, 3), (502, 20, 4)):
        sim.add_plan(
            plan,
            name="extra",
            product_id=product,
            product_name=NAMES[product - 1],
            category_id=also,
        )
    sim.switch(paging="first_ten", categories_list_empty=True)

    catalogue = read_catalogue(client)

    assert catalogue.complete
    assert set(catalogue) == set(PLANS) | {500, 501, 502}
    # The listing, categories/list, then categories 2, 3 and 4, each named by the one before;
    # category 1 is never asked for: all its products were among the first ten.
    assert catalogue.calls == 5


def test_without_categories_search_finds_every_wanted_plan_within_the_budget(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim)  # no product has a category
    sim.switch(paging="first_ten", categories_list_empty=True)

    catalogue = read_catalogue(client, wanted={401, *HIDDEN})

    assert set(HIDDEN) <= set(catalogue)
    assert catalogue.unread == frozenset()
    assert Route.SEARCH in catalogue.routes
    searched = calls(sim, "/products/list") - 1
    assert catalogue.calls == 1 + 1 + searched <= MAX_CALLS
    # A later read by the same client searches the names the first one found: one call each.
    before = client.calls
    again = read_catalogue(client, wanted=HIDDEN)
    assert set(HIDDEN) <= set(again)
    assert again.calls == client.calls - before == 1 + 1 + len(HIDDEN)


def test_without_categories_the_whole_catalogue_is_read_by_search(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim)
    sim.switch(paging="first_ten", categories_list_empty=True)

    catalogue = read_catalogue(client)

    assert_whole(catalogue)
    assert catalogue.routes == (Route.PAGES, Route.SEARCH)
    assert catalogue.calls <= MAX_CALLS


def test_a_category_cut_short_is_completed_by_search(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim, {plan: 1 if plan < 420 else 2 for plan in PLANS})  # 19 and 16: both cut at ten
    sim.switch(paging="first_ten")

    catalogue = read_catalogue(client)

    assert_whole(catalogue)
    assert catalogue.routes == (Route.PAGES, Route.CATEGORIES, Route.SEARCH)


def test_a_plan_that_cannot_be_found_is_unread_not_vanished(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim)
    sim.switch(paging="first_ten", categories_list_empty=True)

    catalogue = read_catalogue(client, wanted={401, 435, 999}, max_calls=3)

    assert not catalogue.complete
    assert catalogue.calls == 3 == len(sim.calls)
    assert 401 in catalogue
    assert catalogue.unread == {435, 999}
    assert catalogue.unread_plan(435)
    assert catalogue.unread_plan(999)
    assert not catalogue.unread_plan(401)
    assert catalogue.gap.startswith(
        "products/list ignores paging (10 products listed); categories/list is empty"
    )
    assert catalogue.gap.endswith("stopped at 3 calls, the most one read spends")
    assert catalogue.describe().startswith("11 of 35 products, by search; 3 calls: ")

    # Read whole, a plan that is not in the catalogue is no longer sold: not "unread".
    whole = read_catalogue(client, wanted={999})
    assert whole.complete
    assert whole.unread == frozenset()
    assert not whole.unread_plan(999)


def test_a_refused_categories_list_still_reads_the_categories_products_name(
    served: tuple[SupplierSimulator, SupplierClient],
) -> None:
    sim, client = served
    stock(sim, four_categories())
    sim.switch(paging="first_ten")
    sim.refuse("PERMISSION_DENIED", path_contains="/categories/list")

    catalogue = read_catalogue(client)

    assert_whole(catalogue)
    assert catalogue.calls == 6


@pytest.mark.parametrize(
    ("given", "ids"),
    [
        ({"category": {"id": 3, "name": "A"}, "categories": [{"id": 3}, {"id": "5"}]}, (3, 5)),
        ({"categories": {"a": {"id": 7}}}, (7,)),  # PHP's keyed array, an object
        ({"category_id": "12"}, (12,)),
        ({"category_id": 0, "category": None}, ()),
        ({}, ()),
    ],
)
def test_a_products_categories_are_read_in_every_shape(
    given: dict[str, object], ids: tuple[int, ...]
) -> None:
    product = Product.model_validate({"id": 1, "name": "Netflix", **given})
    assert product.category_ids == ids


@pytest.mark.parametrize("categories", ["four categories", "none"])
def test_suppliers_check_says_how_the_catalogue_was_read(categories: str) -> None:
    sim = SupplierSimulator(real_server=True)
    if categories == "none":
        # 400 products no search narrows below ten in the calls a read may spend.
        for plan in range(401, 801):
            sim.add_plan(plan, name=f"Gói {plan}", product_id=plan - 400)
        sim.switch(categories_list_empty=True)
    else:
        stock(sim, four_categories())
    sim.switch(paging="first_ten")

    with ServerThread(sim.app) as server:
        url = server.url + "/api/v1"
        probe = probe_supplier(url, DEMO_API_KEY, DEMO_API_SECRET, steps=[Step.CATALOGUE])
    verdict = judge_probe("realshop", probe, enabled=True, limits=Limits(60, 10_000), now=NOW)

    [line] = [line for line in verdict.lines if line.check == "catalogue"]
    if categories == "none":
        assert line.status == PROBLEM
        assert line.detail.startswith("10 plans (10 instant) in 10 products: read in part (")
        assert "stopped at 30 calls" in line.detail
        assert verdict.values["catalogue_complete"] is False
    else:
        assert line.status == OK
        assert line.detail == (
            "35 plans (35 instant) in 35 products, read by categories (the shop ignores paging)"
        )
