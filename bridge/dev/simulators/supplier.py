"""A supplier shop ("Shop API v1"), simulated from its published docs, with fault injection.

``SupplierSimulator().app`` is a Starlette app serving the API under ``/api/v1``; tests drive the
catalogue, balance and faults from their own thread while uvicorn serves it (see
``bridge.web.server.ServerThread``), so every piece of state sits behind one lock.

Both dialects are served: ``"full"`` as caoshop.net documents it, ``"short"`` as
shopkey.appstoreviet.com does (flat ``orders/status``, numeric ``account/balance``).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

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
# The error table every doc prints (code, HTTP status, shopkey's and cloneviammo's wording), and
# the codes orders/create is known to answer besides: ``refuse`` answers any of them on demand.
REFUSALS: dict[str, tuple[int, str]] = {
    INVALID_API_KEY: (401, "API Key không hợp lệ"),
    INVALID_API_SECRET: (401, "API Secret không chính xác"),
    "DISABLED_API_KEY": (401, "API Key đã bị vô hiệu hóa"),
    RATE_LIMIT_EXCEEDED: (429, "Vượt quá giới hạn request"),
    "IP_NOT_ALLOWED": (403, "IP không được phép truy cập"),
    "PERMISSION_DENIED": (403, "Không có quyền thực hiện"),
    INSUFFICIENT_BALANCE: (400, "Số dư không đủ"),
    PRODUCT_NOT_FOUND: (404, "Sản phẩm không tồn tại"),
    OUT_OF_STOCK: (400, "Sản phẩm đã hết hàng"),
    ITEMS_REQUIRED: (400, "Vui lòng chọn ít nhất một sản phẩm"),
    INVALID_JSON: (400, "Dữ liệu JSON không hợp lệ"),
    CART_ERROR: (400, "Sản phẩm không hợp lệ"),
    CHECKOUT_ERROR: (500, "Không thể xử lý thanh toán, vui lòng thử lại"),
}
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
    }
)
API = "/api/v1"

Dialect = Literal["full", "short"]
# The docs give orders/list no sort order: either is a reasonable reading.
ListOrder = Literal["newest_first", "oldest_first"]
# The docs of shopkey/cloneviammo list no page/limit for products/list. "honoured": pages as
# asked; "ignores_page": always the first page (of the asked size), pagination as for page 1;
# "unpaged": the whole catalogue, no pagination block.
Paging = Literal["honoured", "ignores_page", "unpaged"]
# The docs show a one-item orders/create only. "in_order": one order per item, answered in request
# order; "reversed": the same, answered in reverse; "merged": items of one plan become one order;
# "partial": the first item is committed, then the rest is refused (OUT_OF_STOCK).
MultiItem = Literal["in_order", "reversed", "merged", "partial"]
Precision = Literal["seconds", "minutes"]
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
    ) -> None:
        if dialect not in ("full", "short"):
            raise ValueError(f"unknown dialect {dialect!r}")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.dialect = dialect
        self.name = name
        self.rate_limit_per_minute = rate_limit_per_minute
        # What account/info (full dialect) says of the key. ``used_today`` counts the requests
        # this shop accepted today (in its zone), starting from whatever a test sets; once it
        # reaches ``daily_limit`` every request is refused with a 429, as the limit implies.
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
        # The supplier's own clock, which stamps created_at (a test may skew or step it).
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.calls: list[tuple[str, str]] = []
        self.count_429 = 0
        self._api_key = api_key
        self._api_secret = api_secret
        self._balance = float(balance)
        self._lock = threading.Lock()
        self._plans: dict[int, _Plan] = {}
        self._orders: dict[str, Purchase] = {}
        self._create_faults: deque[str] = deque()
        self._pending_429 = 0
        self._refusals: list[_InjectedRefusal] = []
        self._windows: dict[str, deque[float]] = {}
        self._order_ids = 0
        self._credentials = 0
        # A random start keeps trans_ids of two simulators in one test apart.
        self._trans_seq = secrets.randbelow(8_000_000) + 1_000_000
        self.app = Starlette(
            routes=self._routes(), middleware=[Middleware(_RedirectSwitch, simulator=self)]
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
    ) -> None:
        """Add (or replace) a plan; without ``product_id`` it is the only plan of its product."""
        plan = _Plan(
            id=plan_id,
            name=name,
            price=float(price),
            product_id=plan_id if product_id is None else product_id,
            product_name=product_name or name,
            is_instant=is_instant,
            stock=stock,
            fields=[_plan_field(raw) for raw in fields or []],
        )
        with self._lock:
            self._plans[plan_id] = plan

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
                missing = purchase.quantity - len(purchase.items)
                if purchase.status in ("pending", "processing", "completed") and missing > 0:
                    purchase.items += self._credentials_for(purchase.plan_id, missing)
                    purchase.status = "completed"
                    done += 1
            return done

    def deliver_partial(self, trans_id: str, count: int) -> None:
        """Hand over only ``count`` units for now: completed, with delivered < expected."""
        with self._lock:
            purchase = self._orders[trans_id]
            missing = min(count, purchase.quantity) - len(purchase.items)
            if missing > 0:
                purchase.items += self._credentials_for(purchase.plan_id, missing)
            purchase.status = "completed"

    def cancel(self, trans_id: str) -> None:
        """Cancel an unfulfilled order and refund it, as the supplier's staff may."""
        with self._lock:
            purchase = self._orders[trans_id]
            if purchase.status not in ("pending", "processing"):
                raise ValueError(f"{trans_id} is {purchase.status}, not cancellable")
            purchase.status = "cancelled"
            self._balance += purchase.amount

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
        the ``*_after_commit`` faults only bite when the order commits.
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

    def _routes(self) -> list[Route]:
        endpoints: list[tuple[str, str, Handler]] = [
            ("POST", "/orders/create", self._orders_create),
            ("GET", "/orders/status", self._orders_status),
            ("GET", "/orders/list", self._orders_list),
            ("GET", "/products/list", self._products_list),
            ("GET", "/account/balance", self._account_balance),
            ("GET", "/account/info", self._account_info),
        ]
        return [
            Route(API + path, self._guarded(handler), methods=[method])
            for method, path, handler in endpoints
        ]

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
            self._pending_429 -= 1
            self.count_429 += 1
            raise _RateLimited(1)
        self._take_refusal(request.url.path)
        key = request.headers.get("X-API-Key", "")
        if not hmac.compare_digest(key.encode(), self._api_key.encode()):
            raise _Refusal(401, INVALID_API_KEY, "API Key không hợp lệ")
        secret = request.headers.get("X-API-Secret", "")
        if not hmac.compare_digest(secret.encode(), self._api_secret.encode()):
            raise _Refusal(401, INVALID_API_SECRET, "API Secret không chính xác")
        self._count_against_limit(key)

    def _take_refusal(self, path: str) -> None:
        for injected in self._refusals:
            if injected.path_contains is None or injected.path_contains in path:
                injected.remaining -= 1
                if injected.remaining <= 0:
                    self._refusals.remove(injected)
                if injected.code == RATE_LIMIT_EXCEEDED:
                    self.count_429 += 1
                    raise _RateLimited(1)
                status, message = REFUSALS[injected.code]
                raise _Refusal(status, injected.code, message)

    def _count_against_limit(self, key: str) -> None:
        """The day's count against ``daily_limit``, then a sliding window of
        ``rate_limit_per_minute`` accepted requests per key."""
        # The wall clock, not ``self.clock``: tests drive that one per order created.
        day = _local_time(datetime.now(UTC)).split()[0]
        if day != self._usage_day:
            if self._usage_day:
                self.used_today = 0
            self._usage_day = day
        if self.used_today >= self.daily_limit:
            self.count_429 += 1
            raise _RateLimited(3600)
        self.used_today += 1
        if self.rate_limit_per_minute is None:
            return
        window = 60.0 / self.time_scale
        now = time.monotonic()
        stamps = self._windows.setdefault(key, deque())
        while stamps and stamps[0] <= now - window:
            stamps.popleft()
        if len(stamps) >= self.rate_limit_per_minute:
            self.count_429 += 1
            raise _RateLimited(max(1, math.ceil(stamps[0] + window - now)))
        stamps.append(now)

    def _refusal(self, refusal: _Refusal) -> JSONResponse:
        headers: dict[str, str] = {}
        if isinstance(refusal, _RateLimited):
            headers["Retry-After"] = str(refusal.retry_after)
        body = {"success": False, "message": refusal.message, "data": {"error_code": refusal.code}}
        return JSONResponse(body, status_code=refusal.status, headers=headers)

    def _ok(
        self, data: dict[str, Any], *, status: int = 200, message: str | None = None
    ) -> Response:
        body: dict[str, Any] = {"success": True}
        if message is not None:
            body["message"] = message
        if self.dialect == "full":
            body["timestamp"] = int(self.clock().timestamp())
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
                raise _Refusal(400, OUT_OF_STOCK, f"{lines[1][0].name}: sản phẩm đã hết hàng")
            if self.multi_item == "merged":
                lines = _merge_plans(lines)
            purchases = self._commit(lines)
            if self.multi_item == "reversed":
                purchases.reverse()
            new_balance = self._balance
        if self.create_latency_seconds:
            await asyncio.sleep(self.create_latency_seconds)
        if fault == "5xx_after_commit":
            return PlainTextResponse("Internal Server Error", status_code=500)
        if fault == "drop_after_commit":
            return _DroppedResponse()
        if fault == "hang_after_commit":
            await self._hang(request)
        return self._ok(
            self._created_body(purchases, new_balance),
            status=201,
            message="Đơn hàng đã được tạo thành công",
        )

    def _validate(self, payload: object) -> list[tuple[_Plan, int, dict[str, str]]]:
        """Check every item before anything is bought: an order is all or nothing."""
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
            if plan is None:
                raise _Refusal(404, PRODUCT_NOT_FOUND, "Sản phẩm không tồn tại")
            quantity = _whole(raw.get("quantity", 1))
            if quantity is None or quantity < 1:
                raise _Refusal(400, CART_ERROR, "Số lượng không hợp lệ")
            if plan.is_instant:
                units[plan.id] = units.get(plan.id, 0) + quantity
                if plan.stock < units[plan.id]:
                    raise _Refusal(400, OUT_OF_STOCK, f"{plan.name}: sản phẩm đã hết hàng")
            lines.append((plan, quantity, _required_fields(plan, raw.get("fields"))))
        total = sum(plan.price * quantity for plan, quantity, _ in lines)
        if self._balance < total:
            raise _Refusal(400, INSUFFICIENT_BALANCE, "Số dư không đủ để thanh toán")
        return lines

    def _commit(self, lines: list[tuple[_Plan, int, dict[str, str]]]) -> list[Purchase]:
        purchases = []
        for plan, quantity, fields in lines:
            self._order_ids += 1
            self._trans_seq += 1
            purchase = Purchase(
                trans_id=f"PO{self._trans_seq}",
                plan_id=plan.id,
                quantity=quantity,
                fields=fields,
                status="pending",
                created_at=self.clock(),
                items=[],
                amount=plan.price * quantity,
                order_id=self._order_ids,
            )
            if plan.is_instant:
                plan.stock -= quantity
                purchase.status = "completed"
                purchase.items = self._credentials_for(plan.id, quantity)
            self._balance -= purchase.amount
            self._orders[purchase.trans_id] = purchase
            purchases.append(purchase)
        return purchases

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

    async def _orders_status(self, request: Request) -> Response:
        trans_id = request.query_params.get("trans_id", "")
        if not trans_id:
            raise _Refusal(400, "TRANS_ID_REQUIRED", "Thiếu mã giao dịch")
        with self._lock:
            purchase = self._orders.get(trans_id)
            lagging = (
                purchase is not None
                and (self.clock() - purchase.created_at).total_seconds() < self.status_lag_seconds
            )
            if purchase is None or lagging:
                raise _Refusal(404, ORDER_NOT_FOUND, "Không tìm thấy đơn hàng")
            body = self._status_body(purchase)
        return self._ok(body)

    def _status_body(self, p: Purchase) -> dict[str, Any]:
        items = list(p.items) if p.status == "completed" else []
        if self.dialect == "short":
            return {
                "trans_id": p.trans_id,
                "status": p.status,
                "total_amount": _money(p.amount),
                "delivery": {"items": items, "delivered_count": len(items)},
            }
        plan = self._plans[p.plan_id]
        stamp = self._stamp(p.created_at)
        order = {
            "id": p.order_id,
            "trans_id": p.trans_id,
            "user_id": 1,
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
            "payment_status": "refunded" if p.status == "cancelled" else "paid",
            "order_source": "api",
            "created_at": stamp,
            "updated_at": stamp,
        }
        delivery = {"items": items, "delivered_count": len(items), "expected_count": p.quantity}
        return {"order": order, "delivery": delivery}

    async def _orders_list(self, request: Request) -> Response:
        page, limit = _paging(request, default_limit=20)
        wanted = request.query_params.get("status")
        with self._lock:
            newest = self.list_order == "newest_first"
            ordered = sorted(self._orders.values(), key=lambda p: p.order_id, reverse=newest)
            chosen = [p for p in ordered if wanted in (None, "", p.status)]
            shown = chosen[(page - 1) * limit : page * limit]
            orders = [self._listed(p) for p in shown]
        if self.list_latency_seconds:
            await asyncio.sleep(self.list_latency_seconds)
        return self._ok({"orders": orders, "pagination": _pagination(page, limit, len(chosen))})

    def _stamp(self, moment: datetime) -> str:
        if self.created_at_precision == "minutes":
            moment = moment.replace(second=0, microsecond=0)
        return _local_time(moment)

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
            "payment_status": "refunded" if p.status == "cancelled" else "paid",
            "created_at": self._stamp(p.created_at),
        }

    # -- catalogue and account --------------------------------------------------------------

    async def _products_list(self, request: Request) -> Response:
        page, limit = _paging(request, default_limit=10)
        with self._lock:
            products = self._products()
            paging = self.paging
        if paging == "unpaged":
            return self._ok({"products": products})
        if paging == "ignores_page":
            page = 1
        shown = products[(page - 1) * limit : page * limit]
        return self._ok({"products": shown, "pagination": _pagination(page, limit, len(products))})

    def _products(self) -> list[dict[str, Any]]:
        by_product: dict[int, list[_Plan]] = {}
        for plan in sorted(self._plans.values(), key=lambda plan: plan.id):
            by_product.setdefault(plan.product_id, []).append(plan)
        return [
            {
                "id": product_id,
                "name": plans[0].product_name,
                "slug": _slug(plans[0]),
                "min_price": _money(min(plan.price for plan in plans)),
                "max_price": _money(max(plan.price for plan in plans)),
                "plans": [_listed_plan(plan) for plan in plans],
            }
            for product_id, plans in sorted(by_product.items())
        ]

    async def _account_balance(self, request: Request) -> Response:
        with self._lock:
            balance = self._balance
        formatted = f"{balance:,.0f}"
        if self.dialect == "short":
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
            statuses = [p.status for p in self._orders.values()]
            served, used = self.serves_account_info, self.used_today
            permissions, expires = list(self.permissions), self.key_expires_at
        if not served:
            return PlainTextResponse("Not Found", status_code=404)
        if self.dialect == "short":
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
                    "expires_at": _local_time(expires) if expires is not None else None,
                    "created_at": "2026-02-02 14:53:35",
                },
                "orders_summary": {
                    "total": len(statuses),
                    "pending": statuses.count("pending"),
                    "completed": statuses.count("completed"),
                },
                "api_usage_today": {
                    "period": "day",
                    "start_time": _local_time(datetime.now(UTC)).split()[0] + " 00:00:00",
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


def _local_time(moment: datetime) -> str:
    """The supplier prints naive timestamps in Vietnam time."""
    return moment.astimezone(SUPPLIER_TZ).strftime("%Y-%m-%d %H:%M:%S")


def _slug(plan: _Plan) -> str:
    return "-".join(plan.product_name.lower().split())
