"""An HTTP control API for each simulator, so a simulator served on its own (``bridge sim``) can
be driven from another terminal: ``curl`` places and confirms an order, completes a manual one,
reads the ledger or injects a fault, as the tests do in-process.

``pancake_app(sim)`` and ``supplier_app(sim)`` serve the simulator's own API where it always is
(``/api/v1``) and the control routes beside it under ``/_control``: JSON in, JSON out, an error
as ``{"error": "..."}`` with 400 (a bad request) or 404 (an unknown shop, order or plan).
``GET /_control`` lists the routes. The control routes sit outside the simulated API, so its
faults, switches and redirect never touch them. Webhook header values are never shown: they are
the secrets the bridge checks.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict
from datetime import datetime
from typing import Any, get_args

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bridge.dev.simulators.pancake import STATUS_CODES, PancakeSimulator
from bridge.dev.simulators.pancake import ListOrder as PancakeListOrder
from bridge.dev.simulators.pancake import Paging as PancakePaging
from bridge.dev.simulators.pancake import PutMode as PancakePutMode
from bridge.dev.simulators.supplier import (
    FAULTS,
    REFUSALS,
    CompletionShape,
    ListOrder,
    MultiItem,
    Paging,
    Precision,
    SupplierSimulator,
)

PREFIX = "/_control"
CONFIRMED = 1  # Pancake's "confirmed" order status
MASK = "***"

Endpoint = Callable[[Request], Awaitable[Response]]
# A switch's name -> whether a JSON value is one it takes.
Switches = Mapping[str, Callable[[Any], bool]]


class _BadRequest(Exception):
    pass


def pancake_app(sim: PancakeSimulator) -> Starlette:
    """The Pancake simulator with its control routes (see ``PANCAKE_ROUTES``)."""
    return _served(sim.app, _pancake_routes(sim), PANCAKE_ROUTES)


def supplier_app(sim: SupplierSimulator) -> Starlette:
    """The supplier simulator with its control routes (see ``SUPPLIER_ROUTES``)."""
    return _served(sim.app, _supplier_routes(sim), SUPPLIER_ROUTES)


# What ``GET /_control`` answers, and what ``bridge sim --help`` prints.
PANCAKE_ROUTES: dict[str, str] = {
    "POST /_control/shops/{shop_id}/orders": (
        'place an order: {"items": [{"variation_id": "...", "quantity": 1}], "confirm": true, '
        '"bill_email": "...", "note": "..."}; "confirm" moves it to confirmed (status 1) as '
        'staff would, each change sending its webhook; also "status", "warehouse_id", '
        '"inserted_at" (ISO, naive = UTC), "is_locked"; with "before": "<ISO>" (and "count") '
        "it adds old orders instead (status 3 unless given, no webhook) and answers their ids"
    ),
    "POST /_control/shops/{shop_id}/orders/{order_id}/status": (
        'move an order to a status: {"status": 1} (1 confirmed, 6 cancelled, 19, 20, ...); '
        '{"status": 15, "returned": {"<item id>": 1}} returns part of it'
    ),
    "GET /_control/shops/{shop_id}/orders/{order_id}": "the order, note included",
    "POST /_control/shops/{shop_id}/variations": (
        'add a variation: {"variation_id": "...", "name": "...", "retail_price": 100000, '
        '"remain_quantity": 0}'
    ),
    "GET /_control/shops/{shop_id}/webhook": "the shop's webhook settings (header values masked)",
    "PUT /_control/shops/{shop_id}/webhook": (
        'set the webhook as the shop owner would, e.g. another integration\'s: {"url": "...", '
        '"headers": {}, "types": ["orders"]}'
    ),
    "POST /_control/faults": (
        'answer the next API calls with an error: {"status": 503, "times": 1, '
        '"path_contains": "/orders"}'
    ),
    "POST /_control/switches": (
        'what the docs leave open: {"shops_list_webhook": false} (GET /shops without webhook '
        'fields), "shops_list_id", "shows_webhook_headers", "send_webhooks", "list_order", '
        '"paging"; seen in real shops: "put_mode" ("merge"/"replace"), "reserve_stock", '
        '"send_webhook_headers", "ping_on_webhook_save"; answers the switches'
    ),
    "GET /_control/deliveries": "every webhook sent: type, ref_id, HTTP status or error",
    "GET /_control/calls": "every API call received: [method, path]",
}
SUPPLIER_ROUTES: dict[str, str] = {
    "GET /_control/ledger": "every purchase, oldest first, and the balance",
    "POST /_control/plans": (
        'add or replace a plan: {"id": 321, "name": "...", "price": 50000, "is_instant": true, '
        '"stock": 100, "fields": [{"key": "email", "required": true}]}'
    ),
    "POST /_control/plans/{plan_id}/stock": 'set a plan\'s stock: {"stock": 10}',
    "POST /_control/complete": (
        'complete manual orders by hand: {"trans_id": "PO..."}, or {} for every pending one'
    ),
    "POST /_control/orders/{trans_id}/cancel": (
        'cancel an unfulfilled order and refund it; {"status": "refunded"} refunds any order, '
        '{"status": "cancelled_no_refund"} cancels a paid one and keeps the money'
    ),
    "POST /_control/balance": 'set the account balance: {"balance": 1000000}',
    "POST /_control/faults": (
        'inject a fault: {"error_code": "DISABLED_API_KEY", "times": 1, "path_contains": '
        '"account/"} answers a documented error code; {"fault": "5xx_after_commit"} one of '
        + ", ".join(sorted(FAULTS))
        + " (orders/create; 429: any request)"
    ),
    "POST /_control/switches": (
        'what the docs leave open and the key\'s limits: {"list_order": "oldest_first"}, '
        '"paging", "multi_item", "created_at_precision", "status_lag_seconds", '
        '"list_lag_seconds" (1e9: a bought order never listed), "serves_account_info", '
        '"rate_limit_per_minute", "daily_limit", "used_today", '
        '"permissions", "redirect_to"; what the real server does: "real_server", '
        '"enforced_rate_limit_per_minute" (below what account/info says), '
        '"created_at_zone_hours", "clock_skew_seconds", "quantity_split" ([1]: N orders of 1), '
        '"completion_shape", "categories_list_empty", "drip_paths" with "drip_seconds" (a byte '
        'each), "bomb_paths" (a gzip bomb); answers the switches'
    ),
    "GET /_control/calls": "every API call received: [method, path]",
}


def _served(api: Starlette, control: list[BaseRoute], routes: dict[str, str]) -> Starlette:
    async def index(_: Request) -> Response:
        return JSONResponse({"routes": routes})

    return Starlette(
        routes=[
            Route(PREFIX, index, methods=["GET"]),
            Mount(PREFIX, routes=[Route("/", index, methods=["GET"]), *control]),
            Mount("", app=api),
        ]
    )


def _route(path: str, handler: Callable[[Request], Awaitable[Any]], method: str) -> Route:
    """A control route: the handler's value answered as JSON, its mistakes as 400 or 404."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except KeyError as exc:
            # The simulators name what is unknown ("unknown shop 9"), or give just the key.
            what = exc.args[0] if exc.args else ""
            text = what if isinstance(what, str) and " " in what else f"unknown id {what}"
            return JSONResponse({"error": text}, status_code=404)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)

    return Route(path, endpoint, methods=[method])


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise _BadRequest("the body must be JSON") from None
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    return body


