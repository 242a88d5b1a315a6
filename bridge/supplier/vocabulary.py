"""The words of the Shop API v1, spelled once for the bridge: error codes and order statuses.

Only the client side reads this module; the simulators spell the protocol on their own from the
API docs, so a misspelt code here cannot be mirrored there. A code or status the supplier sends
that is not listed stays a plain string: these are ``StrEnum``s, so they compare equal to it.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """``data.error_code`` of a refusal, as the docs list them."""

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
    UNKNOWN = "UNKNOWN"  # ours: a refusal that named no code
    REDIRECTED = "REDIRECTED"  # ours: a 3xx, the base URL is not the API root


class SupplierStatus(StrEnum):
    """An order's ``status`` at the supplier."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


# The supplier will not change these any more.
FINISHED = frozenset({SupplierStatus.COMPLETED, SupplierStatus.CANCELLED})

# The supplier's configuration is refused: every purchase with it will be, until an operator
# fixes it (an alert, and the line's next choice).
AUTH_CODES = frozenset(
    {
        ErrorCode.INVALID_API_KEY,
        ErrorCode.INVALID_API_SECRET,
        ErrorCode.DISABLED_API_KEY,
        ErrorCode.IP_NOT_ALLOWED,
        ErrorCode.PERMISSION_DENIED,
        # A wrong base URL, like a wrong key, is the operator's to fix.
        ErrorCode.REDIRECTED,
    }
)

# Refusals that prove a choice cannot serve a line now: the line tries its next choice.
FALLBACK_CODES = AUTH_CODES | {
    ErrorCode.OUT_OF_STOCK,
    ErrorCode.PRODUCT_NOT_FOUND,
    ErrorCode.INSUFFICIENT_BALANCE,
}
