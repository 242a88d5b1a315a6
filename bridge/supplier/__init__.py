"""Client of the supplier shops ("Shop API v1")."""

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
