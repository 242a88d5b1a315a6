"""A Pancake POS stand-in, written from the API docs and what production is known to do.

Serves the calls the bridge makes (orders GET/PUT, the order list, warehouses, variations,
update_quantity, the shop list and its webhook configuration) under ``/api/v1``, and sends
webhooks the way Pancake
does: the object itself as a **flat** body with a top-level ``"type"``, one at a time in the order
the changes happened, and the order webhook again after **every** change to an order, including a
PUT made by the bridge.

Switches reproduce what real shops do beyond the docs (all off by default, see DESIGN.md §4):
``put_mode`` and locked orders (what a PUT does), ``reserve_stock`` (creating an order lowers the
sellable stock and sends the stock webhook), ``send_webhook_headers`` (Pancake sending no custom
header), ``ping_on_webhook_save`` (the ``{"test": true}`` ping). Old orders, bulk status changes,
item edits, partial returns, label-less status 19 and a warehouse that takes no orders are
methods and keywords.

The app is driven from test threads while uvicorn serves it, so all state sits behind one lock.
"""

from __future__ import annotations

import copy
import hmac
import itertools
import json
import queue
import random
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Literal, NamedTuple

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

API_PREFIX = "/api/v1"

STATUS_NAMES: dict[int, str] = {
    0: "new",
    17: "waiting_confirmation",
    11: "waiting_goods",
    20: "ordered",
    1: "submitted",
    12: "waiting_print",
    13: "printed",
    8: "packing",
    9: "waiting_shipment",
    2: "shipped",
    3: "delivered",
    16: "money_received",
    4: "returning",
    15: "partly_returned",
    5: "returned",
    6: "cancelled",
    7: "deleted",
}
# Codes seen in live data that no doc names: an order may hold one, with no ``status_name``.
UNLABELLED_STATUSES = frozenset({19})
STATUS_CODES = frozenset(STATUS_NAMES) | UNLABELLED_STATUSES
# An order in one of these holds no reserved stock (cancelled, deleted).
_RELEASING_STATUSES = frozenset({6, 7})

WEBHOOK_TYPES = ("orders", "customers", "variations_warehouses")

# Set by Pancake, never by a PUT body.
_READ_ONLY_ORDER_KEYS = frozenset({"id", "shop_id", "inserted_at", "updated_at", "status_name"})

Handler = Callable[[Request, "_Shop"], Awaitable[Response]]
# What the docs leave open about GET /shops/<id>/orders; tests flip them. The docs give no sort
# order: "newest_first" or "oldest_first" by the time ``updateStatus`` filters on. They show the
# paging fields but promise nothing: "honoured" pages as asked; "ignores_page" always answers the
# first page (of the asked size) as page 1; "unpaged" answers every order, with no paging fields.
ListOrder = Literal["newest_first", "oldest_first"]
Paging = Literal["honoured", "ignores_page", "unpaged"]
# What PUT /shops/<id>/orders/<id> does with the body (the docs' example is a whole order, and
# integrations send a partial one): "merge" changes the fields the body names; "replace" takes
# the body as the whole order, so what it omits is lost (a careless server could do that).
PutMode = Literal["merge", "replace"]
# How far apart add_old_orders places the orders it makes, by default.
_OLD_ORDER_SPACING = timedelta(minutes=1)
# The times ``updateStatus`` may name that the simulator keeps (the docs list more).
_LISTING_TIMES = frozenset({"inserted_at", "updated_at"})


class WebhookDelivery(NamedTuple):
    """One webhook sent: ``result`` is the HTTP status, or the error when none came back."""

    type: str
    ref_id: str
    result: int | str


@dataclass
class _Shop:
    shop_id: str
    api_key: str
    warehouses: list[dict[str, Any]]
    webhook: dict[str, Any]
    name: str = ""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    variations: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Stock each order created with ``reserve_stock`` holds: (variation, warehouse) -> units.
    holds: dict[str, dict[tuple[str, str], int]] = field(default_factory=dict)


@dataclass
class _Fault:
    status: int
    remaining: int
    path_contains: str | None
    retry_after: int | None
    query_contains: str | None = None

    def matches(self, path: str, query: str) -> bool:
        return (self.path_contains is None or self.path_contains in path) and (
            self.query_contains is None or self.query_contains in query
        )


@dataclass(frozen=True)
class _Outgoing:
    url: str
    headers: dict[str, str]
    body: bytes
    type: str
    ref_id: str


