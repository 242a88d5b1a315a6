"""Synchronous client for the Pancake POS API (``https://pos.pages.fm/api/v1``).

Every call carries ``api_key`` as a query parameter and answers ``{"success": ..., "data": ...}``;
a refusal may arrive as HTTP 200 with ``"success": false``, so the flag is always checked.
Transient failures are retried here a few times with backoff (see ``bridge.retrying``); what is left
is raised as ``PancakeUnavailable`` for the caller to reschedule.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bridge import logs
from bridge.paging import Shown, guarded_pages
from bridge.pancake.errors import PancakeError, PancakeRequestError, PancakeUnavailable
from bridge.pancake.order_writes import stored_after_write, whole_order_body
from bridge.pancake.schemas import (
    ListedOrder,
    ListedShop,
    OrderPage,
    PancakeOrder,
    QuantityUpdate,
    ShopWebhook,
    Variation,
    VariationPage,
    Warehouse,
)
from bridge.retrying import call_with_retries

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)

# Orders per page of GET /shops/<id>/orders: the docs' sample answer pages by 100 (default 30).
ORDER_PAGE_SIZE = 100
# A hard cap on one read of the order list: 100,000 orders, far beyond a week of a busy shop.
MAX_ORDER_PAGES = 1000

# Failures of the network or of Pancake itself, worth another try; anything else is our bug.
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def _is_transient_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


def _segment(value: str) -> str:
    # Marketplace order ids are free-form strings: never let one add a path segment or a query.
    return quote(str(value), safe="")


class PancakeClient:
    """One Pancake shop API key; ``calls`` counts HTTP requests sent, retries included."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        attempts: int = 3,
        retry_base: float = 0.5,
        retry_cap: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be >= 1")
        self._api_key = api_key
        self._attempts = attempts
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json", "User-Agent": "pancake-bridge"},
        )
        self._calls_lock = threading.Lock()
        self.calls = 0

    # -- orders -------------------------------------------------------------------------------

    def get_order(self, shop_id: str, order_id: str) -> PancakeOrder:
        path = f"/shops/{_segment(shop_id)}/orders/{_segment(order_id)}"
        return self._request("GET", path, _order_from)

    def update_order(self, shop_id: str, order_id: str, changes: Mapping[str, Any]) -> None:
        """PUT only the keys in ``changes`` (e.g. ``{"note": ...}``), as staff tools and
        integrators do; what Pancake does with the rest is not promised: the bridge's own
        writes use ``write_order``."""
        path = f"/shops/{_segment(shop_id)}/orders/{_segment(order_id)}"
        self._request("PUT", path, _ignore, json=dict(changes))

    def write_order(
        self, shop_id: str, order: PancakeOrder, changes: Mapping[str, Any]
    ) -> PancakeOrder | None:
        """PUT ``order``, as just read, back whole with ``changes`` applied
        (``order_writes.whole_order_body``): a Pancake that replaces the order keeps the rest.

        Returns the order after the write when the answer proves it is the stored one
        (``order_writes.stored_after_write``); None when it does not: read the order back. A
        retried PUT sends the same body, so it is harmless.
        """
        path = f"/shops/{_segment(shop_id)}/orders/{_segment(order.id)}"
        return self._request(
            "PUT",
            path,
            lambda payload: stored_after_write(order, payload),
            json=whole_order_body(order, changes),
        )

    def list_orders(
        self,
        shop_id: str,
        *,
        updated_since: datetime,
        page_number: int = 1,
        page_size: int = ORDER_PAGE_SIZE,
    ) -> OrderPage:
        """One page of the shop's orders last updated at or after ``updated_since``.

        The docs type ``startDateTime`` as a Unix timestamp (example 1699635600): an absolute
        moment, so no time zone is involved; it is sent in whole seconds, rounded down.
        """
        if updated_since.tzinfo is None:
            # .timestamp() would read a naive moment in this host's zone, silently.
            raise ValueError("updated_since must be timezone-aware")
        params = {
            "updateStatus": "updated_at",
            "startDateTime": math.floor(updated_since.timestamp()),
            "page_number": page_number,
            "page_size": page_size,
        }
        return self._request(
            "GET", f"/shops/{_segment(shop_id)}/orders", _order_page_from, params=params
        )

    def iter_updated_orders(
        self,
        shop_id: str,
        *,
        since: datetime,
        page_size: int = ORDER_PAGE_SIZE,
        max_pages: int = MAX_ORDER_PAGES,
    ) -> Iterator[OrderPage]:
        """Every page of the orders updated since ``since``, guarded against a Pancake that
        ignores paging (the docs show the paging fields but promise nothing about them).

        Pages are read until ``total_pages`` (or, without it, a short or empty page), never more
        than ``max_pages``. A page other than the one asked for, or one that repeats an earlier
        page, ends the read: if ``total_entries`` then counts orders not seen, the listing is not
        whole and ``PancakeRequestError`` is raised after the pages that were read, so a caller
        never takes a part for all there is.
        """
        path = f"/shops/{shop_id}/orders"

        def fetch(number: int) -> OrderPage:
            return self.list_orders(
                shop_id, updated_since=since, page_number=number, page_size=page_size
            )

        def shown(page: OrderPage, number: int) -> Shown:
            keys = tuple(order.id for order in page.orders)
            if page.total_pages is not None:
                last = number >= page.total_pages
            else:
                last = len(keys) < page_size
            return Shown(page.page_number, keys, last, page.total_entries)

        return guarded_pages(
            fetch,
            shown,
            what=f"GET {path}",
            unit="orders",
            incomplete=lambda message: PancakeRequestError(message, method="GET", path=path),
            max_pages=max_pages,
        )

    # -- shops --------------------------------------------------------------------------------

    def list_shops(self) -> list[ListedShop]:
        """``GET /shops``: the shops this key opens, with whatever webhook fields Pancake shows
        (the docs promise none)."""
        return self._request("GET", "/shops", _shops_from)

    def configure_webhook(self, shop_id: str, webhook: ShopWebhook) -> ShopWebhook:
        """``PUT /shops/<id>`` with the webhook settings that are set in ``webhook``; returns the
        settings as Pancake's answer shows them. Safe to repeat: it sets, never adds."""
        return self._request(
            "PUT", f"/shops/{_segment(shop_id)}", _webhook_from, json={"shop": webhook.to_api()}
        )

    # -- stock --------------------------------------------------------------------------------

    def list_warehouses(self, shop_id: str) -> list[Warehouse]:
        return self._request("GET", f"/shops/{_segment(shop_id)}/warehouses", _warehouses_from)

    def update_quantities(
        self,
        shop_id: str,
        entries: Sequence[QuantityUpdate],
        *,
        is_actual_remain_quantity: bool = False,
    ) -> None:
        """Set stock per (variation, warehouse); ``False`` sets the sellable quantity.

        Pancake replaces the quantity rather than adding to it, so a retried call is harmless.
        """
        if not entries:
            return
        body = {
            "is_actual_remain_quantity": is_actual_remain_quantity,
            "variations_warehouses": [entry.model_dump() for entry in entries],
        }
        path = f"/shops/{_segment(shop_id)}/variations/update_quantity"
        self._request("POST", path, _ignore, json=body)

    def list_variations(
        self, shop_id: str, page_number: int = 1, page_size: int = 100
    ) -> VariationPage:
        return self._request(
            "GET",
            f"/shops/{_segment(shop_id)}/products/variations",
            lambda payload: _variation_page_from(payload, page_number),
            params={"page_number": page_number, "page_size": page_size},
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PancakeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        parse: Callable[[dict[str, Any]], T],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> T:
        request = self._http.build_request(
            method, path, params={**(params or {}), "api_key": self._api_key}, json=json
        )
        return call_with_retries(
            lambda: self._send_once(request, parse),
            attempts=self._attempts,
            base=self._retry_base,
            cap=self._retry_cap,
            sleep=self._sleep,
        )

    def _send_once(self, request: httpx.Request, parse: Callable[[dict[str, Any]], T]) -> T:
        with self._calls_lock:
            self.calls += 1
        try:
            response = self._http.send(request)
        except httpx.TransportError as exc:
            # Not chained: the httpx exception holds the request URL, and so the api_key.
            raise _transport_failure(exc, request) from None
        payload = _checked_payload(response)
        try:
            return parse(payload)
        except ValueError as exc:  # pydantic's ValidationError included
            reason = f"unexpected answer: {_summarise(exc)}"
            raise PancakeRequestError.from_response(response, reason=reason) from None


def _transport_failure(exc: httpx.TransportError, request: httpx.Request) -> PancakeError:
    error = PancakeUnavailable.from_transport_error(exc, request)
    if isinstance(exc, _TRANSIENT_ERRORS):
        logs.event("pancake.call.unavailable", logging.WARNING, detail=str(error))
        return error
    # e.g. an unsupported scheme in base_url: a configuration mistake, not worth retrying.
    return PancakeRequestError(str(error), method=error.method, path=error.path)


def _checked_payload(response: httpx.Response) -> dict[str, Any]:
    status = response.status_code
    if _is_transient_status(status):
        error = PancakeUnavailable.from_response(response)
        logs.event("pancake.call.unavailable", logging.WARNING, detail=str(error))
        raise error
    if not 200 <= status < 300:
        raise PancakeRequestError.from_response(response)
    try:
        payload = response.json()
    except ValueError:
        raise PancakeRequestError.from_response(response, reason="answer is not JSON") from None
    if not isinstance(payload, dict):
        raise PancakeRequestError.from_response(response, reason="answer is not a JSON object")
    if payload.get("success") is False:
        raise PancakeRequestError.from_response(response)
    return payload


def _summarise(exc: ValueError) -> str:
    # Name the offending fields, never their values: orders carry customers' personal data.
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False, include_url=False)
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:3])
    return str(exc)


