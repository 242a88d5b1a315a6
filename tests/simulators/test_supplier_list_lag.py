"""The supplier simulator's ``list_lag_seconds``: a shop whose ``orders/list`` shows a new order
only a while after it committed it, or never, as settling must be ready for."""

from __future__ import annotations

import httpx

from bridge.dev.simulators.control import supplier_app
from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.web.server import ServerThread

AUTH = {"X-API-Key": DEMO_API_KEY, "X-API-Secret": DEMO_API_SECRET}
PLAN = 5


def listed(http: httpx.Client) -> list[str]:
    answer = http.get("/api/v1/orders/list", headers=AUTH)
    assert answer.status_code == 200, answer.text
    return [order["trans_id"] for order in answer.json()["data"]["orders"]]


def test_an_order_bought_is_listed_only_once_the_lag_has_passed() -> None:
    sim = SupplierSimulator()
    sim.add_plan(PLAN, name="Netflix 1 tháng", product_name="Netflix Premium", stock=10)
    server = ServerThread(supplier_app(sim)).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            assert http.post("/_control/switches", json={"list_lag_seconds": -1}).status_code == 400
            switched = http.post("/_control/switches", json={"list_lag_seconds": 1e9})
            assert switched.status_code == 200, switched.text

            created = http.post(
                "/api/v1/orders/create",
                headers=AUTH,
                json={"items": [{"plan_id": PLAN, "quantity": 1}]},
            )
            [order] = created.json()["data"]["orders"]

            assert listed(http) == [], "bought, not listed yet"
            assert [p.trans_id for p in sim.ledger] == [order["trans_id"]]
            status = http.get(
                "/api/v1/orders/status", headers=AUTH, params={"trans_id": order["trans_id"]}
            )
            assert status.status_code == 200, "orders/status knows it all along"

            assert http.post("/_control/switches", json={"list_lag_seconds": 0}).status_code == 200
            assert listed(http) == [order["trans_id"]]
    finally:
        server.stop()
