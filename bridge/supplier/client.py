"""Synchronous client of a supplier shop ("Shop API v1").

``create_order`` sends exactly one request and never retries: the API has no idempotency key, so
a second attempt after an ambiguous failure could buy twice. Reads retry transient failures a few
times with backoff, honouring the supplier's Retry-After up to a cap.

No supplier can stall its caller (``bridge.bounded_http``): every request ends within one
deadline (connect, send and read together: ``deadline``, the read timeout by default) and reads
at most ``max_answer_bytes`` of answer, decompressed. A request cut short by either is
``SupplierOutcomeUnknown``: settled, never bought again, for ``orders/create``; for a read it is
not retried here (the supplier just took a whole deadline, or sent what it should not: the
step reschedules it instead of holding its thread again at once). With a ``bulkhead`` a call
beyond the supplier's share of the process's threads is refused at once with ``SupplierBusy``
(``bridge.supplier.bulkhead``), before anything is sent.

Every call takes the key's budget *before* it enters the supplier's share (``reserve_slot``
for a purchase, ``_send`` for the others), so the share holds only calls on their way to the
supplier: a wait for budget is the key's rate limit, not the supplier being slow. (Reads once
waited for budget inside the share: status reads waiting for the window could fill it, and the
share then refused the purchases and reads that could have used the budget, each for as long as
the waits had lasted: 26,000 in one 750-order run of the throughput bench at x3.) A supplier
that hangs still holds no more than its share: the share is checked before the wait for
budget, so no thread starts waiting for a supplier whose share is full, and a call that finds
it full once its budget is taken gives the budget back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime, tzinfo
from types import TracebackType
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from bridge import metrics
from bridge.bounded_http import ACCEPT_ENCODING, AnswerTooLarge, BoundedTransport
from bridge.http_errors import where
from bridge.retrying import call_with_retries
from bridge.supplier import paging
from bridge.supplier.budget import Budget, Ticket
from bridge.supplier.bulkhead import Bulkhead, SupplierBusy
from bridge.supplier.clock import ClockOffset
from bridge.supplier.errors import (
    SupplierDailyLimited,
    SupplierError,
    SupplierOutcomeUnknown,
    SupplierRateLimited,
    SupplierRefused,
    SupplierUnreachable,
    from_response,
    from_transport_error,
    unexpected_body,
)
from bridge.supplier.refusals import daily_limit_pause_end
from bridge.supplier.schemas import (
    VN_TZ,
    AccountInfo,
    Balance,
    Category,
    CategoryList,
    CreateResult,
    OrderItem,
    OrderPage,
    OrderStatus,
    Product,
    ProductPage,
)
from bridge.supplier.vocabulary import ErrorCode

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=10.0, pool=5.0)
READ_RETRY_BASE = 0.5
READ_RETRY_CAP = 10.0
# The largest answer read, decompressed: a catalogue page of 100 products is a few hundred KB.
MAX_ANSWER_BYTES = 2 * 2**20
# Catalogue reads: nobody waits on one, and a full read takes hundreds. They take the budget as
# background requests (``Budget.acquire``), so a purchase never queues behind a catalogue.
BACKGROUND_PATHS = frozenset({"products/list", "categories/list"})
# Timeouts that mean the call used up its deadline after the request may have left.
_DEADLINE_SPENT = (httpx.ReadTimeout, httpx.WriteTimeout)

M = TypeVar("M", bound=BaseModel)

# A failed request's outcome label, first match; anything else (a 5xx, a dropped answer, a body
# we cannot read) is "unknown": the supplier may have acted on it.
_OUTCOMES: tuple[tuple[type[SupplierError], str], ...] = (
    (SupplierRateLimited, "rate_limited"),
    (SupplierUnreachable, "unreachable"),
    (SupplierRefused, "refused"),
)
_KNOWN_CODES = frozenset(ErrorCode)


class SupplierClient:
    """One supplier account. ``calls`` counts the HTTP requests actually sent."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        api_secret: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        read_attempts: int = 3,
        supplier_tz: tzinfo = VN_TZ,
        read_retry_base: float = READ_RETRY_BASE,
        read_retry_cap: float = READ_RETRY_CAP,
        sleep: Callable[[float], None] = time.sleep,
        budget: Budget | None = None,
        budget_wait: float = 20.0,
        name: str = "",
        deadline: float | None = None,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        bulkhead: Bulkhead | None = None,
    ) -> None:
        if read_attempts < 1:
            raise ValueError("read_attempts must be at least 1")
        # One deadline for the whole request; by default as long as one read may wait.
        self.deadline = deadline if deadline is not None else (timeout.read or 30.0)
        # A trailing slash makes httpx append "orders/create" to the API root instead of
        # replacing its last segment.
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={
                "X-API-Key": api_key,
                "X-API-Secret": api_secret,
                "Accept": "application/json",
                # Only what the bounded reading can inflate a chunk at a time.
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=timeout,
            transport=BoundedTransport(
                deadline_seconds=self.deadline, max_bytes=max_answer_bytes, inner=transport
            ),
            # Never follow (httpx's default, spelled out): a 301/302 would resend a POST as a
            # GET, and any redirect would carry the API key to the host it names. A 3xx is
            # raised as SupplierRedirected, naming the base URL to configure instead.
            follow_redirects=False,
        )
        self._secrets = (api_key, api_secret)
        self._read_attempts = read_attempts
        self._read_retry_base = read_retry_base
        self._read_retry_cap = read_retry_cap
        self._sleep = sleep
        self._supplier_tz = supplier_tz
        # Every request, reads and retries included, spends from the key's shared budget.
        self._budget = budget
        self._budget_wait = budget_wait
        self._bulkhead = bulkhead
        # The operator's name for the supplier: what its requests are counted under (metrics).
        self.name = name
        self.calls = 0
        # The supplier's clock as its answers' timestamps show it (full dialect), this process.
        self.clock_offset: ClockOffset | None = None

    def __repr__(self) -> str:
        return f"SupplierClient({str(self._http.base_url)!r})"

    @property
    def bulkhead(self) -> Bulkhead | None:
        """The supplier's share of the process's threads its calls take (None: unbounded)."""
        return self._bulkhead

    def reserve_slot(self, max_wait: float) -> Ticket | None:
        """Take one request's budget for the ``create_order`` that follows, waiting at most
        ``max_wait`` seconds; raises BudgetExhausted, or ``SupplierBusy`` (one) when the
        supplier's share of threads is taken now: no budget is spent on a call that would be
        refused."""
        return self._take_budget(max_wait, background=False)

    def _take_budget(self, max_wait: float, *, background: bool) -> Ticket | None:
        """The budget of one request that is about to enter the supplier's share (see the
        module's docstring); ``SupplierBusy`` first, without waiting, if the share is full."""
        if self._bulkhead is not None:
            self._bulkhead.check()
        if self._budget is None:
            return None
        return self._budget.acquire(max_wait, background=background)

    def release_slot(self, ticket: Ticket | None) -> None:
        """A reserved slot whose request was not sent and will not be: free again at once
        (``Budget.release``)."""
        if ticket is not None and self._budget is not None:
            self._budget.release(ticket)

    def create_order(
        self, items: Sequence[OrderItem], *, ticket: Ticket | None = None
    ) -> CreateResult:
        """Buy ``items`` in exactly one request.

        On ``SupplierOutcomeUnknown`` the order may exist: look for it in ``list_orders`` before
        buying again. ``ticket``: the budget ``reserve_slot`` already took for this request.
        """
        if not items:
            raise ValueError("an order needs at least one item")
        payload = {"items": [item.model_dump(exclude_none=True) for item in items]}
        with metrics.purchase_timer():
            response, data = self._send("POST", "orders/create", json=payload, ticket=ticket)
        return self._parse(CreateResult, data, response)

    def order_status(self, trans_id: str) -> OrderStatus:
        return self._read(OrderStatus, "orders/status", {"trans_id": trans_id})

    def list_orders(self, page: int = 1, limit: int = 100, status: str | None = None) -> OrderPage:
        """Newest first, as the supplier lists them; ``created_at`` is aware (UTC)."""
        params: dict[str, Any] = {"page": page, "limit": limit}
        if status is not None:
            params["status"] = status
        return self._read(OrderPage, "orders/list", params)

    def iter_order_pages(
        self, *, since: datetime | None = None, limit: int = 100
    ) -> Iterator[OrderPage]:
        """The ``orders/list`` pages that hold every order created since ``since`` (all pages
        without it), whatever order the supplier lists them in (``bridge.supplier.paging``)."""
        return paging.order_pages(
            lambda page: self.list_orders(page=page, limit=limit), since=since
        )

    def list_products(
        self,
        page: int = 1,
        limit: int = 100,
        *,
        category_id: int | None = None,
        search: str | None = None,
    ) -> ProductPage:
        """One page of ``products/list``, of one category or matching ``search`` when given
        (the two filters every shop's docs list; ``page``/``limit`` only some do)."""
        params: dict[str, Any] = {"page": page, "limit": limit}
        if category_id is not None:
            params["category_id"] = category_id
        if search is not None:
            params["search"] = search
        return self._read(ProductPage, "products/list", params)

    def iter_product_pages(
        self, *, limit: int = 100, category_id: int | None = None, search: str | None = None
    ) -> Iterator[ProductPage]:
        """The whole catalogue (or one category, or what ``search`` finds), page after page,
        guarded (``bridge.supplier.paging``): raises ``ListingIncomplete`` when the shop ignores
        paging and rows were not seen. ``bridge.supplier.catalogue`` reads around that."""
        return paging.pages(
            lambda page: self.list_products(
                page=page, limit=limit, category_id=category_id, search=search
            ),
            what="products/list",
            whole=True,
        )

    def categories(self) -> list[Category]:
        """``categories/list`` (may be empty while products have categories: the real server's
        bug)."""
        return self._read(CategoryList, "categories/list", {}).categories

    def iter_products(self) -> Iterator[Product]:
        """Every product of the catalogue."""
        for result in self.iter_product_pages():
            yield from result.products

    def balance(self) -> float:
        return self._read(Balance, "account/balance", {}).current

    def account_info(self) -> AccountInfo:
        """The key's limits, permissions, expiry and today's usage (full dialect; the short
        dialect's answer leaves them all None)."""
        return self._read(AccountInfo, "account/info", {})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SupplierClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self, model: type[M], path: str, params: Mapping[str, Any]) -> M:
        def attempt() -> M:
            try:
                response, data = self._send("GET", path, params=params)
            except SupplierDailyLimited as exc:
                raise _NoRetry(exc) from exc  # the key waits for the supplier's next day
            except SupplierOutcomeUnknown as exc:
                if isinstance(exc.__cause__, (*_DEADLINE_SPENT, AnswerTooLarge)):
                    raise _NoRetry(exc) from exc  # see the module's docstring
                raise
            return self._parse(model, data, response, page=params.get("page"))

        # Transient supplier errors are RetryLaters: retried here, the last one raised as is.
        try:
            return call_with_retries(
                attempt,
                attempts=self._read_attempts,
                base=self._read_retry_base,
                cap=self._read_retry_cap,
                sleep=self._sleep,
            )
        except _NoRetry as stop:
            raise stop.error from stop.error.__cause__  # what the transport said, if anything

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: object = None,
        ticket: Ticket | None = None,
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """One HTTP request; returns the envelope's ``data`` or raises a ``SupplierError``.
        ``ticket``: its budget, when already taken (``reserve_slot``); else it is taken here,
        before the supplier's share is entered (raises ``BudgetExhausted``: nothing sent).
        ``SupplierBusy``: the supplier's share of threads is taken; nothing sent, and the
        budget given back."""
        request = self._http.build_request(method, path, params=params, json=json)
        if ticket is None:
            ticket = self._take_budget(self._budget_wait, background=path in BACKGROUND_PATHS)
        try:
            with self._share():
                return self._send_counted(request, path, ticket)
        except SupplierBusy:
            self.release_slot(ticket)
            raise

    def _share(self) -> AbstractContextManager[None]:
        return nullcontext() if self._bulkhead is None else self._bulkhead.call()

    def _send_counted(
        self, request: httpx.Request, path: str, ticket: Ticket | None
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """``_send`` within the supplier's share of threads, its budget taken."""
        self.calls += 1
        try:
            answer = self._exchange(request, path, ticket)
        except SupplierError as exc:
            metrics.supplier_request(self.name, path, *_metric_labels(exc))
            raise
        metrics.supplier_request(self.name, path, "ok")
        return answer

    def _exchange(
        self, request: httpx.Request, path: str, ticket: Ticket | None
    ) -> tuple[httpx.Response, dict[str, Any]]:
        """``_send`` once the budget is taken and the request counted."""
        sent = datetime.now(UTC)
        try:
            response = self._http.send(request)
        except httpx.RequestError as exc:
            # A request that timed out may still reach the supplier later: its slot stays taken
            # until the budget's in-flight ceiling.
            raise self._transport_error(exc) from exc
        if ticket is not None and self._budget is not None:
            self._budget.answered(ticket)  # the supplier counted it by now, if at all
        if not response.is_success:
            raise self._refusal(response, endpoint=path)
        try:
            body = response.json()
        except ValueError as exc:
            raise unexpected_body(response, "answer is not JSON") from exc
        if not isinstance(body, dict):
            raise unexpected_body(response, "answer is not a JSON object")
        self._measure_clock(body.get("timestamp"), sent)
        if body.get("success") is False:
            raise self._refusal(response)
        data = body.get("data")
        if not isinstance(data, dict):
            raise unexpected_body(response, "answer has no data object")
        return response, data

    def _transport_error(self, exc: httpx.RequestError) -> SupplierError:
        """What a request that got no usable answer means; a deadline or a size limit is
        named, so the operator reads why (the supplier may have acted on it either way)."""
        method, path = where(exc.request)
        if isinstance(exc, AnswerTooLarge):
            detail = f"answer larger than {exc.limit:,} bytes, not read"
            return SupplierOutcomeUnknown(detail, method=method, path=path)
        if isinstance(exc, _DEADLINE_SPENT):
            detail = f"no whole answer within {self.deadline:g}s ({type(exc).__name__})"
            return SupplierOutcomeUnknown(detail, method=method, path=path)
        return from_transport_error(exc)

    def _measure_clock(self, timestamp: object, sent: datetime) -> None:
        if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
            return
        sample = ClockOffset.from_timestamp(float(timestamp), sent, datetime.now(UTC))
        self.clock_offset = (
            sample if self.clock_offset is None else self.clock_offset.merged(sample)
        )

    def _refusal(self, response: httpx.Response, endpoint: str = "") -> SupplierError:
        """The error for an answer that is not a usable success. A spent limit holds the key's
        shared budget: every process then waits instead of sending into the block (each
        refused request counts against the limit again), and ``resume_in`` says how long."""
        error = from_response(response, secrets=self._secrets, endpoint=endpoint)
        if isinstance(error, SupplierDailyLimited):
            now = datetime.now(UTC)
            error.resume_in = (daily_limit_pause_end(now, self._supplier_tz) - now).total_seconds()
            if self._budget is not None:
                self._budget.pause(error.resume_in)
        elif isinstance(error, SupplierRateLimited):
            error.resume_in = error.retry_after
            if self._budget is not None:
                error.resume_in = self._budget.penalize(error.retry_after)
        return error

    def _parse(
        self,
        model: type[M],
        data: dict[str, Any],
        response: httpx.Response,
        page: int | None = None,
    ) -> M:
        context = {"supplier_tz": self._supplier_tz, "page": page or 1}
        try:
            return model.model_validate(data, context=context)
        except ValidationError as exc:
            # The pydantic text quotes input values; keep only where the shape broke.
            where = ", ".join(".".join(map(str, err["loc"])) for err in exc.errors()[:3])
            raise unexpected_body(response, f"unexpected answer shape at {where}") from None


class _NoRetry(Exception):
    """Carries a transient error out of ``call_with_retries`` that no retry of the call can
    cure."""

    def __init__(self, error: SupplierError) -> None:
        super().__init__(str(error))
        self.error = error


def _metric_labels(error: SupplierError) -> tuple[str, str]:
    """The error's outcome and code as bounded label values: the code is the supplier's own
    text, so one the docs do not list counts as OTHER."""
    outcome = next((name for kind, name in _OUTCOMES if isinstance(error, kind)), "unknown")
    code = error.error_code
    if code is None:
        return outcome, ""
    return outcome, code if code in _KNOWN_CODES else "OTHER"
