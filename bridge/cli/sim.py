"""``bridge sim pancake|supplier``: a simulator served on its own, to try a real ``bridge run``
against before pasting real keys.

Each serves its simulated API (``/api/v1``) and a JSON control API (``/_control``, see
``bridge.dev.simulators.control``) on one port, and prints at start the commands that point a
bridge at it and example ``curl`` lines. The routes below are the control API's; a test holds
this help and ``GET /_control`` to the same list.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from bridge.cli import app
from bridge.cli.invocation import program
from bridge.cli.output import say
from bridge.cli.service import CONSOLE_USER
from bridge.cli.support import stop_signals_held, wait_for_stop

if TYPE_CHECKING:
    from starlette.types import ASGIApp

sim = typer.Typer(
    help=(
        "The simulators on their own, with an HTTP control API.\n\n"
        "Try `bridge run` against a simulated Pancake shop and supplier before pasting real "
        "keys: start each in a terminal, paste the commands they print, place an order with "
        "the control API.\n\n"
        "\b\nExample:\n  pancake-bridge sim pancake --port 8081\n"
        "  pancake-bridge sim supplier --port 8082 --dialect short"
    ),
    no_args_is_help=True,
)
app.add_typer(sim, name="sim")

HostOption = Annotated[
    str, typer.Option("--host", help="Where to listen (0.0.0.0: every interface).")
]


class Dialect(StrEnum):
    FULL = "full"
    SHORT = "short"


SIM_PANCAKE_KEY = "sim-pancake-api-key"  # the simulator's own, not a secret
DEFAULT_BRIDGE_URL = "http://127.0.0.1:8080"  # `bridge run` with BRIDGE_HOST/BRIDGE_PORT unset


# The lines that open and close each block to paste (shell comments: copied with the block, they
# do nothing).
PANCAKE_BLOCK_START = "# ---- 1 of 2, from the Pancake simulator: the settings and the shop ----"
PANCAKE_BLOCK_END = "# ---- now paste the supplier simulator's block (2 of 2) ----"
SUPPLIER_BLOCK_START = (
    "# ---- 2 of 2, from the supplier simulator: the supplier, its mappings, a console login, "
    "the bridge ----"
)
SUPPLIER_BLOCK_END = "# ---- the bridge runs until Ctrl-C ----"
# A fresh random value, made by the shell that pastes the block (never printed by this process).
RANDOM = "\"$(python3 -c 'import secrets; print(secrets.token_urlsafe({}))')\""


def pancake_block(url: str, bridge_url: str, shop_id: str, cli: str) -> list[str]:
    """The settings a `bridge run` against this simulator needs, and the shop's commands.

    Everything is set here, nothing assumed from the environment: a new secret key and a new
    database in a new private folder (the simulators forget everything when stopped, so a run
    against them starts afresh), the address the bridge listens on as --bridge-url says.
    """
    return [
        PANCAKE_BLOCK_START,
        f"export BRIDGE_SECRET_KEY={RANDOM.format(32)}",
        'export BRIDGE_DATABASE_URL="sqlite:///$(mktemp -d)/bridge.db"',
        *_listen_settings(bridge_url),
        f"export BRIDGE_PUBLIC_URL={bridge_url}",
        f"export BRIDGE_PANCAKE_BASE_URL={url}/api/v1",
        f"export BRIDGE_PANCAKE_API_KEY={SIM_PANCAKE_KEY}",
        f"export BRIDGE_WEBHOOK_SECRET={RANDOM.format(24)}",
        f"{cli} shops add {shop_id}",
        f"{cli} shops connect {shop_id}",
        PANCAKE_BLOCK_END,
    ]


def _listen_settings(bridge_url: str) -> list[str]:
    """BRIDGE_HOST and BRIDGE_PORT for a bridge Pancake reaches at ``bridge_url``, refused here,
    before anything is served, when `shops connect` would refuse it (the same rule)."""
    from urllib.parse import urlsplit

    from bridge.pancake.connect import public_url

    parts = urlsplit(public_url(bridge_url))
    if parts.scheme == "https":
        # TLS ends at a proxy or a tunnel, which forwards to the bridge on this machine.
        return ["export BRIDGE_HOST=127.0.0.1 BRIDGE_PORT=8080  # where your https proxy forwards"]
    # Plain http is for this machine only, where browsers also send the console's Secure
    # cookie: BRIDGE_CONSOLE_INSECURE_COOKIES is never needed.
    host = "127.0.0.1" if parts.hostname in (None, "localhost") else parts.hostname
    return [f"export BRIDGE_HOST={host} BRIDGE_PORT={parts.port or 80}"]


def supplier_block(url: str, name: str, shop_id: str, cli: str) -> list[str]:
    """The supplier's commands (its fake keys), the sample plans' mappings, a console user, and
    the bridge started.

    The console password is made by the pasting shell and shown there once; it goes to
    `admin add-user` on standard input, so it is neither prompted for (a prompt in a pasted
    block would swallow the lines after it) nor on a command line.
    """
    from bridge.dev.demo import CHATGPT, INSTANT_PLAN, MANUAL_PLAN, NETFLIX
    from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET

    mapping = f"{cli} mappings add --shop {shop_id} --supplier {name}"
    email = _json({"email": "{order.bill_email}"})  # the manual plan's required field
    return [
        SUPPLIER_BLOCK_START,
        f"printf '%s\\n%s\\n' {DEMO_API_KEY} {DEMO_API_SECRET} | {cli} suppliers add {name} "
        f"--base-url {url}/api/v1 --api-key - --api-secret -",
        f"{mapping} --variation {NETFLIX} --plan {INSTANT_PLAN}",
        f"{mapping} --variation {CHATGPT} --plan {MANUAL_PLAN} --fields '{email}'",
        f"{cli} suppliers check {name}",
        f"CONSOLE_PASSWORD={RANDOM.format(12)}",
        f"printf '%s\\n' \"$CONSOLE_PASSWORD\" | {cli} admin add-user {CONSOLE_USER} --password -",
        f'echo "console login: {CONSOLE_USER} / $CONSOLE_PASSWORD"',
        f"{cli} run",
        SUPPLIER_BLOCK_END,
    ]


def order_lines(url: str, shop_id: str) -> list[str]:
    """How a customer's order is placed (and confirmed) in the simulator, and its note read."""
    from bridge.dev.demo import NETFLIX

    control = f"{url}/_control/shops/{shop_id}/orders"
    order = {
        "items": [{"variation_id": NETFLIX, "quantity": 1}],
        "bill_email": "khach@example.com",
        "confirm": True,
    }
    return [f"curl -s -X POST {control} -d '{_json(order)}'", f"curl -s {control}/1"]