class PancakeSimulator:
    """In-memory Pancake POS; serve ``app`` (e.g. with ``ServerThread``) and use ``url + /api/v1``.

    ``shuffle_webhook_keys`` reorders the top-level keys of each webhook body, as Pancake does
    between sends, to catch consumers that hash or compare raw bytes. The other keywords set the
    switches of the same name (see their comments below); each can be flipped later too.
    """

    def __init__(
        self,
        *,
        webhook_timeout: float = 3.0,
        shuffle_webhook_keys: bool = False,
        put_mode: PutMode = "merge",
        reserve_stock: bool = False,
        send_webhook_headers: bool = True,
        ping_on_webhook_save: bool = False,
    ) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._shops: dict[str, _Shop] = {}
        self._faults: list[_Fault] = []
        self._calls: list[tuple[str, str]] = []
        self._deliveries: list[WebhookDelivery] = []
        self._order_ids = itertools.count(1)
        self._item_ids = itertools.count(1)
        self._webhook_timeout = webhook_timeout
        self._shuffle = random.Random() if shuffle_webhook_keys else None
        self._outbox: queue.Queue[_Outgoing | None] = queue.Queue()
        self._pending = 0
        self._sender: threading.Thread | None = None
        self._closed = False
        self._order_queries: list[dict[str, str]] = []
        # Latitudes the docs leave open (see ListOrder and Paging).
        self.list_order: ListOrder = "newest_first"
        self.paging: Paging = "honoured"
        # False: Pancake sends no webhook at all (none is queued or recorded), as when it gives
        # up on a receiver or was never configured; only reading the order list finds them.
        self.send_webhooks = True
        # Pancake's clock, which stamps inserted_at and updated_at (a test may set it back).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        # What the docs leave open about the shop list and the webhook settings. GET /shops is
        # documented with a shop's name, avatar and pages (each page naming its shop_id) only:
        # False hides the shop's own id, and the webhook_* fields, from its entries. The PUT's
        # documented answer lists every webhook field but webhook_headers: False hides those in
        # the PUT answer and in GET /shops.
        self.shops_list_id = True
        self.shops_list_webhook = True
        self.shows_webhook_headers = True
        # Seen in real shops (DESIGN.md §4), each off by default:
        # what an order PUT does with its body (a locked order ignores it whatever the mode);
        self.put_mode: PutMode = put_mode
        # True: an order created now reserves its items' units in its warehouse (remain_quantity
        # drops, a variations_warehouses webhook with its order_id follows); cancelling or
        # deleting it gives them back, and later item edits move the reservation;
        self.reserve_stock = reserve_stock
        # False: the shop's webhook_headers are not sent (integrators then carry a secret in the
        # webhook URL, which is posted to as saved, query string included);
        self.send_webhook_headers = send_webhook_headers
        # True: saving a webhook URL (PUT /shops/<id>, or configure_webhook) sends {"test": true}.
        self.ping_on_webhook_save = ping_on_webhook_save
        self.app = Starlette(routes=[Mount(API_PREFIX, routes=self._routes())])

    # -- setup from tests ---------------------------------------------------------------------

    def add_shop(
        self,
        shop_id: str,
        *,
        api_key: str,
        warehouses: list[dict[str, Any]] | None = None,
        name: str | None = None,
    ) -> None:
        rows = warehouses if warehouses is not None else [{}]
        with self._lock:
            if shop_id in self._shops:
                raise ValueError(f"shop {shop_id} already exists")
            self._shops[shop_id] = _Shop(
                shop_id=shop_id,
                api_key=api_key,
                name=name or f"Shop {shop_id}",
                warehouses=[_warehouse(shop_id, row) for row in rows],
                webhook={
                    "webhook_enable": False,
                    "webhook_url": "",
                    "webhook_email": "",
                    "webhook_types": [],
                    "webhook_partner": "",
                    "webhook_headers": {},
                },
            )

    def configure_webhook(
        self,
        shop_id: str,
        *,
        url: str,
        headers: dict[str, str],
        types: list[str] | None = None,
    ) -> None:
        """Set the shop's webhook as its owner would in Pancake's settings page (e.g. another
        integration's URL, before the bridge is connected); pings it if ``ping_on_webhook_save``."""
        with self._lock:
            shop = self._shop(shop_id)
            shop.webhook.update(
                webhook_enable=True,
                webhook_url=url,
                webhook_headers=dict(headers),
                webhook_types=list(types if types is not None else WEBHOOK_TYPES),
            )
            if self.ping_on_webhook_save and url:
                self._queue_ping(shop)

    def send_ping(self, shop_id: str) -> None:
        """Send Pancake's ``{"test": true}`` ping to the shop's webhook URL now."""
        with self._lock:
            self._queue_ping(self._shop(shop_id))

    def add_warehouse(
        self, shop_id: str, *, name: str | None = None, allow_create_order: bool = True
    ) -> str:
        """Staff open another warehouse: listed last, holding nothing yet; its id."""
        with self._lock:
            shop = self._shop(shop_id)
            row: dict[str, Any] = {"allow_create_order": allow_create_order}
            if name is not None:
                row["name"] = name
            warehouse = _warehouse(shop_id, row)
            shop.warehouses.append(warehouse)
            for variation in shop.variations.values():
                variation["variations_warehouses"].append(_stock_row(warehouse["id"], 0))
            return str(warehouse["id"])

    def set_allow_create_order(self, shop_id: str, warehouse_id: str, allowed: bool) -> None:
        """Staff tick or untick "takes orders" on a warehouse; new orders go to the first listed
        warehouse that takes them."""
        with self._lock:
            self._warehouse_row(self._shop(shop_id), warehouse_id)["allow_create_order"] = allowed

    def remove_warehouse(self, shop_id: str, warehouse_id: str) -> None:
        """Staff delete a warehouse: it is no longer listed, and updates naming it are refused."""
        with self._lock:
            shop = self._shop(shop_id)
            shop.warehouses = [w for w in shop.warehouses if w["id"] != warehouse_id]
            for variation in shop.variations.values():
                rows = variation["variations_warehouses"]
                variation["variations_warehouses"] = [
                    r for r in rows if r["warehouse_id"] != warehouse_id
                ]

    def add_variation(
        self,
        shop_id: str,
        variation_id: str,
        *,
        name: str,
        product_id: str | None = None,
        retail_price: int = 100_000,
        remain_quantity: int = 0,
        attributes: dict[str, str] | None = None,
        warehouse_id: str | None = None,
    ) -> None:
        """``attributes``: what tells the product's variations apart, e.g. {"Thời hạn": "1 năm"}.
        ``remain_quantity`` lies in ``warehouse_id`` (the first listed by default), 0 elsewhere."""
        with self._lock:
            shop = self._shop(shop_id)
            if variation_id in shop.variations:
                raise ValueError(f"variation {variation_id} already exists")
            stocked = warehouse_id or (shop.warehouses[0]["id"] if shop.warehouses else None)
            if warehouse_id is not None:
                self._warehouse_row(shop, warehouse_id)
            stock = [
                _stock_row(row["id"], remain_quantity if row["id"] == stocked else 0)
                for row in shop.warehouses
            ]
            shop.variations[variation_id] = {
                "id": variation_id,
                "product_id": product_id or str(uuid.uuid4()),
                "product": {"name": name, "display_id": None, "categories": [], "tags": []},
                "display_id": None,
                "barcode": None,
                "fields": [
                    {"id": str(uuid.uuid4()), "name": key, "value": value}
                    for key, value in (attributes or {}).items()
                ],
                "images": [],
                "is_hidden": False,
                "is_locked": False,
                "is_sell_negative_variation": False,
                "last_imported_price": 0,
                "retail_price": retail_price,
                "remain_quantity": remain_quantity,
                "total_purchase_price": 0,
                "variations_warehouses": stock,
                "wholesale_price": [],
            }

    def create_order(
        self,
        shop_id: str,
        *,
        items: list[dict[str, Any]],
        status: int = 0,
        note: str = "",
        order_id: str | None = None,
        bill_full_name: str = "Nguyen Van A",
        bill_phone_number: str = "0900000000",
        bill_email: str | None = None,
        warehouse_id: str | None = None,
        inserted_at: datetime | None = None,
        is_locked: bool | None = None,
    ) -> str:
        """Create an order and send its webhook; returns the order id.

        ``warehouse_id``: the first listed warehouse that takes orders by default.
        ``inserted_at``: when Pancake says it was created (now by default; naive means UTC).
        ``is_locked``: sets the order's lock flag (absent by default, as before).
        With ``reserve_stock`` on, the order reserves its items' units (see that switch).
        """
        _check_status(status)
        problem = _items_problem(items)
        if problem is not None:
            raise ValueError(problem)
        with self._lock:
            shop = self._shop(shop_id)
            stamp = _naive_utc(inserted_at) if inserted_at is not None else None
            new_id = self._new_order(
                shop,
                items=items,
                status=status,
                note=note,
                order_id=order_id,
                bill=(bill_full_name, bill_phone_number, bill_email),
                warehouse_id=warehouse_id,
                stamp=stamp,
            )
            if is_locked is not None:
                shop.orders[new_id]["is_locked"] = is_locked
            if self.reserve_stock:
                shop.holds[new_id] = {}
            self._changed(shop, new_id)
            return new_id

    def add_old_orders(
        self,
        shop_id: str,
        *,
        before: datetime,
        items: list[dict[str, Any]],
        count: int = 1,
        status: int = 3,
        spacing: timedelta = _OLD_ORDER_SPACING,
    ) -> list[str]:
        """Orders from before ``before`` (e.g. before the shop was added to the bridge), already
        at ``status`` (3, delivered, by default); their ids, oldest first.

        They are history: created ``spacing`` apart ending one ``spacing`` before ``before``
        (``inserted_at`` = ``updated_at``), with no webhook and no reservation, as nobody
        listened then. Moving one later (``set_status``, ``set_statuses``) sends its webhook.
        """
        _check_status(status)
        problem = _items_problem(items)
        if problem is not None:
            raise ValueError(problem)
        if count < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            shop = self._shop(shop_id)
            return [
                self._new_order(
                    shop,
                    items=items,
                    status=status,
                    stamp=_naive_utc(before - (count - index) * spacing),
                )
                for index in range(count)
            ]

    def set_status(self, shop_id: str, order_id: str, status: int) -> None:
        """Move an order to ``status`` (as staff would) and send its webhook."""
        _check_status(status)
        with self._lock:
            shop = self._shop(shop_id)
            self._move(self._order(shop, order_id), status)
            self._changed(shop, order_id)

    def set_statuses(self, shop_id: str, order_ids: Iterable[str], status: int) -> None:
        """A bulk status update (staff select many orders, e.g. 3 -> 16 when the carrier pays):
        each order moves and sends its own webhook, in the order given; an unknown id changes
        nothing."""
        _check_status(status)
        with self._lock:
            shop = self._shop(shop_id)
            ids = list(order_ids)
            orders = [self._order(shop, order_id) for order_id in ids]
            for order_id, order in zip(ids, orders, strict=True):
                self._move(order, status)
                self._changed(shop, order_id)

    def restore_order(self, shop_id: str, order_id: str, status: int = 1) -> None:
        """Staff restore a cancelled order (6 -> 1 by default): a reservation is taken again."""
        _check_status(status)
        with self._lock:
            shop = self._shop(shop_id)
            order = self._order(shop, order_id)
            if order["status"] != 6:
                raise ValueError(f"order {order_id} is not cancelled (status {order['status']})")
            self._move(order, status)
            self._changed(shop, order_id)

    def lock_order(self, shop_id: str, order_id: str, locked: bool = True) -> None:
        """Staff lock (or unlock) an order: a locked order answers a PUT with success and
        ignores it. Locking is a change, so the order webhook is sent."""
        with self._lock:
            shop = self._shop(shop_id)
            order = self._order(shop, order_id)
            order.update(is_locked=locked, updated_at=self._stamp())
            self._changed(shop, order_id)

    def set_item_quantity(self, shop_id: str, order_id: str, item_id: int, quantity: int) -> None:
        """Staff raise or lower one item line's quantity; totals follow, the webhook is sent."""
        if quantity < 0:
            raise ValueError("item quantity must be a non-negative integer")
        with self._lock:
            shop = self._shop(shop_id)
            order = self._order(shop, order_id)
            _item(order, item_id)["quantity"] = quantity
            self._edited(shop, order_id)

    def swap_item_variation(
        self, shop_id: str, order_id: str, item_id: int, variation_id: str
    ) -> None:
        """Staff swap one item line for another variation (same line id and quantity)."""
        with self._lock:
            shop = self._shop(shop_id)
            order = self._order(shop, order_id)
            self._variation(shop, variation_id)
            items = order["items"]
            old = _item(order, item_id)
            new = {"id": old["id"], "variation_id": variation_id, "quantity": old["quantity"]}
            items[items.index(old)] = self._build_item(shop, new)
            self._edited(shop, order_id)

    def partly_return(self, shop_id: str, order_id: str, returned: Mapping[int, int]) -> None:
        """Part of an order comes back: status 15 (partly returned), each item line carrying
        ``returned_count`` (``returned`` maps item id -> units back; lines it omits keep their
        count, 0 at first). Reserved units are not given back: they left the warehouse."""
        with self._lock:
            shop = self._shop(shop_id)
            order = self._order(shop, order_id)
            for item_id, units in returned.items():
                if not 0 <= units <= _item(order, item_id)["quantity"]:
                    raise ValueError(f"item {item_id}: {units} returned is not 0..quantity")
            for item in order["items"]:
                item["returned_count"] = returned.get(item["id"], item.get("returned_count", 0))
            self._move(order, 15)
            self._changed(shop, order_id)

    def send_order_webhook(self, shop_id: str, order_id: str) -> None:
        """Send the order's current state once more, as Pancake's retries and re-sends do."""
        with self._lock:
            shop = self._shop(shop_id)
            self._order(shop, order_id)
            self._queue_order_webhook(shop, order_id)

    def set_quantity(
        self, shop_id: str, variation_id: str, quantity: int, *, warehouse_id: str | None = None
    ) -> None:
        """Set the sellable quantity as staff (or a sale) would, and send the stock webhook."""
        with self._lock:
            shop = self._shop(shop_id)
            self._variation(shop, variation_id)
            warehouse = warehouse_id or shop.warehouses[0]["id"]
            entry = {"variation_id": variation_id, "warehouse_id": warehouse}
            self._apply_stock(shop, {**entry, "remain_quantity": quantity}, is_actual=False)

    def inject(
        self,
        status: int,
        times: int = 1,
        *,
        path_contains: str | None = None,
        query_contains: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` matching API calls with ``status`` and ``success: false``.

        ``status=200`` gives the "HTTP 200 but success false" refusal Pancake is known for.
        ``query_contains`` (e.g. ``"page_number=2"``) matches the raw query string.
        """
        with self._lock:
            fault = _Fault(status, times, path_contains, retry_after, query_contains)
            self._faults.append(fault)

    # -- inspection ---------------------------------------------------------------------------

    def order(self, shop_id: str, order_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._order(self._shop(shop_id), order_id))

    def variation(self, shop_id: str, variation_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._variation(self._shop(shop_id), variation_id))

    def remain_quantity(
        self, shop_id: str, variation_id: str, *, warehouse_id: str | None = None
    ) -> int:
        """The sellable quantity of a variation in a warehouse (the shop's first by default)."""
        with self._lock:
            shop = self._shop(shop_id)
            rows = self._variation(shop, variation_id)["variations_warehouses"]
            warehouse = warehouse_id or shop.warehouses[0]["id"]
            return int(next(r for r in rows if r["warehouse_id"] == warehouse)["remain_quantity"])

    def count_calls(self, method: str, path_suffix: str) -> int:
        """How many API calls had this method and a path ending with ``path_suffix``."""
        with self._lock:
            return sum(1 for m, path in self._calls if m == method and path.endswith(path_suffix))

    def warehouses(self, shop_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._shop(shop_id).warehouses)

    def webhook_config(self, shop_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._shop(shop_id).webhook)

    @property
    def calls(self) -> list[tuple[str, str]]:
        """(method, path below /api/v1) of every API call received, faults included."""
        with self._lock:
            return list(self._calls)

    @property
    def order_queries(self) -> list[dict[str, str]]:
        """The query of every order list read answered (api_key left out), oldest first."""
        with self._lock:
            return copy.deepcopy(self._order_queries)

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return list(self._deliveries)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued webhook has been sent; False if ``timeout`` ran out first."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the webhook sender once the webhooks already queued have been sent."""
        with self._lock:
            self._closed = True
            sender = self._sender
        if sender is not None:
            self._outbox.put(None)
            sender.join(timeout=self._webhook_timeout * 4 + 5)

    def __enter__(self) -> PancakeSimulator:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- HTTP API -----------------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        api = self._api
        return [
            Route("/shops", self._list_shops, methods=["GET"]),
            Route("/shops/{shop_id}", api(self._put_shop), methods=["PUT"]),
            Route("/shops/{shop_id}/orders", api(self._list_orders), methods=["GET"]),
            Route("/shops/{shop_id}/orders/{order_id}", api(self._get_order), methods=["GET"]),
            Route("/shops/{shop_id}/orders/{order_id}", api(self._put_order), methods=["PUT"]),
            Route("/shops/{shop_id}/warehouses", api(self._get_warehouses), methods=["GET"]),
            Route(
                "/shops/{shop_id}/products/variations",
                api(self._get_variations),
                methods=["GET"],
            ),
            Route(
                "/shops/{shop_id}/variations/update_quantity",
                api(self._update_quantity),
                methods=["POST"],
            ),
            Route(
                "/shops/{shop_id}/variations/{variation_id}/update_quantity",
                api(self._update_quantity),
                methods=["POST"],
            ),
            Route(
                "/{rest:path}",
                self._unknown_route,
                methods=["GET", "POST", "PUT", "DELETE", "PATCH"],
            ),
        ]

    def _api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Record the call, apply an injected fault, then check the shop and its api_key."""

        async def endpoint(request: Request) -> Response:
            path = _api_path(request)
            with self._lock:
                self._calls.append((request.method, path))
                fault = self._take_fault(path, request.url.query)
                shop = self._shops.get(request.path_params["shop_id"])
            if fault is not None:
                return _fault_response(fault)
            if shop is None:
                return _fail(404, "Shop not found")
            given = request.query_params.get("api_key", "")
            if not hmac.compare_digest(given.encode(), shop.api_key.encode()):
                return _fail(401, "Unauthorized: invalid api_key")
            return await handler(request, shop)

        return endpoint

    async def _unknown_route(self, request: Request) -> Response:
        with self._lock:
            self._calls.append((request.method, _api_path(request)))
        return _fail(404, "Not found")

    async def _list_shops(self, request: Request) -> Response:
        """``GET /shops``: the shops the api_key opens, shaped as the docs' sample (``shops``
        beside ``success``, each with its pages) plus what the switches let show."""
        given = request.query_params.get("api_key", "")
        with self._lock:
            self._calls.append((request.method, _api_path(request)))
            fault = self._take_fault(_api_path(request), request.url.query)
            opened = [
                shop
                for shop in self._shops.values()
                if given and hmac.compare_digest(given.encode(), shop.api_key.encode())
            ]
            entries = [self._listed_shop(shop) for shop in opened]
        if fault is not None:
            return _fault_response(fault)
        if not opened:
            return _fail(401, "Unauthorized: invalid api_key")
        return JSONResponse({"shops": entries, "success": True})

    def _listed_shop(self, shop: _Shop) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": _json_id(shop.shop_id)} if self.shops_list_id else {}
        entry |= {
            "avatar_url": "",
            "name": shop.name,
            "pages": [
                {
                    "id": f"10443818122{shop.shop_id}",
                    "name": shop.name,
                    "platform": "facebook",
                    "settings": {"auto_create_order": True},
                    "shop_id": _json_id(shop.shop_id),
                }
            ],
        }
        if self.shops_list_webhook:
            entry |= self._shown_webhook(shop)
        return entry

    def _shown_webhook(self, shop: _Shop) -> dict[str, Any]:
        shown = copy.deepcopy(shop.webhook)
        if not self.shows_webhook_headers:
            del shown["webhook_headers"]
        return shown

    async def _put_shop(self, request: Request, shop: _Shop) -> Response:
        body = await _json_object(request)
        settings = body.get("shop") if body is not None else None
        if not isinstance(settings, dict):
            return _fail(400, 'body must be {"shop": {...}}')
        problem = _webhook_settings_problem(settings)
        if problem is not None:
            return _fail(422, problem)
        with self._lock:
            for key in shop.webhook:
                if key in settings:
                    shop.webhook[key] = copy.deepcopy(settings[key])
            if self.ping_on_webhook_save and settings.get("webhook_url"):
                self._queue_ping(shop)
            return _ok({"id": _json_id(shop.shop_id), **self._shown_webhook(shop)})

    async def _get_order(self, request: Request, shop: _Shop) -> Response:
        with self._lock:
            order = shop.orders.get(request.path_params["order_id"])
            if order is None:
                return _fail(404, "Order not found")
            return _ok(copy.deepcopy(order))

    async def _list_orders(self, request: Request, shop: _Shop) -> Response:
        """``GET /shops/<id>/orders``: ``updateStatus`` names the time that ``startDateTime`` and
        ``endDateTime`` (Unix seconds, both inclusive) filter on; ``status`` filters too."""
        query = request.query_params
        try:
            page_number = int(query.get("page_number", "1"))
            page_size = int(query.get("page_size", "30"))
            start, end, status = (
                _optional_int(query.get(key)) for key in ("startDateTime", "endDateTime", "status")
            )
        except ValueError:
            return _fail(400, "paging, status and times must be integers (times in Unix seconds)")
        if page_number < 1 or page_size < 1:
            return _fail(400, "page_number and page_size must be positive")
        field_name = query.get("updateStatus", "inserted_at")
        if field_name not in _LISTING_TIMES:
            return _fail(400, f"updateStatus {field_name!r} is not simulated")
        with self._lock:
            self._order_queries.append({k: v for k, v in query.items() if k != "api_key"})
            rows = [
                order
                for order in shop.orders.values()
                if status in (None, order["status"]) and _within(order.get(field_name), start, end)
            ]
            rows.sort(
                key=lambda order: (order[field_name], str(order["id"])),
                reverse=self.list_order == "newest_first",
            )
            rows = copy.deepcopy(rows)
            paging = self.paging
        if paging == "unpaged":
            return JSONResponse({"data": rows, "success": True})
        shown = page_number if paging == "honoured" else 1
        return JSONResponse(
            {
                "data": rows[(shown - 1) * page_size : shown * page_size],
                "page_number": shown,
                "page_size": page_size,
                "success": True,
                "total_entries": len(rows),
                "total_pages": -(-len(rows) // page_size),
            }
        )

    async def _put_order(self, request: Request, shop: _Shop) -> Response:
        """The docs show only the request (a whole order), no answer: this one answers
        ``{"success": true, "data": <the order as stored after the write>}``."""
        order_id = request.path_params["order_id"]
        changes = await _json_object(request)
        if changes is None:
            return _fail(400, "body must be a JSON object")
        if "status" in changes and changes["status"] not in STATUS_CODES:
            return _fail(422, f"unknown status {changes['status']!r}")
        if "items" in changes and _items_problem(changes["items"]) is not None:
            return _fail(422, str(_items_problem(changes["items"])))
        with self._lock:
            order = shop.orders.get(order_id)
            if order is None:
                return _fail(404, "Order not found")
            if order.get("is_locked") is True:
                # A locked order says yes and keeps everything: no change, so no webhook.
                return _ok(copy.deepcopy(order))
            if self.put_mode == "replace":
                order = shop.orders[order_id] = self._replaced(order)
            for key, value in changes.items():
                if key == "items":
                    order["items"] = self._build_items(shop, value)
                elif key not in _READ_ONLY_ORDER_KEYS:
                    order[key] = copy.deepcopy(value)
            order["status_name"] = _status_name(order["status"])
            order["updated_at"] = self._stamp()
            # Pancake re-sends the order webhook after every change, our own PUTs included.
            self._changed(shop, order_id)
            return _ok(copy.deepcopy(order))

    @staticmethod
    def _replaced(order: dict[str, Any]) -> dict[str, Any]:
        """What "replace" keeps of an order before the body is written over it: the keys only
        Pancake sets, and the defaults of a new order (status 0, no items) for the two an order
        cannot lack; every other field the body omits is gone."""
        kept: dict[str, Any] = {k: order[k] for k in ("id", "shop_id", "inserted_at") if k in order}
        return {**kept, "status": 0, "items": []}

    async def _get_warehouses(self, request: Request, shop: _Shop) -> Response:
        with self._lock:
            return _ok(copy.deepcopy(shop.warehouses))

    async def _get_variations(self, request: Request, shop: _Shop) -> Response:
        try:
            page_number = int(request.query_params.get("page_number", "1"))
            page_size = int(request.query_params.get("page_size", "30"))
        except ValueError:
            return _fail(400, "page_number and page_size must be integers")
        if page_number < 1 or page_size < 1:
            return _fail(400, "page_number and page_size must be positive")
        with self._lock:
            rows = list(shop.variations.values())
            start = (page_number - 1) * page_size
            page = copy.deepcopy(rows[start : start + page_size])
        total_pages = -(-len(rows) // page_size)
        return JSONResponse(
            {
                "data": page,
                "page_number": page_number,
                "page_size": page_size,
                "success": True,
                "total_entries": len(rows),
                "total_pages": total_pages,
            }
        )

    async def _update_quantity(self, request: Request, shop: _Shop) -> Response:
        body = await _json_object(request)
        entries = body.get("variations_warehouses") if body is not None else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            return _fail(400, "variations_warehouses must be a list of objects")
        path_variation = request.path_params.get("variation_id")
        if path_variation is not None:
            entries = [{**entry, "variation_id": path_variation} for entry in entries]
        is_actual = body is not None and body.get("is_actual_remain_quantity") is True
        with self._lock:
            problem = self._stock_problem(shop, entries)
            if problem is not None:
                # Pancake refuses semantic errors with HTTP 200 and success false.
                return JSONResponse({"success": False, "message": problem})
            for entry in entries:
                self._apply_stock(shop, entry, is_actual)
        return JSONResponse({"success": True})

    # -- state helpers (called with the lock held) ----------------------------------------------

    def _shop(self, shop_id: str) -> _Shop:
        try:
            return self._shops[shop_id]
        except KeyError:
            raise KeyError(f"unknown shop {shop_id}") from None

    @staticmethod
    def _order(shop: _Shop, order_id: str) -> dict[str, Any]:
        try:
            return shop.orders[order_id]
        except KeyError:
            raise KeyError(f"unknown order {order_id} in shop {shop.shop_id}") from None

    @staticmethod
    def _variation(shop: _Shop, variation_id: str) -> dict[str, Any]:
        try:
            return shop.variations[variation_id]
        except KeyError:
            raise KeyError(f"unknown variation {variation_id} in shop {shop.shop_id}") from None

    def _take_fault(self, path: str, query: str) -> _Fault | None:
        for fault in self._faults:
            if fault.matches(path, query):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _stamp(self) -> str:
        # Naive UTC with microseconds, as in live answers, so two quick updates still differ.
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")

    def _warehouse_row(self, shop: _Shop, warehouse_id: str) -> dict[str, Any]:
        for row in shop.warehouses:
            if row["id"] == warehouse_id:
                return row
        raise KeyError(f"unknown warehouse {warehouse_id} in shop {shop.shop_id}")

    @staticmethod
    def _order_warehouse(shop: _Shop) -> str | None:
        """Where a new order goes: the first listed warehouse that takes orders (the first
        listed if none does; none if the shop has none)."""
        taking = [w for w in shop.warehouses if w.get("allow_create_order", True)]
        chosen = taking or shop.warehouses
        return str(chosen[0]["id"]) if chosen else None

    def _new_order(
        self,
        shop: _Shop,
        *,
        items: list[dict[str, Any]],
        status: int,
        note: str = "",
        order_id: str | None = None,
        bill: tuple[str, str, str | None] = ("Nguyen Van A", "0900000000", None),
        warehouse_id: str | None = None,
        stamp: str | None = None,
    ) -> str:
        """Store a new order (no webhook yet); its id."""
        new_id = order_id if order_id is not None else str(next(self._order_ids))
        if new_id in shop.orders:
            raise ValueError(f"order {new_id} already exists in shop {shop.shop_id}")
        if warehouse_id is not None:
            self._warehouse_row(shop, warehouse_id)
        now = stamp or self._stamp()
        full_name, phone_number, email = bill
        built_items = self._build_items(shop, items)
        total = _total(built_items)
        shop.orders[new_id] = {
            "id": _json_id(new_id),
            "shop_id": _json_id(shop.shop_id),
            "status": status,
            "status_name": _status_name(status),
            "note": note,
            "note_print": None,
            "items": built_items,
            "bill_full_name": full_name,
            "bill_phone_number": phone_number,
            "bill_email": email,
            "shipping_address": {
                "full_name": full_name,
                "phone_number": phone_number,
                "address": "",
                "full_address": "",
            },
            "warehouse_id": warehouse_id or self._order_warehouse(shop),
            "page_id": None,
            "is_free_shipping": False,
            "received_at_shop": False,
            "shipping_fee": 0,
            "total_discount": 0,
            "total_price": total,
            "cod": total,
            "tags": [],
            "inserted_at": now,
            "updated_at": now,
        }
        return new_id

    def _move(self, order: dict[str, Any], status: int) -> None:
        order.update(status=status, status_name=_status_name(status), updated_at=self._stamp())

    def _edited(self, shop: _Shop, order_id: str) -> None:
        """After staff changed an order's items: totals follow, then as any change."""
        order = shop.orders[order_id]
        total = _total(order["items"])
        order.update(total_price=total, cod=total, updated_at=self._stamp())
        self._changed(shop, order_id)

    def _changed(self, shop: _Shop, order_id: str) -> None:
        """Every change to an order sends its webhook, then moves any stock it reserves."""
        self._queue_order_webhook(shop, order_id)
        self._sync_hold(shop, order_id)

    def _sync_hold(self, shop: _Shop, order_id: str) -> None:
        """Make the stock an order reserves match what it now needs (only for orders created
        with ``reserve_stock``): each (variation, warehouse) that moves lowers or raises its
        ``remain_quantity`` and sends a stock webhook naming the order."""
        held = shop.holds.get(order_id)
        if held is None:
            return
        order = shop.orders[order_id]
        wanted = self._needed_stock(shop, order)
        for key in [*wanted, *(k for k in held if k not in wanted)]:
            change = held.get(key, 0) - wanted.get(key, 0)
            if change == 0:
                continue
            variation_id, warehouse_id = key
            variation = shop.variations.get(variation_id)
            row = _row_in(variation, warehouse_id) if variation is not None else None
            if variation is None or row is None:
                continue  # the variation or warehouse went away: nothing left to give back
            row["remain_quantity"] += change
            variation["remain_quantity"] = sum(
                r["remain_quantity"] for r in variation["variations_warehouses"]
            )
            body = _order_stock_webhook_body(variation_id, row, change, order["id"], self.clock())
            self._queue_webhook(shop, "variations_warehouses", variation_id, body)
        shop.holds[order_id] = wanted

    @staticmethod
    def _needed_stock(shop: _Shop, order: dict[str, Any]) -> dict[tuple[str, str], int]:
        """Units an order holds in its warehouse per variation (lines of one variation add up);
        none once cancelled or deleted, none for lines naming no known variation."""
        needed: dict[tuple[str, str], int] = {}
        warehouse_id = order.get("warehouse_id")
        if order.get("status") in _RELEASING_STATUSES or not isinstance(warehouse_id, str):
            return needed
        for item in order.get("items") or []:
            variation = shop.variations.get(str(item.get("variation_id")))
            if variation is None or _row_in(variation, warehouse_id) is None:
                continue
            key = (str(variation["id"]), warehouse_id)
            needed[key] = needed.get(key, 0) + int(item.get("quantity", 0))
        return needed

    def _build_items(self, shop: _Shop, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [self._build_item(shop, item) for item in items]

    def _build_item(self, shop: _Shop, item: dict[str, Any]) -> dict[str, Any]:
        variation_id = item.get("variation_id")
        known = shop.variations.get(str(variation_id)) if variation_id is not None else None
        name = known["product"]["name"] if known else item.get("name")
        price = known["retail_price"] if known else item.get("retail_price", 0)
        built = {
            "id": item.get("id", next(self._item_ids)),
            "variation_id": variation_id,
            "product_id": known["product_id"] if known else item.get("product_id"),
            "quantity": item.get("quantity", 1),
            "discount_each_product": 0,
            "is_bonus_product": False,
            "is_discount_percent": False,
            "is_wholesale": False,
            "one_time_product": False,
            "variation_info": {
                "name": name,
                "retail_price": price,
                "detail": None,
                "fields": None,
                "display_id": None,
                "product_display_id": None,
                "weight": 0,
            },
        }
        # Units already returned stay so when a PUT sends the items back as read (a whole-order
        # write): Pancake, not the body's author, counts what came back.
        if "returned_count" in item:
            built["returned_count"] = item["returned_count"]
        return built

    def _stock_problem(self, shop: _Shop, entries: list[dict[str, Any]]) -> str | None:
        warehouse_ids = {row["id"] for row in shop.warehouses}
        for entry in entries:
            if str(entry.get("variation_id")) not in shop.variations:
                return f"variation {entry.get('variation_id')} not found"
            if entry.get("warehouse_id") not in warehouse_ids:
                return f"warehouse {entry.get('warehouse_id')} not found"
            quantity = entry.get("remain_quantity")
            if not isinstance(quantity, int) or isinstance(quantity, bool):
                return "remain_quantity must be an integer"
        return None

    def _apply_stock(self, shop: _Shop, entry: dict[str, Any], is_actual: bool) -> None:
        variation = shop.variations[str(entry["variation_id"])]
        row = next(
            r
            for r in variation["variations_warehouses"]
            if r["warehouse_id"] == entry["warehouse_id"]
        )
        # "actual" is the physical stock; otherwise only the sellable quantity is set.
        key = "actual_remain_quantity" if is_actual else "remain_quantity"
        change = entry["remain_quantity"] - row[key]
        row[key] = entry["remain_quantity"]
        if is_actual:
            row["remain_quantity"] += change
        row["total_quantity"] = row["actual_remain_quantity"]
        variation["remain_quantity"] = sum(
            r["remain_quantity"] for r in variation["variations_warehouses"]
        )
        body = _stock_webhook_body(variation["id"], row, change, is_actual)
        self._queue_webhook(shop, "variations_warehouses", variation["id"], body)

    # -- webhook sending ----------------------------------------------------------------------

    def _queue_order_webhook(self, shop: _Shop, order_id: str) -> None:
        body = {**copy.deepcopy(shop.orders[order_id]), "type": "orders"}
        self._queue_webhook(shop, "orders", order_id, body)

    def _queue_webhook(self, shop: _Shop, kind: str, ref_id: str, body: dict[str, Any]) -> None:
        config = shop.webhook
        if config["webhook_enable"] and kind in config["webhook_types"]:
            self._enqueue(shop, kind, ref_id, body)

    def _queue_ping(self, shop: _Shop) -> None:
        # The ping tests the URL just saved: it goes whatever types are chosen.
        self._enqueue(shop, "ping", shop.shop_id, {"test": True})

    def _enqueue(self, shop: _Shop, kind: str, ref_id: str, body: dict[str, Any]) -> None:
        config = shop.webhook
        if self._closed or not self.send_webhooks or not config["webhook_url"]:
            return
        if self._shuffle is not None:
            keys = list(body)
            self._shuffle.shuffle(keys)
            body = {key: body[key] for key in keys}
        # Some shops' webhooks arrive without the configured headers (send_webhook_headers).
        custom = config["webhook_headers"] if self.send_webhook_headers else {}
        headers = {"Content-Type": "application/json", **custom}
        payload = json.dumps(body, ensure_ascii=False).encode()
        self._pending += 1
        self._outbox.put(_Outgoing(config["webhook_url"], headers, payload, kind, ref_id))
        if self._sender is None:
            self._sender = threading.Thread(
                target=self._send_loop, name="pancake-sim-webhooks", daemon=True
            )
            self._sender.start()

    def _send_loop(self) -> None:
        # One thread, one FIFO: webhooks leave in the order the changes happened.
        with httpx.Client(timeout=self._webhook_timeout) as http:
            while (job := self._outbox.get()) is not None:
                result = _deliver(http, job)
                with self._idle:
                    self._deliveries.append(WebhookDelivery(job.type, job.ref_id, result))
                    self._pending -= 1
                    self._idle.notify_all()


def _deliver(http: httpx.Client, job: _Outgoing) -> int | str:
    """POST once; a failure is recorded, not retried, so a dead receiver cannot stall the queue."""
    try:
        response = http.post(job.url, content=job.body, headers=job.headers)
    except Exception as exc:  # the sender thread must survive anything the receiver does
        return f"{type(exc).__name__}: {exc}"
    return response.status_code


def _api_path(request: Request) -> str:
    return request.url.path.removeprefix(API_PREFIX) or "/"


def _json_id(value: str) -> int | str:
    # Pancake sends numeric ids as JSON numbers and everything else as strings.
    return int(value) if value.isdigit() and str(int(value)) == value else value


def _optional_int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


def _within(stamp: str | None, start: int | None, end: int | None) -> bool:
    """A naive UTC stamp lies between two Unix times (either may be open); no stamp: never."""
    if stamp is None:
        return False
    moment = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
    return (start is None or moment >= start) and (end is None or moment <= end)


def _check_status(status: int) -> None:
    if status not in STATUS_CODES:
        raise ValueError(f"unknown Pancake order status {status}")


def _status_name(status: int) -> str | None:
    # Live data shows code 19 with no label: its orders carry a null status_name.
    return STATUS_NAMES.get(status)


def _naive_utc(moment: datetime) -> str:
    """Pancake's stamp of a moment: naive UTC with microseconds (a naive moment is UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _total(items: list[dict[str, Any]]) -> int:
    return sum(int(i["quantity"]) * int(i["variation_info"]["retail_price"] or 0) for i in items)


def _item(order: dict[str, Any], item_id: int) -> dict[str, Any]:
    for item in order.get("items") or []:
        if item.get("id") == item_id:
            return item  # type: ignore[no-any-return]
    raise KeyError(f"unknown item {item_id} in order {order['id']}")


def _row_in(variation: dict[str, Any], warehouse_id: str) -> dict[str, Any] | None:
    rows = variation["variations_warehouses"]
    return next((r for r in rows if r["warehouse_id"] == warehouse_id), None)


def split_warehouses() -> list[dict[str, Any]]:
    """Rows for ``add_shop(warehouses=...)``: the first warehouse listed takes no orders
    (``allow_create_order: false``, as the docs' warehouse list shows one can), the second does,
    so new orders carry the second's id while a careless "first listed" picks the first."""
    return [
        {"name": "Kho tổng", "allow_create_order": False},
        {"name": "Kho bán hàng", "allow_create_order": True},
    ]


def _warehouse(shop_id: str, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "name": "Kho mặc định",
        "address": "",
        "allow_create_order": True,
        "commune_id": None,
        "country_code": "84",
        "custom_id": None,
        "district_id": None,
        "full_address": "",
        "phone_number": "",
        "province_id": None,
        "shop_id": _json_id(shop_id),
        **row,
    }


def _stock_row(warehouse_id: str, quantity: int) -> dict[str, Any]:
    return {
        "warehouse_id": warehouse_id,
        "remain_quantity": quantity,
        "actual_remain_quantity": quantity,
        "pending_quantity": 0,
        "returning_quantity": 0,
        "total_quantity": quantity,
    }


def _stock_webhook_body(
    variation_id: str, row: dict[str, Any], change: int, is_actual: bool
) -> dict[str, Any]:
    return {
        "type": "variations_warehouses",
        "variation_id": variation_id,
        "warehouse_id": row["warehouse_id"],
        "remain_quantity": row["remain_quantity"],
        "actual_remain_quantity": row["actual_remain_quantity"],
        "change_quantity": change,
        "is_actual_remain_quantity": is_actual,
        # The documented webhook uses a space, not "T", in this timestamp.
        "inserted_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
    }


def _order_stock_webhook_body(
    variation_id: str, row: dict[str, Any], change: int, order_id: object, moment: datetime
) -> dict[str, Any]:
    """The stock webhook an order's reservation causes, keyed as a captured one
    (real-payloads/pancake-webhook-hogikids-stock-order.json): the sellable quantity moves, the
    physical one does not."""
    return {
        "type": "variations_warehouses",
        "inserted_at": moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "variation_id": variation_id,
        "warehouse_id": row["warehouse_id"],
        "remain_quantity": row["remain_quantity"],
        "order_id": order_id,
        "change_quantity": change,
        "is_actual_remain_quantity": False,
        "actual_remain_quantity": row["actual_remain_quantity"],
    }


def _items_problem(items: Any) -> str | None:
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return "items must be a list of objects"
    for item in items:
        quantity = item.get("quantity", 1)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            return "item quantity must be a non-negative integer"
    return None


def _webhook_settings_problem(settings: dict[str, Any]) -> str | None:
    if "webhook_enable" in settings and not isinstance(settings["webhook_enable"], bool):
        return "webhook_enable must be a boolean"
    if "webhook_url" in settings and not isinstance(settings["webhook_url"], str):
        return "webhook_url must be a string"
    types = settings.get("webhook_types", [])
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        return "webhook_types must be a list of strings"
    headers = settings.get("webhook_headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        return "webhook_headers must map strings to strings"
    return None


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data})


def _fail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status_code=status)


def _fault_response(fault: _Fault) -> JSONResponse:
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
    return JSONResponse(
        {"success": False, "message": f"injected fault {fault.status}"},
        status_code=fault.status,
        headers=headers,
    )