def _take(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """``body[key]`` when it is of ``kind`` (a JSON true is no number), ``default`` when absent or
    null."""
    value = body.get(key)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _BadRequest(f"{key} must be {' or '.join(k.__name__ for k in kinds)}")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], bool]:
    return lambda value: value in choices


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _switch(target: object, switches: Switches, body: Mapping[str, Any]) -> dict[str, Any]:
    """Set each switch the body names (refusing the lot if one is unknown or of a wrong type),
    then answer every switch's value."""
    for key, value in body.items():
        check = switches.get(key)
        if check is None:
            raise _BadRequest(f"unknown switch {key!r}; known: {sorted(switches)}")
        if not check(value):
            raise _BadRequest(f"{value!r} is not a value {key} takes")
    for key, value in body.items():
        setattr(target, key, value)
    return {key: getattr(target, key) for key in switches}


# -- Pancake ------------------------------------------------------------------------------------

PANCAKE_SWITCHES: Switches = {
    "shops_list_id": lambda v: isinstance(v, bool),
    "shops_list_webhook": lambda v: isinstance(v, bool),
    "shows_webhook_headers": lambda v: isinstance(v, bool),
    "send_webhooks": lambda v: isinstance(v, bool),
    "list_order": _one_of(get_args(PancakeListOrder)),
    "paging": _one_of(get_args(PancakePaging)),
    # Seen in real shops (see PancakeSimulator's comments).
    "put_mode": _one_of(get_args(PancakePutMode)),
    "reserve_stock": lambda v: isinstance(v, bool),
    "send_webhook_headers": lambda v: isinstance(v, bool),
    "ping_on_webhook_save": lambda v: isinstance(v, bool),
}


