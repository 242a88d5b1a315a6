"""Reading GET /shops/<id>/orders whole: the documented filters, and every paging the docs allow.

Against the Pancake simulator over real HTTP (its ``paging`` and ``list_order`` switches), and
against httpx.MockTransport for answers no simulator switch gives.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from bridge.dev.simulators.pancake import PancakeSimulator
from bridge.pancake.client import PancakeClient
from bridge.pancake.errors import PancakeRequestError
from bridge.pancake.schemas import OrderPage
from bridge.web.server import ServerThread

SHOP = "4"
API_KEY = "pos-key-1234567890"


@pytest.fixture
def served() -> Iterator[tuple[PancakeSimulator, str]]:
    """A simulator with one shop, served over HTTP, and its API root."""
    sim = PancakeSimulator()
    sim.add_shop(SHOP, api_key=API_KEY)
    server = ServerThread(sim.app).start()
    try:
        yield sim, server.url + "/api/v1"
    finally:
        sim.close()
        server.stop()


@pytest.fixture
def simulator(served: tuple[PancakeSimulator, str]) -> PancakeSimulator:
    return served[0]


@pytest.fixture
def client(served: tuple[PancakeSimulator, str]) -> Iterator[PancakeClient]:
    with PancakeClient(served[1], API_KEY, retry_base=0.01) as pancake:
        yield pancake


def read_all(client: PancakeClient, since: datetime) -> list[str]:
    return [
        order.id for page in client.iter_updated_orders(SHOP, since=since) for order in page.orders
    ]


def an_hour_ago() -> datetime:
    return datetime.now(UTC) - timedelta(hours=1)


def test_the_request_is_the_documented_one_in_unix_seconds(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    since = datetime(2026, 11, 30, 17, 0, 0, 900_000, tzinfo=UTC)
    page = client.list_orders(SHOP, updated_since=since)

    assert page.orders == []
    [query] = simulator.order_queries
    assert query == {
        "updateStatus": "updated_at",
        "startDateTime": str(int(datetime(2026, 11, 30, 17, tzinfo=UTC).timestamp())),
        "page_number": "1",
        "page_size": "100",
    }
    # A naive moment would be read in the host's own zone: refused before any call.
    with pytest.raises(ValueError, match="timezone-aware"):
        client.list_orders(SHOP, updated_since=since.replace(tzinfo=None))


def test_only_orders_updated_since_the_moment_are_listed(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    now = datetime.now(UTC)
    simulator.clock = lambda: now - timedelta(days=2)
    old = simulator.create_order(SHOP, items=[])
    touched = simulator.create_order(SHOP, items=[])
    simulator.clock = lambda: now
    simulator.set_status(SHOP, touched, 1)  # updated now, inserted two days ago
    fresh = simulator.create_order(SHOP, items=[{"quantity": 2}, {"quantity": 1}])

    pages = list(client.iter_updated_orders(SHOP, since=now - timedelta(minutes=5)))

    [page] = pages
    assert {order.id for order in page.orders} == {touched, fresh}
    assert old not in {order.id for order in page.orders}
    by_id = {order.id: order for order in page.orders}
    assert (by_id[touched].status, by_id[fresh].item_count) == (1, 2)


@pytest.mark.parametrize("list_order", ["newest_first", "oldest_first"])
def test_every_page_is_read_in_either_sort_order(
    simulator: PancakeSimulator, client: PancakeClient, list_order: Any
) -> None:
    created = [simulator.create_order(SHOP, items=[]) for _ in range(250)]
    simulator.list_order = list_order

    seen = read_all(client, an_hour_ago())

    assert client.calls == 3

    assert sorted(seen) == sorted(created)


def test_a_quiet_shop_costs_one_call(simulator: PancakeSimulator, client: PancakeClient) -> None:
    assert read_all(client, an_hour_ago()) == []
    assert client.calls == 1


def test_a_pancake_that_answers_everything_at_once_is_read_whole(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    created = [simulator.create_order(SHOP, items=[]) for _ in range(130)]
    simulator.paging = "unpaged"

    seen = read_all(client, an_hour_ago())

    # No paging fields and a full page: page 2 is asked for, and repeats page 1.
    assert client.calls == 2

    assert sorted(seen) == sorted(created)


def test_a_pancake_that_ignores_page_number_is_not_taken_for_whole(
    simulator: PancakeSimulator, client: PancakeClient
) -> None:
    for _ in range(130):
        simulator.create_order(SHOP, items=[])
    simulator.paging = "ignores_page"
    pages: list[OrderPage] = []

    with pytest.raises(PancakeRequestError) as raised:
        pages.extend(client.iter_updated_orders(SHOP, since=an_hour_ago()))

    assert "ignores paging: 100 of 130 orders" in str(raised.value)
    assert [len(page.orders) for page in pages] == [100], "what was read is still handed over"


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> PancakeClient:
    return PancakeClient(
        "https://pos.example/api/v1", API_KEY, transport=httpx.MockTransport(handler)
    )


def _page(rows: list[dict[str, Any]], **paging: Any) -> httpx.Response:
    return httpx.Response(200, json={"success": True, "data": rows, **paging})


def test_pages_without_paging_fields_end_at_a_short_page() -> None:
    answers = iter([_page([{"id": n} for n in range(100)]), _page([{"id": "last"}])])
    with mock_client(lambda request: next(answers)) as client:
        assert len(read_all(client, an_hour_ago())) == 101
        assert client.calls == 2


def test_a_listing_that_never_ends_stops_at_the_cap() -> None:
    def endless(request: httpx.Request) -> httpx.Response:
        number = int(request.url.params["page_number"])
        return _page([{"id": f"{number}-{n}"} for n in range(100)], page_number=number)

    with mock_client(endless) as client:
        with pytest.raises(PancakeRequestError, match="more than 5 pages"):
            list(client.iter_updated_orders(SHOP, since=an_hour_ago(), max_pages=5))
        assert client.calls == 5


def test_one_odd_order_does_not_make_a_page_unreadable() -> None:
    rows: list[dict[str, Any]] = [
        {"id": 1, "status": 1, "items": [{"variation_id": "v"}]},
        {"id": "AF1", "items": None},
    ]
    with mock_client(lambda request: _page(rows, total_pages=1)) as client:
        [page] = client.iter_updated_orders(SHOP, since=an_hour_ago())
    assert [(o.id, o.status, o.item_count) for o in page.orders] == [("1", 1, 1), ("AF1", None, 0)]