@sim.command("pancake")
def pancake(
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free one).")
    ] = 8081,
    host: HostOption = "127.0.0.1",
    shop_id: Annotated[str, typer.Option("--shop-id", help="The simulated shop's id.")] = "4",
    bridge_url: Annotated[
        str,
        typer.Option(
            "--bridge-url",
            metavar="URL",
            help="Where the bridge will listen, for the printed commands (BRIDGE_PUBLIC_URL).",
        ),
    ] = DEFAULT_BRIDGE_URL,
) -> None:
    """Serve the Pancake POS simulator, with a control API.

    The API (GET /shops, PUT /shops/ID with the webhook fields, orders, warehouses,
    variations, update_quantity) is under /api/v1 with the api_key it prints, and it sends
    webhooks to the URL a `bridge shops connect` sets, as Pancake does. The control API
    (JSON bodies; GET /_control lists the routes with their bodies):

    \b
      POST /_control/shops/{shop_id}/orders                  place (and confirm) an order
      POST /_control/shops/{shop_id}/orders/{order_id}/status  move it to a status
      GET  /_control/shops/{shop_id}/orders/{order_id}       the order and its note
      POST /_control/shops/{shop_id}/variations              add a variation
      GET  /_control/shops/{shop_id}/webhook                 the webhook (secrets masked)
      PUT  /_control/shops/{shop_id}/webhook                 preset one (another integration's)
      POST /_control/faults                                  answer API calls with an error
      POST /_control/switches                                e.g. GET /shops without webhook fields
      GET  /_control/deliveries                              the webhooks sent
      GET  /_control/calls                                   the API calls received

    Ctrl-C stops it; everything it held is forgotten.

    \b
    Example:
      pancake-bridge sim pancake --port 8081
    """
    from bridge.dev.demo import CHATGPT, NETFLIX, RETAIL_PRICES
    from bridge.dev.simulators.control import pancake_app
    from bridge.dev.simulators.pancake import PancakeSimulator

    _listen_settings(bridge_url)  # a --bridge-url it cannot use is refused before serving
    # Held before the simulator starts its threads (they inherit the mask).
    with stop_signals_held():
        simulator = PancakeSimulator()
        simulator.add_shop(shop_id, api_key=SIM_PANCAKE_KEY, name="Shop thử nghiệm")
        variations = {NETFLIX: "Netflix Premium 1 tháng", CHATGPT: "ChatGPT Plus 1 tháng"}
        for variation_id, name in variations.items():
            simulator.add_variation(
                shop_id, variation_id, name=name, retail_price=RETAIL_PRICES[variation_id]
            )
        try:
            with _served(pancake_app(simulator), host, port) as url:
                control = f"{url}/_control"
                _banner(
                    f"Pancake POS simulator: {url}/api/v1",
                    f"  shop {shop_id} (API key {SIM_PANCAKE_KEY}), variations "
                    + ", ".join(variations),
                    "",
                    "In a third terminal, in the pancake-bridge folder, paste this block, then the "
                    "supplier simulator's:",
                    "",
                    *pancake_block(url, bridge_url, shop_id, program()),
                    "",
                    "Then place an order as a customer would (in a fourth terminal), and read its "
                    "note:",
                    *(f"  {line}" for line in order_lines(url, shop_id)),
                    "",
                    f"Control API (JSON; GET {control} lists every route):",
                    f"  curl -s {control}/deliveries",
                    f"  curl -s -X PUT {control}/shops/{shop_id}/webhook "
                    '-d \'{"url": "https://other.example/hook"}\'',
                    f"  curl -s -X POST {control}/switches -d '{{\"shops_list_webhook\": false}}'",
                )
                wait_for_stop()
        finally:
            simulator.close()