def _ignore(payload: dict[str, Any]) -> None:
    return None


def _data_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    rows = payload.get("data")
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("data is not a list of objects")
    return rows


def _order_from(payload: dict[str, Any]) -> PancakeOrder:
    # The live API wraps the order in "data"; the documented example shows it bare.
    data = payload.get("data")
    order = data if isinstance(data, dict) else payload
    return PancakeOrder.from_api(order)


def _order_page_from(payload: dict[str, Any]) -> OrderPage:
    orders = [ListedOrder.model_validate(row) for row in _data_rows(payload)]
    paging = {key: payload.get(key) for key in ("page_number", "total_pages", "total_entries")}
    return OrderPage.model_validate({"orders": orders, **paging})


def _shops_from(payload: dict[str, Any]) -> list[ListedShop]:
    # The docs show {"shops": [...], "success": true}; the other calls wrap their data in "data".
    data = payload.get("data")
    for rows in (payload.get("shops"), data, data.get("shops") if isinstance(data, dict) else None):
        if isinstance(rows, list) and all(isinstance(row, dict) for row in rows):
            return [ListedShop.model_validate(row) for row in rows]
    raise ValueError("no list of shops")


def _webhook_from(payload: dict[str, Any]) -> ShopWebhook:
    # The docs list the answer's fields but show no answer: take the first object that carries
    # any of them, in the data wrapper the other calls use or bare.
    data = payload.get("data")
    candidates = [data.get("shop") if isinstance(data, dict) else None, data, payload.get("shop")]
    for candidate in [*candidates, payload]:
        if isinstance(candidate, dict) and any(key.startswith("webhook_") for key in candidate):
            return ShopWebhook.from_api(candidate)
    return ShopWebhook()


def _warehouses_from(payload: dict[str, Any]) -> list[Warehouse]:
    return [Warehouse.model_validate(row) for row in _data_rows(payload)]


def _variation_page_from(payload: dict[str, Any], requested_page: int) -> VariationPage:
    variations = [Variation.model_validate(row) for row in _data_rows(payload)]
    page_number = payload.get("page_number", requested_page)
    # Without a page count, call this page the last rather than page forever.
    total_pages = payload.get("total_pages", page_number)
    return VariationPage.model_validate(
        {"variations": variations, "page_number": page_number, "total_pages": total_pages}
    )
