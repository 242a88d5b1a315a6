"""The words of the Shop API v1, spelled once for the bridge: error codes and order statuses,
and what each error code means to an operator (``ERROR_ADVICE``).

Only the client side reads this module; the simulators spell the protocol on their own from the
API docs, so a misspelt code here cannot be mirrored there. A code or status the supplier sends
that is not listed stays a plain string: these are ``StrEnum``s, so they compare equal to it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple


class ErrorCode(StrEnum):
    """``data.error_code`` of a refusal: the docs' tables, and what the platform's own server
    sends besides (DESIGN.md section 4)."""

    INVALID_API_KEY = "INVALID_API_KEY"
    INVALID_API_SECRET = "INVALID_API_SECRET"
    DISABLED_API_KEY = "DISABLED_API_KEY"
    IP_NOT_ALLOWED = "IP_NOT_ALLOWED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    RATE_LIMIT_EXCEEDED = "RATE_LIMIT_EXCEEDED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PRODUCT_NOT_FOUND = "PRODUCT_NOT_FOUND"
    ITEMS_REQUIRED = "ITEMS_REQUIRED"
    INVALID_JSON = "INVALID_JSON"
    CART_ERROR = "CART_ERROR"
    CHECKOUT_ERROR = "CHECKOUT_ERROR"
    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"  # not in the docs; a refusal of orders/status may carry it
    # Only the server's source has these: the auth stage's (all HTTP 401 there) ...
    DAILY_LIMIT_EXCEEDED = "DAILY_LIMIT_EXCEEDED"
    EXPIRED_API_KEY = "EXPIRED_API_KEY"
    USER_BANNED = "USER_BANNED"
    API_DISABLED = "API_DISABLED"
    # ... and the handlers' (405, 400, 400).
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    USER_ERROR = "USER_ERROR"
    PARAMS_REQUIRED = "PARAMS_REQUIRED"
    UNKNOWN = "UNKNOWN"  # ours: a refusal that named no code
    REDIRECTED = "REDIRECTED"  # ours: a 3xx, the base URL is not the API root


class SupplierStatus(StrEnum):
    """An order's ``status`` at the supplier: the docs' four, and the two only the server's
    source shows (DESIGN.md section 4)."""

    PENDING = "pending"  # a plan fulfilled by hand, not started
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    CANCELLED_NO_REFUND = "cancelled_no_refund"  # cancelled, and the money kept
    REFUNDED = "refunded"  # the money is back on the balance, delivered or not


# The supplier is still working on these: only the status is worth reading.
IN_PROGRESS = frozenset({SupplierStatus.PENDING, SupplierStatus.PROCESSING})
# The supplier took the order back: nothing (more) will be delivered for it.
UNDONE = frozenset(
    {SupplierStatus.CANCELLED, SupplierStatus.CANCELLED_NO_REFUND, SupplierStatus.REFUNDED}
)
# The supplier will not change these any more.
FINISHED = frozenset({SupplierStatus.COMPLETED}) | UNDONE

# The supplier's configuration is refused: every purchase with it will be, until an operator
# fixes it (an alert, and the line's next choice).
AUTH_CODES = frozenset(
    {
        ErrorCode.INVALID_API_KEY,
        ErrorCode.INVALID_API_SECRET,
        ErrorCode.DISABLED_API_KEY,
        ErrorCode.IP_NOT_ALLOWED,
        ErrorCode.PERMISSION_DENIED,
        ErrorCode.EXPIRED_API_KEY,
        ErrorCode.USER_BANNED,
        ErrorCode.API_DISABLED,
        # A wrong base URL, like a wrong key, is the operator's to fix.
        ErrorCode.REDIRECTED,
    }
)

# The account at the supplier, not the line, is refused: an alert (of the code's name, about
# the supplier) and the line's next choice. A bought order clears these alerts.
ACCOUNT_CODES = AUTH_CODES | {ErrorCode.INSUFFICIENT_BALANCE, ErrorCode.USER_ERROR}

# Refusals that prove a choice cannot serve a line now: the line tries its next choice. A
# CART_ERROR does too when its text says the plan is sold out or unknown
# (``bridge.supplier.refusals``, which decides for every code).
FALLBACK_CODES = ACCOUNT_CODES | {ErrorCode.OUT_OF_STOCK, ErrorCode.PRODUCT_NOT_FOUND}

# The key's request limits, spent: nothing was bought, and the key waits (a window for
# RATE_LIMIT_EXCEEDED, until the supplier's next day for DAILY_LIMIT_EXCEEDED).
LIMIT_CODES = frozenset({ErrorCode.RATE_LIMIT_EXCEEDED, ErrorCode.DAILY_LIMIT_EXCEEDED})


class Advice(NamedTuple):
    """What a refusal means, and what the operator does about it (clauses, no final stop)."""

    meaning: str
    next_step: str


_PASTE_KEYS = "bridge suppliers add NAME --base-url URL --api-key - --api-secret -"
_OUR_BUG = (
    "this is a bug of the bridge (or of a proxy that rewrites requests): report it with the "
    "line's id (bridge fulfilments show ID)"
)

# One sentence and one next step per code: what `suppliers check`, `doctor` and the alerts say.
# Every ``ErrorCode`` has its entry (a test holds it so); a code no doc lists reads as UNKNOWN.
ERROR_ADVICE: dict[ErrorCode, Advice] = {
    ErrorCode.INVALID_API_KEY: Advice(
        "the supplier does not know this API key",
        f"copy the key from the supplier's API page and save it again: {_PASTE_KEYS}",
    ),
    ErrorCode.INVALID_API_SECRET: Advice(
        "the API secret does not belong to this key",
        "copy the key's secret again (or make a new key if it was not kept) and save both: "
        + _PASTE_KEYS,
    ),
    ErrorCode.DISABLED_API_KEY: Advice(
        "the supplier has disabled this API key",
        f"enable it on the supplier's API page, or make a new key and save it: {_PASTE_KEYS}",
    ),
    ErrorCode.IP_NOT_ALLOWED: Advice(
        "the key does not accept requests from this server's IP address",
        "add this server's public IP address to the key's allowed IPs on the supplier's API page",
    ),
    ErrorCode.PERMISSION_DENIED: Advice(
        "the key lacks the permission for this call",
        "grant the key orders.create, orders.list, orders.status, products.list, "
        "account.balance and account.info (or all) on the supplier's API page",
    ),
    ErrorCode.RATE_LIMIT_EXCEEDED: Advice(
        "the key's per-minute request limit is spent (the supplier counts refused requests too)",
        "nothing to do at once: the bridge sends nothing with the key for a whole window, then "
        "keeps below the count the window held and reads the key's limits again (account/info); "
        "if it keeps happening, ask the supplier for a higher limit or lower "
        "BRIDGE_SUPPLIER_RATE_LIMIT",
    ),
    ErrorCode.DAILY_LIMIT_EXCEEDED: Advice(
        "the key's daily request limit is spent",
        "nothing to do at once: the supplier is paused until its next day (midnight in its "
        "zone, UTC+7 unless known) and lines try their next choice meanwhile; ask the supplier "
        "for a higher daily limit, or lower BRIDGE_SUPPLIER_DAILY_LIMIT",
    ),
    ErrorCode.EXPIRED_API_KEY: Advice(
        "the API key has expired",
        f"extend it or make a new key on the supplier's API page and save it: {_PASTE_KEYS}",
    ),
    ErrorCode.USER_BANNED: Advice(
        "the supplier has locked the account this key belongs to",
        "ask the supplier to unlock the account; lines try their next choice meanwhile",
    ),
    ErrorCode.API_DISABLED: Advice(
        "the supplier has suspended its API (for this account or for everyone)",
        "ask the supplier when it is back; lines try their next choice meanwhile",
    ),
    ErrorCode.INSUFFICIENT_BALANCE: Advice(
        "the account's balance does not cover the order",
        "top up the account at the supplier, then retry the waiting lines "
        "(bridge fulfilments retry ID)",
    ),
    ErrorCode.OUT_OF_STOCK: Advice(
        "the plan is sold out at the supplier",
        "wait for the supplier's stock, or map a second supplier as the fallback "
        "(bridge mappings add ... --priority 1)",
    ),
    ErrorCode.PRODUCT_NOT_FOUND: Advice(
        "the supplier does not sell this plan (any more)",
        "find the plan's id in the supplier's catalogue (bridge mappings check) and change the "
        "mapping",
    ),
    ErrorCode.ITEMS_REQUIRED: Advice("the supplier received an order without items", _OUR_BUG),
    ErrorCode.INVALID_JSON: Advice("the supplier could not read the order's JSON", _OUR_BUG),
    ErrorCode.CART_ERROR: Advice(
        "the supplier refused an item of the order: the plan is sold out or unknown (the line "
        "then tries its next choice), or its message says what else, often a required plan "
        "field missing or blank",
        "read the supplier's message: give every required field in the mapping's --fields "
        "template (bridge mappings check names them), or map another choice for a plan that "
        "is gone",
    ),
    ErrorCode.CHECKOUT_ERROR: Advice(
        "the supplier failed while checking out (HTTP 500; its own server rolls the order back, "
        "e.g. when the stock ran out meanwhile)",
        "nothing to do at once: the bridge settles it from the supplier's order list before it "
        "buys again, from the next choice if the plan sold out; if it keeps happening, tell the "
        "supplier",
    ),
    ErrorCode.USER_ERROR: Advice(
        "the supplier could not load the account this key belongs to",
        "ask the supplier to check the account; lines try their next choice meanwhile",
    ),
    ErrorCode.METHOD_NOT_ALLOWED: Advice(
        "the supplier does not take this HTTP method on this path",
        "check that the base URL is the API root; otherwise " + _OUR_BUG,
    ),
    ErrorCode.PARAMS_REQUIRED: Advice(
        "the supplier received a request without a parameter it needs", _OUR_BUG
    ),
    ErrorCode.ORDER_NOT_FOUND: Advice(
        "the supplier does not know the order",
        "a purchase only just made may not show yet (the bridge asks again for "
        "BRIDGE_STATUS_GRACE_SECONDS); otherwise look for its trans_id in the supplier's orders",
    ),
    ErrorCode.UNKNOWN: Advice(
        "the supplier refused without naming a reason",
        "read the supplier's message; check that the base URL is the API root and the keys are "
        "current",
    ),
    ErrorCode.REDIRECTED: Advice(
        "the base URL is not the API root: the server redirects it",
        f"save the URL it points to as the base URL: {_PASTE_KEYS}",
    ),
}


def advice(code: str | None) -> Advice:
    """The advice for an error code; a code no doc lists (or none) reads as UNKNOWN."""
    try:
        return ERROR_ADVICE[ErrorCode(code or ErrorCode.UNKNOWN)]
    except ValueError:
        return ERROR_ADVICE[ErrorCode.UNKNOWN]
