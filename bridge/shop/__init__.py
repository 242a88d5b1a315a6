"""Client of the supplier shops ("Shop API v1")."""

from bridge.shop.client import DEFAULT_TIMEOUT, ShopClient
from bridge.shop.errors import (
    ShopError,
    ShopOutcomeUnknown,
    ShopRateLimited,
    ShopRefused,
    ShopTransient,
    ShopUnreachable,
)
from bridge.shop.schemas import (
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
