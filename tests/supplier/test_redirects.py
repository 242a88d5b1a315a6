"""A base URL that redirects (cloneviammo lives at ``www.``): refused, never followed.

Over real HTTP: one simulator redirects every request to a second one, the "www" host, which
would sell if it were ever reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.supplier.client import SupplierClient
from bridge.supplier.errors import SupplierRedirected, SupplierRefused
from bridge.supplier.schemas import OrderItem
from bridge.supplier.vocabulary import AUTH_CODES, FALLBACK_CODES, ErrorCode
from bridge.web.server import ServerThread

REDIRECTS = [301, 302, 307, 308]


@dataclass
class Hosts:
    bare: SupplierSimulator  # the base URL as configured, redirecting
    www: SupplierSimulator  # where it points
    bare_url: str
    www_url: str


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    bare, www = SupplierSimulator(name="bare"), SupplierSimulator(name="www")
    for sim in (bare, www):
        sim.add_plan(319, name="Netflix", price=1_000, stock=10)
    with ServerThread(bare.app) as bare_server, ServerThread(www.app) as www_server:
        bare.redirect_to = www_server.url + "/api/v1"
        yield Hosts(bare, www, bare_server.url + "/api/v1", www_server.url + "/api/v1")


Call = Callable[[SupplierClient], object]
CALLS: list[tuple[str, Call]] = [
    ("orders/create", lambda c: c.create_order([OrderItem(plan_id=319, quantity=1)])),
    ("orders/status", lambda c: c.order_status("PO123")),
    ("account/balance", lambda c: c.balance()),
]


@pytest.mark.parametrize("status", REDIRECTS)
@pytest.mark.parametrize(("endpoint", "call"), CALLS, ids=[name for name, _ in CALLS])
def test_a_redirect_is_refused_naming_the_base_url_to_use_and_is_never_followed(
    hosts: Hosts, status: int, endpoint: str, call: Call
) -> None:
    hosts.bare.redirect_status = status
    with SupplierClient(hosts.bare_url, DEMO_API_KEY, DEMO_API_SECRET) as client:
        with pytest.raises(SupplierRedirected) as caught:
            call(client)
        assert client.calls == 1, "one request, no retry: a redirect is not transient"

    exc = caught.value
    assert isinstance(exc, SupplierRefused), "the purchase step reads it as nothing bought"
    assert (exc.status, exc.error_code) == (status, ErrorCode.REDIRECTED)
    assert exc.location == f"{hosts.www_url}/{endpoint}"
    assert exc.base_url == hosts.www_url
    assert f"redirects to {hosts.www_url}: use that as the base URL" in str(exc)
    assert "PO123" not in str(exc), "the Location's query is not quoted"
    assert hosts.bare.calls == [
        ("POST" if endpoint == "orders/create" else "GET", f"/api/v1/{endpoint}")
    ]
    assert hosts.www.calls == [], "the redirect was not followed"
    assert hosts.bare.ledger == hosts.www.ledger == []


def test_the_redirect_code_rules_the_supplier_out_like_a_rejected_key() -> None:
    assert ErrorCode.REDIRECTED in AUTH_CODES
    assert ErrorCode.REDIRECTED in FALLBACK_CODES


def _answering(response: httpx.Response) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: response)


@pytest.mark.parametrize(
    ("headers", "location", "base_url"),
    [
        # Credentials in the Location never reach a message.
        (
            {"Location": f"https://u:pw@www.shop.test/api/v1/account/balance?key={DEMO_API_KEY}"},
            "https://www.shop.test/api/v1/account/balance",
            "https://www.shop.test/api/v1",
        ),
        # Relative, as a Location may be.
        (
            {"Location": "/v2/account/balance"},
            "https://shop.test/v2/account/balance",
            "https://shop.test/v2",
        ),
        # Somewhere that is not the API: no base URL to suggest, the target is named.
        ({"Location": "https://shop.test/login"}, "https://shop.test/login", None),
        ({}, None, None),
    ],
)
def test_the_location_is_quoted_without_secrets_and_read_for_the_base_url(
    headers: dict[str, str], location: str | None, base_url: str | None
) -> None:
    transport = _answering(httpx.Response(302, headers=headers))
    with SupplierClient(
        "https://shop.test/api/v1", DEMO_API_KEY, DEMO_API_SECRET, transport=transport
    ) as client:
        with pytest.raises(SupplierRedirected) as caught:
            client.balance()
    exc = caught.value
    assert (exc.location, exc.base_url) == (location, base_url)
    for secret in (DEMO_API_KEY, "pw", "key="):
        assert secret not in str(exc)
    assert "the base URL" in exc.message
