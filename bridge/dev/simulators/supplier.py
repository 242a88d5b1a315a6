"""A supplier shop ("Shop API v1"), simulated from its published docs, with fault injection.

``SupplierSimulator().app`` is a Starlette app serving the API under ``/api/v1``; tests drive the
catalogue, balance and faults from their own thread while uvicorn serves it (see
``bridge.web.server.ServerThread``), so every piece of state sits behind one lock.

Both dialects are served: ``"full"`` as caoshop.net documents it, ``"short"`` as
shopkey.appstoreviet.com does (flat ``orders/status``, numeric ``account/balance``).

``real_server=True`` answers as the platform's own PHP code does where it differs from the docs
(DESIGN.md section 4, "What the supplier server's own code does"): 401 for every refusal at the
authentication stage and no Retry-After, ``CART_ERROR`` for a sold-out or unknown plan, the
create answer's full shape, ``orders/list`` paged by 10, refused calls counted against the limit,
permissions enforced. Every other switch is off by default: the simulator then answers exactly
as it did before these switches existed, which many tests rely on.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import threading
import time
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The protocol spelled here from the API docs, never imported from the client: a code the client
# misspells must fail a test instead of being mirrored.
ITEMS_REQUIRED = "ITEMS_REQUIRED"
CART_ERROR = "CART_ERROR"
CHECKOUT_ERROR = "CHECKOUT_ERROR"
INVALID_JSON = "INVALID_JSON"
INVALID_API_KEY = "INVALID_API_KEY"
INVALID_API_SECRET = "INVALID_API_SECRET"
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
OUT_OF_STOCK = "OUT_OF_STOCK"
PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"  # the docs name no code for an unknown trans_id
DISABLED_API_KEY = "DISABLED_API_KEY"
IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
PERMISSION_DENIED = "PERMISSION_DENIED"
# Codes only the server's source shows (DESIGN.md section 4), not the docs' tables.
DAILY_LIMIT_EXCEEDED = "DAILY_LIMIT_EXCEEDED"
EXPIRED_API_KEY = "EXPIRED_API_KEY"
USER_BANNED = "USER_BANNED"
API_DISABLED = "API_DISABLED"
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
USER_ERROR = "USER_ERROR"
PARAMS_REQUIRED = "PARAMS_REQUIRED"
COUPON_SKIPPED = "COUPON_SKIPPED"
# The error table every doc prints (code, HTTP status, shopkey's and cloneviammo's wording), and
# the codes orders/create is known to answer besides: ``refuse`` answers any of them on demand.
REFUSALS: dict[str, tuple[int, str]] = {
    INVALID_API_KEY: (401, "API Key không hợp lệ"),
    INVALID_API_SECRET: (401, "API Secret không chính xác"),
    DISABLED_API_KEY: (401, "API Key đã bị vô hiệu hóa"),
    RATE_LIMIT_EXCEEDED: (429, "Vượt quá giới hạn request"),
    IP_NOT_ALLOWED: (403, "IP không được phép truy cập"),
    PERMISSION_DENIED: (403, "Không có quyền thực hiện"),
    INSUFFICIENT_BALANCE: (400, "Số dư không đủ"),
    PRODUCT_NOT_FOUND: (404, "Sản phẩm không tồn tại"),
    OUT_OF_STOCK: (400, "Sản phẩm đã hết hàng"),
    ITEMS_REQUIRED: (400, "Vui lòng chọn ít nhất một sản phẩm"),
    INVALID_JSON: (400, "Dữ liệu JSON không hợp lệ"),
    CART_ERROR: (400, "Sản phẩm không hợp lệ"),
    CHECKOUT_ERROR: (500, "Không thể xử lý thanh toán, vui lòng thử lại"),
    # The docs give these no status: the one their neighbours have (a spent limit is a 429 like
    # RATE_LIMIT_EXCEEDED). ``real_server`` answers every auth-stage code 401 (AUTH_STAGE).
    DAILY_LIMIT_EXCEEDED: (429, "Vượt quá giới hạn request trong ngày"),
    EXPIRED_API_KEY: (401, "API Key đã hết hạn"),
    USER_BANNED: (401, "Tài khoản đã bị khóa"),
    API_DISABLED: (401, "API đang tạm ngưng"),
    METHOD_NOT_ALLOWED: (405, "Phương thức không được hỗ trợ"),
    USER_ERROR: (400, "Lỗi tài khoản người dùng"),
    PARAMS_REQUIRED: (400, "Thiếu tham số bắt buộc"),
}
# The real server refuses all of these with HTTP 401 before any handler runs (no Retry-After).
AUTH_STAGE = frozenset(
    {
        INVALID_API_KEY,
        INVALID_API_SECRET,
        DISABLED_API_KEY,
        RATE_LIMIT_EXCEEDED,
        DAILY_LIMIT_EXCEEDED,
        IP_NOT_ALLOWED,
        EXPIRED_API_KEY,
        USER_BANNED,
        API_DISABLED,
    }
)
# Every status an order can have on the real server; orders/list ignores a filter not among them.
STATUSES = ("pending", "processing", "completed", "cancelled", "cancelled_no_refund", "refunded")
# The user who owns the simulated key; other users' orders are seen only with the "all" permission.
OWN_USER_ID = 1
# The permission each endpoint needs (real_server enforces them; "all" grants every one).
ENDPOINT_PERMISSIONS = {
    "/orders/create": "orders.create",
    "/orders/status": "orders.status",
    "/orders/list": "orders.list",
    "/products/list": "products.list",
    "/categories/list": "products.list",
    "/account/balance": "account.balance",
    "/account/info": "account.info",
}
# The real server's trans_id: 7 characters of 1-9A-Z by default (no prefix here).
TRANS_ID_ALPHABET = "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# The decompression bomb: ~150 MiB of JSON-ish padding, ~150 KB gzipped on the wire.
BOMB_BYTES = 150 * 2**20
# The docs' samples print naive times in Vietnam's zone (UTC+7).
SUPPLIER_TZ = timezone(timedelta(hours=7))

# Shaped like real keys (sk_live_ + 32, sk_secret_ + 64) but obviously fake: secret scanners
# skip the documentation's "a1b2c3d4" prefix.
DEMO_API_KEY = "sk_live_a1b2c3d4" + "0" * 24
DEMO_API_SECRET = "sk_secret_a1b2c3d4" + "0" * 56

FAULTS = frozenset(
    {
        "5xx_before_commit",
        "5xx_after_commit",
        "hang_after_commit",
        "drop_after_commit",
        "429",
        "slow",
        # The stock runs out between the cart check and the checkout transaction (another buyer
        # took it): the real server rolls back and answers CHECKOUT_ERROR 500, nothing bought.
        "sold_out_in_checkout",
    }
)
API = "/api/v1"
# What ``SupplierSimulator.switch`` may set (the attributes of the same names).
SWITCHES = (
    "real_server",
    "created_at_zone_hours",
    "clock_skew_seconds",
    "quantity_split",
    "completion_shape",
    "categories_list_empty",
    "rate_limit_per_minute",
    "enforced_rate_limit_per_minute",
    "daily_limit",
    "used_today",
    "permissions",
    "key_expires_at",
    "list_order",
    "paging",
    "multi_item",
    "created_at_precision",
    "status_lag_seconds",
    "list_lag_seconds",
    "serves_account_info",
    "redirect_to",
    "drip_paths",
    "drip_seconds",
    "bomb_paths",
)

Dialect = Literal["full", "short"]
# The docs give orders/list no sort order: either is a reasonable reading.
ListOrder = Literal["newest_first", "oldest_first"]
# The docs of shopkey/cloneviammo list no page/limit for products/list. "honoured": pages as
# asked; "ignores_page": always the first page (of the asked size), pagination as for page 1;
# "unpaged": the whole catalogue, no pagination block; "first_ten": page and limit ignored, the
# first 10 products every time, while pagination counts the whole catalogue (claims more).
Paging = Literal["honoured", "ignores_page", "unpaged", "first_ten"]
# The docs show a one-item orders/create only. "in_order": one order per item, answered in request
# order; "reversed": the same, answered in reverse; "merged": items of one plan become one order;
# "partial": the first item is committed, then the rest is refused (OUT_OF_STOCK).
MultiItem = Literal["in_order", "reversed", "merged", "partial"]
Precision = Literal["seconds", "minutes"]
# How orders/status prints a completed order's credentials. "per_unit": one string a unit (the
# docs); "none": no items at all (a plan that upgrades the customer's own account); "one_string":
# every unit in one string, delivered_count 1; "fewer": two units a string while delivered_count
# says the quantity (fewer strings than delivered_count).
CompletionShape = Literal["per_unit", "none", "one_string", "fewer"]
Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Purchase:
    """One supplier order as the simulated shop's books hold it (``created_at`` aware, UTC)."""

    trans_id: str
    plan_id: int
    quantity: int
    fields: dict[str, str]
    status: str
    created_at: datetime
    items: list[str]
    amount: float
    order_id: int = 0
    user_id: int = OWN_USER_ID
    # "api" for orders bought through the API; "web" for one the user placed on the website.
    order_source: str = "api"
    # Units handed over (``items`` may hold them in fewer strings, see CompletionShape).
    delivered_units: int = 0
    # What orders/status says as delivered_count when not ``len(items)`` ("fewer" shape).
    delivered_count: int | None = None