def _pancake_routes(sim: PancakeSimulator) -> list[BaseRoute]:
    async def place(request: Request) -> dict[str, Any]:
        shop_id = request.path_params["shop_id"]
        body = await _body(request)
        items = _take(body, "items", list, None)
        if not items:
            raise _BadRequest('items must be a list of {"variation_id", "quantity"} objects')
        before = _take(body, "before", str, None)
        if before is not None:
            # History from before that moment (e.g. the shop's joining): no webhook is sent.
            old = sim.add_old_orders(
                shop_id,
                before=_moment(before, "before"),
                items=items,
                count=_take(body, "count", int, 1),
                status=_take(body, "status", int, 3),
            )
            return {"order_ids": old}
        details = {
            key: _take(body, key, str, None)
            for key in (
                "note",
                "bill_full_name",
                "bill_phone_number",
                "bill_email",
                "order_id",
                "warehouse_id",
            )
        }
        inserted_at = _take(body, "inserted_at", str, None)
        order_id = sim.create_order(
            shop_id,
            items=items,
            status=_take(body, "status", int, 0),
            inserted_at=_moment(inserted_at, "inserted_at") if inserted_at else None,
            is_locked=_take(body, "is_locked", bool, None),
            **{key: value for key, value in details.items() if value is not None},
        )
        if _take(body, "confirm", bool, False):
            sim.set_status(shop_id, order_id, CONFIRMED)
        return _order_summary(sim.order(shop_id, order_id))

    async def set_status(request: Request) -> dict[str, Any]:
        shop_id, order_id = request.path_params["shop_id"], request.path_params["order_id"]
        body = await _body(request)
        status = _take(body, "status", int, None)
        if status not in STATUS_CODES:
            raise _BadRequest(f"status must be one of {sorted(STATUS_CODES)}")
        returned = _take(body, "returned", dict, None)
        if returned is None:
            sim.set_status(shop_id, order_id, status)
        elif status == 15:
            sim.partly_return(shop_id, order_id, _item_counts(returned))
        else:
            raise _BadRequest('"returned" goes with status 15 (partly returned)')
        return _order_summary(sim.order(shop_id, order_id))

    async def show_order(request: Request) -> dict[str, Any]:
        return sim.order(request.path_params["shop_id"], request.path_params["order_id"])

    async def add_variation(request: Request) -> dict[str, Any]:
        shop_id = request.path_params["shop_id"]
        body = await _body(request)
        variation_id = _take(body, "variation_id", str, None)
        if not variation_id:
            raise _BadRequest("variation_id is needed")
        sim.add_variation(
            shop_id,
            variation_id,
            name=_take(body, "name", str, variation_id),
            retail_price=_take(body, "retail_price", int, 100_000),
            remain_quantity=_take(body, "remain_quantity", int, 0),
        )
        return {"variation_id": variation_id}

    async def show_webhook(request: Request) -> dict[str, Any]:
        return _masked_webhook(sim.webhook_config(request.path_params["shop_id"]))

    async def set_webhook(request: Request) -> dict[str, Any]:
        shop_id = request.path_params["shop_id"]
        body = await _body(request)
        headers = _take(body, "headers", dict, {})
        types = _take(body, "types", list, None)
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
            raise _BadRequest("headers must map strings to strings")
        if types is not None and not _strings(types):
            raise _BadRequest("types must be a list of strings")
        sim.configure_webhook(
            shop_id, url=_take(body, "url", str, ""), headers=headers, types=types
        )
        return _masked_webhook(sim.webhook_config(shop_id))

    async def fault(request: Request) -> dict[str, Any]:
        body = await _body(request)
        status = _take(body, "status", int, None)
        if status is None:
            raise _BadRequest("status is needed, e.g. 503")
        times = _take(body, "times", int, 1)
        sim.inject(
            status,
            times,
            path_contains=_take(body, "path_contains", str, None),
            query_contains=_take(body, "query_contains", str, None),
            retry_after=_take(body, "retry_after", int, None),
        )
        return {"injected": {"status": status, "times": times}}

    async def switches(request: Request) -> dict[str, Any]:
        return _switch(sim, PANCAKE_SWITCHES, await _body(request))

    async def deliveries(_: Request) -> list[dict[str, Any]]:
        return [delivery._asdict() for delivery in sim.deliveries]

    async def calls(_: Request) -> list[list[str]]:
        return [list(call) for call in sim.calls]

    return [
        _route("/shops/{shop_id}/orders", place, "POST"),
        _route("/shops/{shop_id}/orders/{order_id}/status", set_status, "POST"),
        _route("/shops/{shop_id}/orders/{order_id}", show_order, "GET"),
        _route("/shops/{shop_id}/variations", add_variation, "POST"),
        _route("/shops/{shop_id}/webhook", show_webhook, "GET"),
        _route("/shops/{shop_id}/webhook", set_webhook, "PUT"),
        _route("/faults", fault, "POST"),
        _route("/switches", switches, "POST"),
        _route("/deliveries", deliveries, "GET"),
        _route("/calls", calls, "GET"),
    ]


