"""Client of the supplier shops ("Shop API v1")."""

from bridge.supplier.client import DEFAULT_TIMEOUT, ShopClient
from bridge.supplier.errors import (
    ShopError,
    ShopOutcomeUnknown,
    ShopRateLimited,
    ShopRefused,
    ShopTransient,
    ShopUnreachable,
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
    "ShopClient",
    "ShopError",
    "ShopOutcomeUnknown",
    "ShopRateLimited",
    "ShopRefused",
    "ShopTransient",
    "ShopUnreachable",
]