@sim.command("supplier")
def supplier(
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free one).")
    ] = 8082,
    host: HostOption = "127.0.0.1",
    dialect: Annotated[
        Dialect,
        typer.Option(
            "--dialect",
            help="full (caoshop, cloneviammo, logrepublic) or short (shopkey.appstoreviet).",
        ),
    ] = Dialect.FULL,
    name: Annotated[
        str, typer.Option("--name", help="The supplier's name in the printed commands.")
    ] = "sim",
    balance: Annotated[float, typer.Option("--balance", help="The account balance.")] = 10_000_000,
    rate_limit: Annotated[
        int | None,
        typer.Option(
            "--rate-limit", help="Requests a minute the key may make (default: no limit)."
        ),
    ] = None,
    shop_id: Annotated[
        str, typer.Option("--shop-id", help="The Pancake shop in the printed mappings.")
    ] = "4",
) -> None:
    """Serve a Shop API v1 supplier simulator, with a control API.

    The API (orders/create, orders/status, orders/list, products/list, account/balance,
    account/info) is under /api/v1 with the fake keys it prints; it sells an instant plan and
    a manual one that needs the customer's e-mail. The control API (JSON bodies; GET /_control
    lists the routes with their bodies):

    \b
      GET  /_control/ledger                    every purchase, and the balance
      POST /_control/plans                     add or replace a plan
      POST /_control/plans/{plan_id}/stock     set a plan's stock
      POST /_control/complete                  complete manual orders by hand
      POST /_control/orders/{trans_id}/cancel  cancel an order and refund it
      POST /_control/balance                   set the balance
      POST /_control/faults                    a documented error code, or a lost answer
      POST /_control/switches                  what the docs leave open, the key's limits
      GET  /_control/calls                     the API calls received

    Ctrl-C stops it; everything it held is forgotten.

    \b
    Example:
      pancake-bridge sim supplier --port 8082 --dialect short
    """
    from bridge.dev.demo import (
        INSTANT_PLAN,
        INSTANT_STOCK,
        MANUAL_PLAN,
        add_sample_plans,
    )
    from bridge.dev.simulators.control import supplier_app
    from bridge.dev.simulators.supplier import SupplierSimulator

    # Held before the simulator starts its threads (they inherit the mask).
    with stop_signals_held():
        simulator = add_sample_plans(
            SupplierSimulator(
                dialect="short" if dialect is Dialect.SHORT else "full",
                name=name,
                balance=balance,
                rate_limit_per_minute=rate_limit,
            )
        )
        with _served(supplier_app(simulator), host, port) as url:
            control = f"{url}/_control"
            fault = {"error_code": "INSUFFICIENT_BALANCE", "path_contains": "orders/create"}
            _banner(
                f"Supplier simulator (Shop API v1, {dialect.value} dialect): {url}/api/v1",
                f"  plans {INSTANT_PLAN} (instant, {INSTANT_STOCK} in stock) and {MANUAL_PLAN} "
                f"(manual, needs an e-mail); balance {balance:,.0f}",
                "",
                "Paste this block after the Pancake simulator's, in the same terminal (the "
                "simulator's keys are fake ones):",
                "",
                *supplier_block(url, name, shop_id, program()),
                "",
                f"Control API (JSON; GET {control} lists every route):",
                f"  curl -s {control}/ledger",
                f"  curl -s -X POST {control}/complete -d '{{}}'",
                f"  curl -s -X POST {control}/faults -d '{_json(fault)}'",
                f'  curl -s -X POST {control}/faults -d \'{{"fault": "5xx_after_commit"}}\'',
            )
            wait_for_stop()


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def _banner(*lines: str) -> None:
    for line in lines:
        say(line)
    say("Ctrl-C stops it.")
    sys.stdout.flush()


@contextmanager
def _served(asgi: ASGIApp, host: str, port: int) -> Iterator[str]:
    """The app served on host:port for the length of the block; the URL to reach it by."""
    from bridge.runtime.startup import check_port
    from bridge.web.server import ServerThread, free_port

    # Refused here, in one sentence, rather than as uvicorn's traceback of a failed bind.
    check_port(host, port, setting="--port")
    server = ServerThread(asgi, host=host, port=port or free_port(host)).start()
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    try:
        yield f"http://{shown}:{server.port}"
    finally:
        server.stop()