def _order_summary(order: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "order_id": str(order["id"]),
        "status": order["status"],
        "status_name": order["status_name"],
        "note": order["note"],
    }


def _moment(text: str, key: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"{key} must be an ISO time, e.g. 2026-01-31T08:00:00") from None


def _item_counts(returned: Mapping[str, Any]) -> dict[int, int]:
    """``{"<item id>": units}`` from JSON (whose keys are strings) as the simulator's ints."""
    if not all(key.isdigit() and _whole(units) for key, units in returned.items()):
        raise _BadRequest('returned must map item ids to whole numbers: {"12": 1}')
    return {int(key): units for key, units in returned.items()}


def _masked_webhook(config: Mapping[str, Any]) -> dict[str, Any]:
    headers = config.get("webhook_headers") or {}
    return {**config, "webhook_headers": dict.fromkeys(headers, MASK)}


# -- supplier -----------------------------------------------------------------------------------

SUPPLIER_SWITCHES: Switches = {
    "list_order": _one_of(get_args(ListOrder)),
    "paging": _one_of(get_args(Paging)),
    "multi_item": _one_of(get_args(MultiItem)),
    "created_at_precision": _one_of(get_args(Precision)),
    "status_lag_seconds": lambda v: _number(v) and v >= 0,
    "list_lag_seconds": lambda v: _number(v) and v >= 0,
    "serves_account_info": lambda v: isinstance(v, bool),
    "rate_limit_per_minute": lambda v: v is None or (_whole(v) and v > 0),
    "daily_limit": lambda v: _whole(v) and v > 0,
    "used_today": lambda v: _whole(v) and v >= 0,
    "permissions": _strings,
    "redirect_to": lambda v: v is None or isinstance(v, str),
    "real_server": lambda v: isinstance(v, bool),
    "enforced_rate_limit_per_minute": lambda v: v is None or (_whole(v) and v > 0),
    "created_at_zone_hours": lambda v: _number(v) and -12 <= v <= 14,
    "clock_skew_seconds": _number,
    "quantity_split": lambda v: (
        v is None
        or (isinstance(v, list) and bool(v) and all(_whole(size) and size > 0 for size in v))
    ),
    "completion_shape": _one_of(get_args(CompletionShape)),
    "categories_list_empty": lambda v: isinstance(v, bool),
    "drip_paths": _strings,
    "drip_seconds": lambda v: _number(v) and v > 0,
    "bomb_paths": _strings,
}


