"""Client of the supplier shops ("Shop API v1").

The names below are imported on first use (PEP 562), not with the package: a command that only
reads a supplier's row or clock (``bridge suppliers list``) imports ``bridge.supplier.models``
without paying for the HTTP client, Redis and the budget behind ``SupplierClient``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bridge.supplier.client import DEFAULT_TIMEOUT, SupplierClient
    from bridge.supplier.errors import (
        SupplierError,
        SupplierOutcomeUnknown,
        SupplierRateLimited,
        SupplierRefused,
        SupplierTransient,
        SupplierUnreachable,
    )
    from bridge.supplier.schemas import (
        VN_TZ,
        CreatedOrder,
        CreateResult,
        ListedOrder,
        OrderItem,
        OrderPage,
        OrderStatus,
        Plan,
        PlanField,
        Product,
        ProductPage,
    )

# Each exported name and the module that defines it.
_HOMES = {
    "DEFAULT_TIMEOUT": "client",
    "SupplierClient": "client",
    "SupplierError": "errors",
    "SupplierOutcomeUnknown": "errors",
    "SupplierRateLimited": "errors",
    "SupplierRefused": "errors",
    "SupplierTransient": "errors",
    "SupplierUnreachable": "errors",
    "VN_TZ": "schemas",
    "CreatedOrder": "schemas",
    "CreateResult": "schemas",
    "ListedOrder": "schemas",
    "OrderItem": "schemas",
    "OrderPage": "schemas",
    "OrderStatus": "schemas",
    "Plan": "schemas",
    "PlanField": "schemas",
    "Product": "schemas",
    "ProductPage": "schemas",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:  # a submodule (`from bridge.supplier import breaker`) is imported by Python
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_TIMEOUT",
    "VN_TZ",
    "CreateResult",
    "CreatedOrder",
    "ListedOrder",
    "OrderItem",
    "OrderPage",
    "OrderStatus",
    "Plan",
    "PlanField",
    "Product",
    "ProductPage",
    "SupplierClient",
    "SupplierError",
    "SupplierOutcomeUnknown",
    "SupplierRateLimited",
    "SupplierRefused",
    "SupplierTransient",
    "SupplierUnreachable",
]