@dataclass
class _InjectedRefusal:
    code: str
    remaining: int
    path_contains: str | None


@dataclass
class _Plan:
    id: int
    name: str
    price: float
    product_id: int
    product_name: str
    is_instant: bool
    stock: int
    fields: list[dict[str, Any]] = field(default_factory=list)
    category_id: int | None = None


@dataclass
class _Category:
    id: int
    name: str
    parent_id: int
    sort_order: int


class _Refusal(Exception):
    """A documented error answer: ``{"success": false, "message", "data": {"error_code"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class _RateLimited(_Refusal):
    """HTTP 429 with a Retry-After header, in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(429, RATE_LIMIT_EXCEEDED, "Vượt quá giới hạn request")
        self.retry_after = retry_after


class _ConnectionDropped(Exception):
    """Raised after the response started: uvicorn can only close the connection."""


class _DroppedResponse(Response):
    """Starts a 201 answer and breaks the connection mid-body, as a dying PHP worker would."""

    def __init__(self) -> None:
        super().__init__(status_code=201, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"512")],
            }
        )
        await send(
            {"type": "http.response.body", "body": b'{"success": true, "da', "more_body": True}
        )
        raise _ConnectionDropped("simulated: connection dropped after the order was committed")


class _RedirectSwitch:
    """Answers every request with ``redirect_to`` when it is set, before routing or auth."""

    def __init__(self, app: ASGIApp, simulator: SupplierSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        redirect = self.simulator._redirect(Request(scope)) if scope["type"] == "http" else None
        if redirect is None:
            await self.app(scope, receive, send)
        else:
            await redirect(scope, receive, send)


class _WireSwitch:
    """What happens on the wire rather than in a handler: the real server's JSON 405 for a wrong
    method, a decompression bomb in place of the answer, an answer dripped a byte at a time.
    With none of them switched on it passes every request straight through."""

    def __init__(self, app: ASGIApp, simulator: SupplierSimulator) -> None:
        self.app = app
        self.simulator = simulator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sim, path = self.simulator, str(scope["path"])
        with sim._lock:
            wrong_method = sim.real_server and sim._wrong_method(scope["method"], path)
            if wrong_method:
                sim.calls.append((scope["method"], path))
            bombed = any(part in path for part in sim.bomb_paths)
            drip = sim.drip_seconds if any(part in path for part in sim.drip_paths) else None
        if wrong_method:
            status, message = REFUSALS[METHOD_NOT_ALLOWED]
            body = {
                "success": False,
                "message": message,
                "data": {"error_code": METHOD_NOT_ALLOWED},
            }
            await JSONResponse(body, status_code=status)(scope, receive, send)
        elif bombed:
            await self._bomb(scope, receive, send)
        elif drip is not None:
            await self._drip(scope, receive, send, drip)
        else:
            await self.app(scope, receive, send)

    async def _bomb(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The handler runs (an order is bought), its answer is swapped for the bomb."""
        answered: list[Message] = []

        async def keep(message: Message) -> None:
            answered.append(message)

        await self.app(scope, receive, keep)
        status = next((m["status"] for m in answered if m["type"] == "http.response.start"), 200)
        # Compressed once per process, off the event loop (it takes most of a second).
        payload = await asyncio.to_thread(_gzip_bomb)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-encoding", b"gzip"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _drip(self, scope: Scope, receive: Receive, send: Send, seconds: float) -> None:
        """Headers at once, then the body one byte every ``seconds``: every read gets something
        before a per-read timeout fires, yet the whole answer takes ``len(body) * seconds``."""
        start: Message | None = None
        body = bytearray()

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))

        await self.app(scope, receive, keep)
        if start is None:
            return
        # Stop dripping once the client hangs up, so a server shutdown is not held up.
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await send(start)
            for index in range(len(body)):
                await asyncio.wait({gone}, timeout=seconds)
                if gone.done():
                    return
                more = index + 1 < len(body)
                chunk = bytes(body[index : index + 1])
                await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not body:
                await send({"type": "http.response.body", "body": b""})
        finally:
            gone.cancel()


async def _disconnect(receive: Receive) -> None:
    """Returns once the client has gone (request body messages are read past)."""
    while (await receive())["type"] != "http.disconnect":
        pass


_bomb_lock = threading.Lock()
_bomb_cache: list[bytes] = []


def _gzip_bomb() -> bytes:
    """``{"success": true, "message": "<150 MiB of spaces>", "data": {}}`` gzipped (~150 KB),
    compressed a MiB at a time so the expanded text is never held in memory; cached."""
    with _bomb_lock:
        if not _bomb_cache:
            squeeze = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
            parts = [squeeze.compress(b'{"success": true, "message": "')]
            chunk = b" " * 2**20
            for _ in range(BOMB_BYTES // len(chunk)):
                parts.append(squeeze.compress(chunk))
            parts += [squeeze.compress(b'", "data": {}}'), squeeze.flush()]
            _bomb_cache.append(b"".join(parts))
        return _bomb_cache[0]


class SupplierSimulator:
    """An in-memory supplier shop: catalogue, balance, orders, rate limit and injected faults."""

    def __init__(
        self,
        *,
        dialect: Dialect = "full",
        api_key: str = DEMO_API_KEY,
        api_secret: str = DEMO_API_SECRET,
        balance: float = 10_000_000,
        rate_limit_per_minute: int | None = None,
        time_scale: float = 1.0,
        name: str = "sim-shop",
        real_server: bool = False,
        created_at_zone_hours: float = 7.0,
        clock_skew_seconds: float = 0.0,
    ) -> None:
        if dialect not in ("full", "short"):
            raise ValueError(f"unknown dialect {dialect!r}")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.dialect = dialect
        self.name = name
        # Answer as the platform's own server does (see the module's docstring). Such a server
        # always enforces a per-minute limit: 60 unless told otherwise.
        self.real_server = real_server
        if real_server and rate_limit_per_minute is None:
            rate_limit_per_minute = 60
        # What account/info reports, and (unless ``enforced_rate_limit_per_minute`` is set) what
        # the shop enforces: a test sets the latter lower to play a limit tighter than it says.
        self.rate_limit_per_minute = rate_limit_per_minute
        self.enforced_rate_limit_per_minute: int | None = None
        # The zone created_at/updated_at (and every naive time) are printed in: the docs' UTC+7,
        # another installation's zone when set. ``timestamp`` (Unix time) does not depend on it.
        self.created_at_zone_hours = created_at_zone_hours
        # Seconds the shop's clock runs ahead (negative: behind), on top of ``clock``: shifts
        # created_at and timestamp alike.
        self.clock_skew_seconds = clock_skew_seconds
        # What account/info (full dialect) says of the key. ``used_today`` counts the requests
        # this shop accepted today (in its zone), starting from whatever a test sets; once it
        # reaches ``daily_limit`` every request is refused with a 429, as the limit implies
        # (``real_server``: 401 DAILY_LIMIT_EXCEEDED, refused calls counted too).
        self.daily_limit = 10_000
        self.used_today = 0
        self.permissions = [
            "orders.create",
            "orders.list",
            "orders.status",
            "products.list",
            "account.balance",
            "account.info",
        ]
        self.key_expires_at: datetime | None = None
        # False: a shop whose API has no account/info route at all (answers a bare 404).
        self.serves_account_info = True
        self._usage_day = ""
        self.time_scale = time_scale
        self.hang_seconds = 5.0
        self.slow_seconds = 1.0
        # How long every orders/create answer takes after its commit (a real shop's latency).
        self.create_latency_seconds = 0.0
        # How long every orders/list answer takes (a big account's list is slow to read).
        self.list_latency_seconds = 0.0
        # A web server in front of the API sending every request elsewhere, as cloneviammo.com
        # does to www.: ``redirect_to`` is the API root it names, with ``redirect_status``.
        self.redirect_to: str | None = None
        self.redirect_status = 301
        # Latitudes the docs leave open; tests flip them (see ListOrder and Paging).
        self.list_order: ListOrder = "newest_first"
        self.paging: Paging = "honoured"
        self.multi_item: MultiItem = "in_order"
        # created_at printed to the second, or (some shops) to the minute, seconds always :00.
        self.created_at_precision: Precision = "seconds"
        # For this long after create, orders/status does not know the order yet (a replica lag).
        self.status_lag_seconds = 0.0
        # For this long after create, orders/list does not show the order yet (a search index
        # behind the books); math.inf: it never does, though the order was bought.
        self.list_lag_seconds = 0.0
        # Each create line of quantity N answered as several orders of these sizes (the last
        # size repeated, the final order cut to fit): [1] makes N orders of 1. None: one order.
        self.quantity_split: list[int] | None = None
        # How a completed order's credentials are printed (see CompletionShape).
        self.completion_shape: CompletionShape = "per_unit"
        # categories/list answers no category while products have some (the real server's bug).
        self.categories_list_empty = False
        # Paths (substrings) whose answer is a gzip bomb, or dripped a byte every drip_seconds.
        self.bomb_paths: list[str] = []
        self.drip_paths: list[str] = []
        self.drip_seconds = 1.0
        # The supplier's own clock, which stamps created_at (a test may skew or step it).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.calls: list[tuple[str, str]] = []
        self.count_429 = 0
        self._api_key = api_key
        self._api_secret = api_secret
        self._balance = float(balance)
        self._lock = threading.Lock()
        self._plans: dict[int, _Plan] = {}
        # Product ids in order, each with its plans in order: rebuilt only when a plan is added,
        # so a products/list page costs O(page), not O(catalogue) (a sync reads every page).
        self._catalogue: list[tuple[int, list[_Plan]]] | None = None
        self._orders: dict[str, Purchase] = {}
        self._create_faults: deque[str] = deque()
        self._pending_429 = 0
        self._refusals: list[_InjectedRefusal] = []
        self._windows: dict[str, deque[float]] = {}
        self._categories: dict[int, _Category] = {}
        # Other customers (user ids) who buy what the next creates buy, in the same second.
        self._shadows: deque[int] = deque()
        self._order_ids = 0
        self._credentials = 0
        # A random start keeps trans_ids of two simulators in one test apart.
        self._trans_seq = secrets.randbelow(8_000_000) + 1_000_000
        self.app = Starlette(
            routes=self._routes(),
            middleware=[
                Middleware(_RedirectSwitch, simulator=self),
                Middleware(_WireSwitch, simulator=self),
            ],
        )

    # -- driving the simulator from tests ---------------------------------------------------

    def add_plan(
        self,
        plan_id: int,
        *,
        name: str,
        price: float = 50_000,
        product_id: int | None = None,
        product_name: str | None = None,
        is_instant: bool = True,
        stock: int = 100,
        fields: list[dict[str, Any]] | None = None,
        category_id: int | None = None,
    ) -> None:
        """Add (or replace) a plan; without ``product_id`` it is the only plan of its product.
        A product is in the categories of its plans (``category_id``, see ``add_category``)."""
        plan = _Plan(
            id=plan_id,
            name=name,
            price=float(price),
            product_id=plan_id if product_id is None else product_id,
            product_name=product_name or name,
            is_instant=is_instant,
            stock=stock,
            fields=[_plan_field(raw) for raw in fields or []],
            category_id=category_id,
        )
        with self._lock:
            self._plans[plan_id] = plan
            self._catalogue = None

    def add_category(
        self, category_id: int, name: str, *, parent_id: int = 0, sort_order: int = 0
    ) -> None:
        """Add (or replace) a category, listed by categories/list."""
        with self._lock:
            self._categories[category_id] = _Category(category_id, name, parent_id, sort_order)

    def switch(self, **values: Any) -> None:
        """Set switches by name under the lock, e.g. ``switch(real_server=True,
        created_at_zone_hours=8, quantity_split=[1])``; an unknown name is refused."""
        unknown = sorted(set(values) - set(SWITCHES))
        if unknown:
            raise ValueError(f"unknown switches {unknown}; known: {sorted(SWITCHES)}")
        with self._lock:
            for key, value in values.items():
                setattr(self, key, value)

    def drip(self, *paths: str, seconds_per_byte: float = 1.0) -> None:
        """Send the answers of paths containing one of ``paths`` a byte every
        ``seconds_per_byte``; no paths: stop dripping."""
        with self._lock:
            self.drip_paths, self.drip_seconds = list(paths), seconds_per_byte

    def bomb(self, *paths: str) -> None:
        """Answer paths containing one of ``paths`` with a gzip bomb (~150 KB on the wire,
        ~150 MiB expanded) after the handler ran; no paths: stop."""
        with self._lock:
            self.bomb_paths = list(paths)

    def set_stock(self, plan_id: int, stock: int) -> None:
        with self._lock:
            self._plans[plan_id].stock = stock

    def set_balance(self, balance: float) -> None:
        with self._lock:
            self._balance = float(balance)

    @property
    def balance(self) -> float:
        with self._lock:
            return self._balance

    def complete_pending(self, trans_id: str | None = None) -> int:
        """Fulfil manual orders by hand (all pending ones if ``trans_id`` is None)."""
        with self._lock:
            if trans_id is not None and trans_id not in self._orders:
                raise KeyError(trans_id)
            chosen = [self._orders[trans_id]] if trans_id else list(self._orders.values())
            done = 0
            for purchase in chosen:
                missing = purchase.quantity - purchase.delivered_units
                if purchase.status in ("pending", "processing", "completed") and missing > 0:
                    self._deliver(purchase, missing)
                    done += 1
            return done

    def deliver_partial(self, trans_id: str, count: int) -> None:
        """Hand over only ``count`` units for now: completed, with delivered < expected."""
        with self._lock:
            purchase = self._orders[trans_id]
            missing = min(count, purchase.quantity) - purchase.delivered_units
            self._deliver(purchase, max(missing, 0))

    def cancel(self, trans_id: str) -> None:
        """Cancel an unfulfilled order and refund it, as the supplier's staff may."""
        with self._lock:
            purchase = self._orders[trans_id]
            if purchase.status not in ("pending", "processing"):
                raise ValueError(f"{trans_id} is {purchase.status}, not cancellable")
            purchase.status = "cancelled"
            self._repay(purchase)

    def refund(self, trans_id: str) -> None:
        """Refund an order, delivered or not (status ``refunded``): the money goes back to the
        balance and orders/status shows no credentials any more."""
        with self._lock:
            purchase = self._orders[trans_id]
            if purchase.status in ("cancelled", "refunded"):
                raise ValueError(f"{trans_id} is {purchase.status}: its money is back already")
            purchase.status = "refunded"
            self._repay(purchase)

    def cancel_without_refund(self, trans_id: str) -> None:
        """Cancel a paid order and keep the money (status ``cancelled_no_refund``), as the real
        server does when an admin cancels."""
        with self._lock:
            purchase = self._orders[trans_id]
            if purchase.status in ("cancelled", "refunded", "cancelled_no_refund"):
                raise ValueError(f"{trans_id} is {purchase.status}, not cancellable")
            purchase.status = "cancelled_no_refund"

    def place_web_order(
        self,
        plan_id: int,
        *,
        quantity: int = 1,
        at: datetime | None = None,
        fields: dict[str, str] | None = None,
    ) -> str:
        """The key's own user buys ``plan_id`` on the shop's website (``order_source`` "web"),
        paid from the same balance, at ``at`` (aware; default: the shop's clock now). Listed by
        orders/list beside the API's orders; answers its trans_id."""
        with self._lock:
            plan = self._plans[plan_id]
            self._check_stock(plan, quantity)
            if self._balance < plan.price * quantity:
                raise ValueError("the balance does not cover this web order")
            placed = self._place(
                plan, quantity, dict(fields or {}), at=at, source="web", user_id=OWN_USER_ID
            )
            return placed.trans_id

    def place_foreign_order(
        self,
        plan_id: int,
        *,
        user_id: int = OWN_USER_ID + 1,
        quantity: int = 1,
        at: datetime | None = None,
        order_source: str = "api",
    ) -> str:
        """Another customer (``user_id``) buys ``plan_id``: takes stock, not our balance. Seen in
        orders/list and orders/status only by a key with the ``all`` permission."""
        if user_id == OWN_USER_ID:
            raise ValueError("a foreign order needs another user_id; see place_web_order")
        with self._lock:
            plan = self._plans[plan_id]
            self._check_stock(plan, quantity)
            placed = self._place(plan, quantity, {}, at=at, source=order_source, user_id=user_id)
            return placed.trans_id

    @staticmethod
    def _check_stock(plan: _Plan, quantity: int) -> None:
        if quantity < 1 or (plan.is_instant and plan.stock < quantity):
            raise ValueError(f"plan {plan.id} cannot sell {quantity} (stock {plan.stock})")

    def shadow_next_api_order(self, *, user_id: int = OWN_USER_ID + 1, times: int = 1) -> None:
        """For the next ``times`` orders/create calls that buy, another customer (``user_id``)
        buys the first line's plan and quantity in the same second, placed right after ours (so
        newest-first lists show theirs first)."""
        if user_id == OWN_USER_ID:
            raise ValueError("a shadow order needs another user_id")
        with self._lock:
            self._shadows.extend([user_id] * times)

    @property
    def ledger(self) -> list[Purchase]:
        """Copies of every order, oldest first."""
        with self._lock:
            return [
                replace(p, fields=dict(p.fields), items=list(p.items))
                for p in sorted(self._orders.values(), key=lambda p: p.order_id)
            ]

    def inject(self, fault: str, times: int = 1) -> None:
        """Apply ``fault`` to the next ``times`` ``orders/create`` calls ("429": any request).

        A fault is used up by the call it hits even when that call is refused for another reason;
        the ``*_after_commit`` faults only bite when the order commits. "429" plays a proxy in
        front of the shop: it keeps its 429 and Retry-After even with ``real_server``, whose own
        rate limit is ``refuse("RATE_LIMIT_EXCEEDED")`` or a spent ``rate_limit_per_minute``.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        with self._lock:
            if fault == "429":
                self._pending_429 += times
            else:
                self._create_faults.extend([fault] * times)

    def refuse(self, code: str, times: int = 1, *, path_contains: str | None = None) -> None:
        """Answer the next ``times`` requests (those whose path contains ``path_contains``) with
        the documented refusal ``code`` (see ``REFUSALS``), before the key is even checked: a
        disabled key, a host not on the key's IP list, a permission taken away, a spent limit.
        With ``real_server`` an auth-stage code (``AUTH_STAGE``) is a 401 without Retry-After,
        and the call still counts against the key's limits.
        """
        if code not in REFUSALS:
            raise ValueError(f"unknown error code {code!r}; known: {sorted(REFUSALS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._refusals.append(_InjectedRefusal(code, times, path_contains))

    # -- HTTP ---------------------------------------------------------------------------------

    def _redirect(self, request: Request) -> Response | None:
        with self._lock:
            target, status = self.redirect_to, self.redirect_status
            if target is None:
                return None
            self.calls.append((request.method, request.url.path))
        # Path below the API root and query kept, as nginx's `return 301 https://www.…$request_uri`.
        query = f"?{request.url.query}" if request.url.query else ""
        location = target.rstrip("/") + request.url.path.removeprefix(API) + query
        return Response(status_code=status, headers={"Location": location})

    def _endpoints(self) -> list[tuple[str, str, Handler]]:
        return [
            ("POST", "/orders/create", self._orders_create),
            ("GET", "/orders/status", self._orders_status),
            ("GET", "/orders/list", self._orders_list),
            ("GET", "/products/list", self._products_list),
            ("GET", "/categories/list", self._categories_list),
            ("GET", "/account/balance", self._account_balance),
            ("GET", "/account/info", self._account_info),
        ]

    def _routes(self) -> list[Route]:
        return [
            Route(API + path, self._guarded(handler), methods=[method])
            for method, path, handler in self._endpoints()
        ]

    def _wrong_method(self, method: str, path: str) -> bool:
        """An API path asked with a method it does not take (HEAD goes with GET)."""
        for wanted, endpoint, _ in self._endpoints():
            if path == API + endpoint:
                return method not in ({wanted, "HEAD"} if wanted == "GET" else {wanted})
        return False

    def _guarded(self, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                with self._lock:
                    self._admit(request)
                return await handler(request)
            except _Refusal as refusal:
                return self._refusal(refusal)

        return endpoint

    def _admit(self, request: Request) -> None:
        """Record the call, then the checks every endpoint shares: faults, auth, rate limit."""
        self.calls.append((request.method, request.url.path))
        if self._pending_429:
            # A 429 from whatever sits in front of the shop (real_server or not: the PHP code
            # itself never answers 429).
            self._pending_429 -= 1
            self.count_429 += 1
            raise _RateLimited(1)
        if self.real_server:
            self._admit_as_real_server(request)
            return
        self._take_refusal(request.url.path)
        key = request.headers.get("X-API-Key", "")
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            raise _Refusal(401, INVALID_API_KEY, "API Key không hợp lệ")
        secret = request.headers.get("X-API-Secret", "")
        if not hmac.compare_digest(secret.encode(), self._api_secret.encode()):
            raise _Refusal(401, INVALID_API_SECRET, "API Secret không chính xác")
        self._count_against_limit(key)

    def _admit_as_real_server(self, request: Request) -> None:
        """The real server's order: a call with a known key is logged first, so refused calls
        count against both limits; then each auth-stage check (401), then the permission (403)."""
        key = request.headers.get("X-API-Key", "")
        known = hmac.compare_digest(key.encode(), self._api_key.encode())
        over_day, over_minute = self._log_call(key) if known else (False, False)
        self._take_refusal(request.url.path)
        if not known:
            raise self._coded(INVALID_API_KEY)
        secret = request.headers.get("X-API-Secret", "")
        if not hmac.compare_digest(secret.encode(), self._api_secret.encode()):
            raise self._coded(INVALID_API_SECRET)
        if self.key_expires_at is not None and self.key_expires_at <= self._now():
            raise self._coded(EXPIRED_API_KEY)
        if over_day or over_minute:
            self.count_429 += 1
            raise self._coded(DAILY_LIMIT_EXCEEDED if over_day else RATE_LIMIT_EXCEEDED)
        needed = ENDPOINT_PERMISSIONS.get(request.url.path.removeprefix(API))
        if needed and not {"all", needed} & set(self.permissions):
            raise self._coded(PERMISSION_DENIED)

    def _coded(self, code: str, message: str | None = None) -> _Refusal:
        """The refusal ``code`` with the status this shop gives it."""
        status, default = REFUSALS[code]
        if self.real_server and code in AUTH_STAGE:
            status = 401
        return _Refusal(status, code, message or default)

    def _take_refusal(self, path: str) -> None:
        for injected in self._refusals:
            if injected.path_contains is None or injected.path_contains in path:
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._refusals.remove(injected)
                if injected.code == RATE_LIMIT_EXCEEDED and not self.real_server:
                    self.count_429 += 1
                    raise _RateLimited(1)
                raise self._coded(injected.code)

    def _new_day(self) -> None:
        """``used_today`` starts again at the shop's midnight."""
        # The wall clock, not ``self.clock``: tests drive that one per order created.
        day = self._local(datetime.now(UTC)).split()[0]
        if day != self._usage_day:
            if self._usage_day:
                self.used_today = 0
            self._usage_day = day

    def _per_minute(self) -> int | None:
        enforced = self.enforced_rate_limit_per_minute
        return enforced if enforced is not None else self.rate_limit_per_minute

    def _window(self, key: str) -> tuple[deque[float], float]:
        """The key's calls within the sliding minute (``time_scale`` shortens it), and now."""
        window = 60.0 / self.time_scale
        now = time.monotonic()
        stamps = self._windows.setdefault(key, deque())
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        return stamps, now

    def _count_against_limit(self, key: str) -> None:
        """The day's count against ``daily_limit``, then a sliding window of
        ``rate_limit_per_minute`` accepted requests per key."""
        self._new_day()
        if self.used_today >= self.daily_limit:
            self.count_429 += 1
            raise _RateLimited(3600)
        self.used_today += 1
        limit = self._per_minute()
        if limit is None:
            return
        stamps, now = self._window(key)
        if len(stamps) >= limit:
            self.count_429 += 1
            raise _RateLimited(max(1, math.ceil(stamps[0] + 60.0 / self.time_scale - now)))
        stamps.append(now)

    def _log_call(self, key: str) -> tuple[bool, bool]:
        """Log a call against the key whatever becomes of it; whether it is over the day's
        limit and over the minute's, this call included."""
        self._new_day()
        self.used_today += 1
        limit = self._per_minute()
        stamps, now = self._window(key)
        stamps.append(now)
        return self.used_today > self.daily_limit, limit is not None and len(stamps) > limit

    def _refusal(self, refusal: _Refusal) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(refusal, _RateLimited):
            headers["Retry-After"] = str(refusal.retry_after)
        body = {"success": False, "message": refusal.message, "data": {"error_code": refusal.code}}
        return JSONResponse(body, status_code=refusal.status, headers=headers)

    def _full(self) -> bool:
        """The full dialect: the real server's code answers it for every shop (shopkey too)."""
        return self.dialect == "full" or self.real_server

    def _now(self) -> datetime:
        """The shop's own clock: ``clock`` shifted by ``clock_skew_seconds``."""
        return self.clock() + timedelta(seconds=self.clock_skew_seconds)

    def _local(self, moment: datetime) -> str:
        return _local_time(moment, timezone(timedelta(hours=self.created_at_zone_hours)))

    def _ok(
        self, data: dict[str, Any], *, status: int = 200, message: str | None = None
    ) -> Response:
        body: dict[str, Any] = {"success": True}
        if message is not None:
            body["message"] = message
        if self._full():
            body["timestamp"] = int(self._now().timestamp())
            body["request_id"] = f"req_{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
        body["data"] = data
        return JSONResponse(body, status_code=status)

    # -- orders -----------------------------------------------------------------------------

    async def _orders_create(self, request: Request) -> Response:
        with self._lock:
            fault = self._create_faults.popleft() if self._create_faults else None
        if fault == "slow":
            # Not interruptible: a client that gives up first still gets its order, later.
            await asyncio.sleep(self.slow_seconds)
        if fault == "5xx_before_commit":
            raise _Refusal(500, CHECKOUT_ERROR, "Không thể xử lý thanh toán, vui lòng thử lại")
        try:
            payload = await request.json()
        except ValueError as exc:
            raise _Refusal(400, INVALID_JSON, "Dữ liệu JSON không hợp lệ") from exc
        with self._lock:
            lines = self._validate(payload)
            if self.multi_item == "partial" and len(lines) > 1:
                self._commit(lines[:1])
                plan = lines[1][0]
                if self.real_server:
                    raise self._not_enough(plan)
                raise _Refusal(400, OUT_OF_STOCK, f"{plan.name}: sản phẩm đã hết hàng")
            self._check_out(lines, sold_out=fault == "sold_out_in_checkout")
            if self.multi_item == "merged":
                lines = _merge_plans(lines)
            if self.quantity_split:
                lines = _split_lines(lines, self.quantity_split)
            purchases = self._commit(lines)
            if self.multi_item == "reversed":
                purchases.reverse()
            new_balance = self._balance
            real = self.real_server
        if self.create_latency_seconds:
            await asyncio.sleep(self.create_latency_seconds)
        if fault == "5xx_after_commit":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if fault == "drop_after_commit":
            return _DroppedResponse()
        if fault == "hang_after_commit":
            await self._hang(request)
        if real:
            coupon = payload.get("coupon_code") if isinstance(payload, dict) else None
            body = self._real_created_body(purchases, new_balance, coupon)
        else:
            body = self._created_body(purchases, new_balance)
        return self._ok(body, status=201, message="Đơn hàng đã được tạo thành công")

    def _validate(self, payload: object) -> list[tuple[_Plan, int, dict[str, str]]]:
        """Check every item before anything is bought: an order is all or nothing.

        The real server checks each item on its own against the stock and answers CART_ERROR
        for an unknown plan or too few units; units of one plan over several items are counted
        together only at checkout (``_check_out``)."""
        items = payload.get("items") if isinstance(payload, dict) else None
        if not isinstance(items, list) or not items:
            raise _Refusal(400, ITEMS_REQUIRED, "Vui lòng chọn ít nhất một sản phẩm")
        lines: list[tuple[_Plan, int, dict[str, str]]] = []
        units: dict[int, int] = {}
        for raw in items:
            if not isinstance(raw, dict):
                raise _Refusal(400, CART_ERROR, "Sản phẩm không hợp lệ")
            plan_id = _whole(raw.get("plan_id"))
            plan = self._plans.get(plan_id) if plan_id is not None else None
            if plan is None and self.real_server:
                raise _Refusal(400, CART_ERROR, f"Gói #{raw.get('plan_id')} không tồn tại")
            if plan is None:
                raise _Refusal(404, PRODUCT_NOT_FOUND, "Sản phẩm không tồn tại")
            quantity = _whole(raw.get("quantity", 1))
            if quantity is None or quantity < 1:
                raise _Refusal(400, CART_ERROR, "Số lượng không hợp lệ")
            if plan.is_instant and self.real_server and plan.stock < quantity:
                raise self._not_enough(plan)
            if plan.is_instant and not self.real_server:
                units[plan.id] = units.get(plan.id, 0) + quantity
                if plan.stock < units[plan.id]:
                    raise _Refusal(400, OUT_OF_STOCK, f"{plan.name}: sản phẩm đã hết hàng")
            lines.append((plan, quantity, _required_fields(plan, raw.get("fields"))))
        total = sum(plan.price * quantity for plan, quantity, _ in lines)
        if self._balance < total:
            raise _Refusal(400, INSUFFICIENT_BALANCE, "Số dư không đủ để thanh toán")
        return lines

    def _not_enough(self, plan: _Plan) -> _Refusal:
        """The real server's word for a sold-out plan or too few units."""
        message = f'Sản phẩm "{plan.product_name}" không đủ kho hàng (còn {max(plan.stock, 0)})'
        return _Refusal(400, CART_ERROR, message)

    def _check_out(self, lines: list[tuple[_Plan, int, dict[str, str]]], *, sold_out: bool) -> None:
        """The checkout transaction's own stock check: stock gone since the cart was checked
        (``sold_out``: another buyer took all of it) or, on the real server, one plan's units
        over several items exceeding it. Rolled back: CHECKOUT_ERROR 500, nothing bought."""
        if sold_out:
            for plan, _, _ in lines:
                if plan.is_instant:
                    plan.stock = 0
        units: dict[int, int] = {}
        for plan, quantity, _ in lines:
            units[plan.id] = units.get(plan.id, 0) + quantity
            if sold_out or (self.real_server and plan.is_instant and plan.stock < units[plan.id]):
                message = f'Lỗi thanh toán: Sản phẩm "{plan.product_name}" không đủ kho hàng'
                raise _Refusal(500, CHECKOUT_ERROR, message)

    def _commit(self, lines: list[tuple[_Plan, int, dict[str, str]]]) -> list[Purchase]:
        purchases = [
            self._place(plan, quantity, fields, at=None, source="api", user_id=OWN_USER_ID)
            for plan, quantity, fields in lines
        ]
        if purchases and self._shadows:
            # Another customer's order of the same plan, in the same second, right after ours.
            first = purchases[0]
            plan, user_id = self._plans[first.plan_id], self._shadows.popleft()
            if not plan.is_instant or plan.stock >= first.quantity:
                self._place(
                    plan, first.quantity, {}, at=first.created_at, source="api", user_id=user_id
                )
        return purchases

    def _place(
        self,
        plan: _Plan,
        quantity: int,
        fields: dict[str, str],
        *,
        at: datetime | None,
        source: str,
        user_id: int,
    ) -> Purchase:
        """Book one order: stock taken and credentials handed over at once for an instant
        plan, paid from our balance when it is our user's."""
        if at is not None and at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        self._order_ids += 1
        self._trans_seq += 1
        purchase = Purchase(
            trans_id=self._new_trans_id(),
            plan_id=plan.id,
            quantity=quantity,
            fields=fields,
            status="pending",
            created_at=self._now() if at is None else at,
            items=[],
            amount=plan.price * quantity,
            order_id=self._order_ids,
            user_id=user_id,
            order_source=source,
        )
        if plan.is_instant:
            plan.stock -= quantity
            self._deliver(purchase, quantity)
        if user_id == OWN_USER_ID:
            self._balance -= purchase.amount
        self._orders[purchase.trans_id] = purchase
        return purchase

    def _new_trans_id(self) -> str:
        if not self.real_server:
            return f"PO{self._trans_seq}"
        while True:  # the real server draws 7 characters of 1-9A-Z until one is free
            trans_id = "".join(secrets.choice(TRANS_ID_ALPHABET) for _ in range(7))
            if trans_id not in self._orders:
                return trans_id

    def _deliver(self, purchase: Purchase, count: int) -> None:
        """Hand over ``count`` more units (completed, even with fewer than ordered); once all
        are handed over, ``completion_shape`` decides how the credentials are printed."""
        if count > 0:
            purchase.items += self._credentials_for(purchase.plan_id, count)
            purchase.delivered_units += count
        purchase.status = "completed"
        if count > 0 and purchase.delivered_units >= purchase.quantity:
            units = purchase.items
            if self.completion_shape == "none":
                purchase.items = []
            elif self.completion_shape == "one_string":
                purchase.items = ["; ".join(units)]
            elif self.completion_shape == "fewer":
                purchase.items = ["; ".join(units[i : i + 2]) for i in range(0, len(units), 2)]
                purchase.delivered_count = purchase.quantity

    def _repay(self, purchase: Purchase) -> None:
        if purchase.user_id == OWN_USER_ID:  # another customer's money is not ours
            self._balance += purchase.amount

    def _credentials_for(self, plan_id: int, quantity: int) -> list[str]:
        items = []
        for _ in range(quantity):
            self._credentials += 1
            user = f"u{self._credentials}@plan{plan_id}.example"
            items.append(f"Account: {user} | Pass: {secrets.token_urlsafe(9)}")
        return items

    async def _hang(self, request: Request) -> None:
        """Hold the answer back, but stop once the client has given up (keeps shutdown quick)."""
        deadline = time.monotonic() + self.hang_seconds
        while time.monotonic() < deadline:
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.02)

    def _created_body(self, purchases: list[Purchase], new_balance: float) -> dict[str, Any]:
        orders = [
            {
                "trans_id": p.trans_id,
                "product_name": self._plans[p.plan_id].product_name,
                "status": p.status,
                "total": _money(p.amount),
            }
            for p in purchases
        ]
        total = sum(p.amount for p in purchases)
        return {
            "orders": orders,
            "summary": {"total_amount": _money(total), "new_balance": _money(new_balance)},
        }

    def _real_created_body(
        self, purchases: list[Purchase], new_balance: float, coupon: object
    ) -> dict[str, Any]:
        """The real server's create answer: every order's ids, names and a decimal-string unit
        price; a coupon (none is valid here) is skipped with a warning, not refused."""
        orders = []
        for p in purchases:
            plan = self._plans[p.plan_id]
            orders.append(
                {
                    "order_id": p.order_id,
                    "trans_id": p.trans_id,
                    "product_id": plan.product_id,
                    "product_name": plan.product_name,
                    "plan_id": plan.id,
                    "plan_name": plan.name,
                    "quantity": p.quantity,
                    "unit_price": f"{plan.price:.2f}",
                    "total": _money(p.amount),
                    "discount": 0,
                    "final_amount": _money(p.amount),
                    "status": p.status,
                }
            )
        total = _money(sum(p.amount for p in purchases))
        body: dict[str, Any] = {
            "orders": orders,
            "summary": {
                "orders_count": len(orders),
                "original_total": total,
                "discount_amount": 0,
                "coupon_code": None,
                "total_amount": total,
                "new_balance": _money(new_balance),
            },
        }
        if coupon:
            message = f"Mã giảm giá {coupon} không hợp lệ, đã bỏ qua"
            body["warnings"] = [{"code": COUPON_SKIPPED, "message": message}]
        return body

    async def _orders_status(self, request: Request) -> Response:
        trans_id = request.query_params.get("trans_id", "")
        if not trans_id and self.real_server:
            raise _Refusal(400, PARAMS_REQUIRED, "Thiếu tham số bắt buộc: trans_id")
        if not trans_id:
            raise _Refusal(400, "TRANS_ID_REQUIRED", "Thiếu mã giao dịch")
        with self._lock:
            purchase = self._orders.get(trans_id)
            if purchase is not None and not self._visible(purchase):
                purchase = None
            lagging = (
                purchase is not None
                and (self._now() - purchase.created_at).total_seconds() < self.status_lag_seconds
            )
            if purchase is None or lagging:
                raise _Refusal(404, ORDER_NOT_FOUND, "Không tìm thấy đơn hàng")
            body = self._status_body(purchase)
        return self._ok(body)

    def _listed_yet(self, purchase: Purchase, now: datetime) -> bool:
        return (now - purchase.created_at).total_seconds() >= self.list_lag_seconds

    def _visible(self, purchase: Purchase) -> bool:
        """Our user's orders, and with the ``all`` permission every customer's."""
        return purchase.user_id == OWN_USER_ID or "all" in self.permissions

    def _status_body(self, p: Purchase) -> dict[str, Any]:
        items = list(p.items) if p.status == "completed" else []
        delivered = len(items)
        if p.delivered_count is not None and p.status == "completed":
            delivered = p.delivered_count
        if not self._full():
            return {
                "trans_id": p.trans_id,
                "status": p.status,
                "total_amount": _money(p.amount),
                "delivery": {"items": items, "delivered_count": delivered},
            }
        plan = self._plans[p.plan_id]
        stamp = self._stamp(p.created_at)
        order = {
            "id": p.order_id,
            "trans_id": p.trans_id,
            "user_id": p.user_id,
            "product": {"id": plan.product_id, "name": plan.product_name, "slug": _slug(plan)},
            "plan": {"id": plan.id, "name": plan.name, "is_instant": plan.is_instant},
            "quantity": p.quantity,
            "total_price": _money(p.amount),
            "sale_price": _money(plan.price),
            "discount_amount": 0,
            "coupon_code": None,
            "final_amount": _money(p.amount),
            "fields_data": dict(p.fields) or [],  # PHP: an empty array is [], a keyed one {}
            "status": p.status,
            "payment_status": _payment_status(p.status),
            "order_source": p.order_source,
            "created_at": stamp,
            "updated_at": stamp,
        }
        delivery = {"items": items, "delivered_count": delivered, "expected_count": p.quantity}
        return {"order": order, "delivery": delivery}

    async def _orders_list(self, request: Request) -> Response:
        # The real server's default page is 10 orders, the docs' 20.
        page, limit = _paging(request, default_limit=10 if self.real_server else 20)
        wanted = request.query_params.get("status")
        if self.real_server and wanted not in STATUSES:
            wanted = None  # the real server ignores a status filter it does not know
        with self._lock:
            newest = self.list_order == "newest_first"
            ordered = sorted(self._orders.values(), key=lambda p: p.order_id, reverse=newest)
            now = self._now()
            chosen = [
                p
                for p in ordered
                if wanted in (None, "", p.status)
                and self._visible(p)
                and (not self.list_lag_seconds or self._listed_yet(p, now))
            ]
            shown = chosen[(page - 1) * limit : page * limit]
            orders = [self._listed(p) for p in shown]
        if self.list_latency_seconds:
            await asyncio.sleep(self.list_latency_seconds)
        return self._ok({"orders": orders, "pagination": _pagination(page, limit, len(chosen))})

    def _stamp(self, moment: datetime) -> str:
        if self.created_at_precision == "minutes":
            moment = moment.replace(second=0, microsecond=0)
        return self._local(moment)

    def _listed(self, p: Purchase) -> dict[str, Any]:
        plan = self._plans[p.plan_id]
        return {
            "id": p.order_id,
            "trans_id": p.trans_id,
            "product": {"id": plan.product_id, "name": plan.product_name, "slug": _slug(plan)},
            "plan": {"id": plan.id, "name": plan.name},
            "quantity": p.quantity,
            "total_price": _money(p.amount),
            "final_amount": _money(p.amount),
            "status": p.status,
            "payment_status": _payment_status(p.status),
            "created_at": self._stamp(p.created_at),
        }

    # -- catalogue and account --------------------------------------------------------------

    async def _products_list(self, request: Request) -> Response:
        page, limit = _paging(request, default_limit=10)
        # Filters only when asked: ``category_id`` (a product is in its plans' categories) and
        # ``search`` (a piece of the product's name, any case).
        category_id = _whole(request.query_params.get("category_id"))
        search = request.query_params.get("search", "").strip().casefold()
        with self._lock:
            catalogue = self._sorted_catalogue()
            if category_id or search:
                catalogue = [
                    (product_id, plans)
                    for product_id, plans in catalogue
                    if (not category_id or any(p.category_id == category_id for p in plans))
                    and search in plans[0].product_name.casefold()
                ]
            paging = self.paging
            total = len(catalogue)
            if paging == "unpaged":
                return self._ok({"products": self._products(catalogue)})
            if paging == "first_ten":
                # Page and limit ignored by the query, but not by the pagination block.
                shown = self._products(catalogue[:10])
                return self._ok({"products": shown, "pagination": _pagination(page, limit, total)})
            if paging == "ignores_page":
                page = 1
            shown = self._products(catalogue[(page - 1) * limit : page * limit])
        return self._ok({"products": shown, "pagination": _pagination(page, limit, total)})

    def _sorted_catalogue(self) -> list[tuple[int, list[_Plan]]]:
        """Products by id, each with its plans by id (under the lock)."""
        if self._catalogue is None:
            by_product: dict[int, list[_Plan]] = {}
            for plan in sorted(self._plans.values(), key=lambda plan: plan.id):
                by_product.setdefault(plan.product_id, []).append(plan)
            self._catalogue = sorted(by_product.items())
        return self._catalogue

    def _products(self, catalogue: list[tuple[int, list[_Plan]]]) -> list[dict[str, Any]]:
        products = []
        for product_id, plans in catalogue:
            product: dict[str, Any] = {
                "id": product_id,
                "name": plans[0].product_name,
                "slug": _slug(plans[0]),
            }
            category_ids = list(dict.fromkeys(p.category_id for p in plans if p.category_id))
            if category_ids:  # only a catalogue with categories prints them
                categories = [self._category(category_id) for category_id in category_ids]
                product |= {"category": categories[0], "categories": categories}
            products.append(
                product
                | {
                    "min_price": _money(min(plan.price for plan in plans)),
                    "max_price": _money(max(plan.price for plan in plans)),
                    "plans": [_listed_plan(plan) for plan in plans],
                }
            )
        return products

    def _category(self, category_id: int) -> dict[str, Any]:
        known = self._categories.get(category_id)
        name = known.name if known else f"Danh mục {category_id}"
        return {"id": category_id, "name": name, "slug": _slugify(name), "image": None}

    async def _categories_list(self, request: Request) -> Response:
        with self._lock:
            categories = [
                {
                    **self._category(c.id),
                    "description": "",
                    "parent_id": c.parent_id,
                    "sort_order": c.sort_order,
                }
                for c in sorted(self._categories.values(), key=lambda c: c.id)
            ]
            if self.categories_list_empty:
                # The real server's bug: it filters a numeric column by a word, finds nothing.
                categories = []
        return self._ok({"categories": categories, "total": len(categories)})

    async def _account_balance(self, request: Request) -> Response:
        with self._lock:
            balance = self._balance
        formatted = f"{balance:,.0f}"
        if not self._full():
            return self._ok(
                {"balance": _money(balance), "currency": "VND", "formatted": f"{formatted} ₫"}
            )
        return self._ok(
            {
                "user": self._user(),
                "balance": {
                    "current": _money(balance),
                    "total_deposited": _money(max(balance, 0)),
                    "currency": "VND",
                    "formatted": formatted.replace(",", ".") + "đ",
                },
            }
        )

    async def _account_info(self, request: Request) -> Response:
        with self._lock:
            balance = _money(self._balance)
            statuses = [p.status for p in self._orders.values() if p.user_id == OWN_USER_ID]
            served, used = self.serves_account_info, self.used_today
            permissions, expires = list(self.permissions), self.key_expires_at
            today = self._local(datetime.now(UTC)).split()[0]
        if not served:
            return PlainTextResponse("Not Found", status_code=404)
        if not self._full():
            return self._ok({**self._user(), "balance": balance, "total_orders": len(statuses)})
        return self._ok(
            {
                "user": {**self._user(), "balance": balance},
                "api_key": {
                    "name": "API Key",
                    "permissions": permissions,
                    # A shop that enforces no rate (the default here) tells none: the bridge
                    # then keeps its configured limit, as for any key that does not say.
                    **(
                        {"rate_limit": self.rate_limit_per_minute}
                        if self.rate_limit_per_minute is not None
                        else {}
                    ),
                    "daily_limit": self.daily_limit,
                    # Printed naive in the shop's zone, like every time of these docs.
                    "expires_at": self._local(expires) if expires is not None else None,
                    "created_at": "2026-02-02 14:53:35",
                },
                "orders_summary": {
                    "total": len(statuses),
                    "pending": statuses.count("pending"),
                    "completed": statuses.count("completed"),
                },
                "api_usage_today": {
                    "period": "day",
                    "start_time": today + " 00:00:00",
                    "total_requests": used,
                    "success_requests": used,
                    "failed_requests": 0,
                    "success_rate": 100,
                },
            }
        )

    def _user(self) -> dict[str, Any]:
        return {"id": 1, "username": self.name, "email": f"{self.name}@sim.example"}


def _plan_field(raw: dict[str, Any]) -> dict[str, Any]:
    key = str(raw["key"])
    return {
        "key": key,
        "label": str(raw.get("label") or key),
        "type": str(raw.get("type") or "text"),
        "required": bool(raw.get("required", False)),
    }


def _required_fields(plan: _Plan, raw: object) -> dict[str, str]:
    """The item's ``fields`` as strings; refuses when a required one is missing or blank."""
    if raw is None or raw == []:  # PHP clients send an empty array for "no fields"
        raw = {}
    if not isinstance(raw, dict):
        raise _Refusal(400, CART_ERROR, "Trường bổ sung không hợp lệ")
    fields = {str(key): str(value) for key, value in raw.items()}
    for spec in plan.fields:
        if spec["required"] and not fields.get(spec["key"], "").strip():
            message = f"Vui lòng nhập {spec['label']} (field '{spec['key']}') cho gói {plan.id}"
            raise _Refusal(400, CART_ERROR, message)
    return fields


def _listed_plan(plan: _Plan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "name": plan.name,
        "price": _money(plan.price),
        "sale_price": 0,
        "final_price": _money(plan.price),
        "is_instant": plan.is_instant,
        "duration_type": "lifetime",
        "duration_value": None,
        # Manual plans are made to order: no stock count, always "in stock".
        "stock_count": max(plan.stock, 0) if plan.is_instant else 0,
        "in_stock": plan.stock > 0 if plan.is_instant else True,
        "description": "",
        "fields": [dict(spec) for spec in plan.fields],
    }


def _whole(value: object) -> int | None:
    """PHP reads ``12`` and ``"12"`` alike; anything else is no number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _paging(request: Request, *, default_limit: int) -> tuple[int, int]:
    page = _whole(request.query_params.get("page")) or 1
    limit = _whole(request.query_params.get("limit")) or default_limit
    return max(page, 1), min(max(limit, 1), 100)


def _pagination(page: int, limit: int, total: int) -> dict[str, Any]:
    total_pages = math.ceil(total / limit) if total else 0
    return {
        "current_page": page,
        "per_page": limit,
        "total": total,
        "total_pages": total_pages,
        "has_more": page < total_pages,
    }


def _merge_plans(
    lines: list[tuple[_Plan, int, dict[str, str]]],
) -> list[tuple[_Plan, int, dict[str, str]]]:
    """Items of one plan as one order line, in first-seen order (the first item's fields)."""
    merged: dict[int, tuple[_Plan, int, dict[str, str]]] = {}
    for plan, quantity, fields in lines:
        seen = merged.get(plan.id)
        merged[plan.id] = (plan, quantity + (seen[1] if seen else 0), seen[2] if seen else fields)
    return list(merged.values())


def _money(amount: float) -> int | float:
    """PHP prints whole amounts as integers."""
    return int(amount) if float(amount).is_integer() else amount


def _local_time(moment: datetime, zone: timezone = SUPPLIER_TZ) -> str:
    """The supplier prints naive timestamps in its zone (Vietnam time in the docs)."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")


def _payment_status(status: str) -> str:
    """Money back for a refund or a plain cancel; ``cancelled_no_refund`` keeps it paid."""
    return "refunded" if status in ("cancelled", "refunded") else "paid"


def _split_lines(
    lines: list[tuple[_Plan, int, dict[str, str]]], sizes: Sequence[int]
) -> list[tuple[_Plan, int, dict[str, str]]]:
    """Each line as orders of ``sizes`` units, the last size repeated, the last order cut."""
    split = []
    for plan, quantity, fields in lines:
        left, index = quantity, 0
        while left > 0:
            part = min(max(sizes[min(index, len(sizes) - 1)], 1), left)
            split.append((plan, part, fields))
            left, index = left - part, index + 1
    return split


def _slug(plan: _Plan) -> str:
    return _slugify(plan.product_name)


def _slugify(name: str) -> str:
    return "-".join(name.lower().split())