def _supplier_routes(sim: SupplierSimulator) -> list[BaseRoute]:
    async def ledger(_: Request) -> dict[str, Any]:
        purchases = [
            {**asdict(p), "created_at": p.created_at.isoformat(), "delivered": len(p.items)}
            for p in sim.ledger
        ]
        return {"purchases": purchases, "balance": sim.balance}

    async def add_plan(request: Request) -> dict[str, Any]:
        body = await _body(request)
        plan_id = _take(body, "id", int, None)
        name = _take(body, "name", str, None)
        if plan_id is None or not name:
            raise _BadRequest("id and name are needed")
        fields = _take(body, "fields", list, [])
        if not all(isinstance(f, dict) and isinstance(f.get("key"), str) for f in fields):
            raise _BadRequest('fields must be a list of {"key": "...", "required": true} objects')
        sim.add_plan(
            plan_id,
            name=name,
            price=_take(body, "price", (int, float), 50_000),
            product_id=_take(body, "product_id", int, None),
            product_name=_take(body, "product_name", str, None),
            is_instant=_take(body, "is_instant", bool, True),
            stock=_take(body, "stock", int, 100),
            fields=fields,
            category_id=_take(body, "category_id", int, None),
        )
        return {"plan_id": plan_id}

    async def set_stock(request: Request) -> dict[str, Any]:
        plan_id = _plan_id(request)
        stock = _take(await _body(request), "stock", int, None)
        if stock is None:
            raise _BadRequest("stock is needed")
        sim.set_stock(plan_id, stock)
        return {"plan_id": plan_id, "stock": stock}

    async def complete(request: Request) -> dict[str, Any]:
        trans_id = _take(await _body(request), "trans_id", str, None)
        return {"completed": sim.complete_pending(trans_id)}

    async def cancel(request: Request) -> dict[str, Any]:
        trans_id = request.path_params["trans_id"]
        status = _take(await _body(request), "status", str, "cancelled")
        cancels = {
            "cancelled": sim.cancel,
            "refunded": sim.refund,
            "cancelled_no_refund": sim.cancel_without_refund,
        }
        if status not in cancels:
            raise _BadRequest(f"status must be one of {sorted(cancels)}")
        cancels[status](trans_id)
        return {"cancelled": trans_id, "balance": sim.balance}

    async def balance(request: Request) -> dict[str, Any]:
        value = _take(await _body(request), "balance", (int, float), None)
        if value is None:
            raise _BadRequest("balance is needed")
        sim.set_balance(value)
        return {"balance": sim.balance}

    async def fault(request: Request) -> dict[str, Any]:
        body = await _body(request)
        times = _take(body, "times", int, 1)
        code = _take(body, "error_code", str, None)
        named = _take(body, "fault", str, None)
        if (code is None) == (named is None):
            raise _BadRequest(
                f"give error_code (one of {sorted(REFUSALS)}) or fault (one of {sorted(FAULTS)})"
            )
        if code is not None:
            sim.refuse(code, times, path_contains=_take(body, "path_contains", str, None))
            return {"injected": {"error_code": code, "times": times}}
        sim.inject(named, times)
        return {"injected": {"fault": named, "times": times}}

    async def switches(request: Request) -> dict[str, Any]:
        return _switch(sim, SUPPLIER_SWITCHES, await _body(request))

    async def calls(_: Request) -> list[list[str]]:
        return [list(call) for call in sim.calls]

    return [
        _route("/ledger", ledger, "GET"),
        _route("/plans", add_plan, "POST"),
        _route("/plans/{plan_id}/stock", set_stock, "POST"),
        _route("/complete", complete, "POST"),
        _route("/orders/{trans_id}/cancel", cancel, "POST"),
        _route("/balance", balance, "POST"),
        _route("/faults", fault, "POST"),
        _route("/switches", switches, "POST"),
        _route("/calls", calls, "GET"),
    ]


def _plan_id(request: Request) -> int:
    raw = request.path_params["plan_id"]
    if not raw.isdigit():
        raise _BadRequest(f"plan id {raw!r} is not a number")
    return int(raw)
