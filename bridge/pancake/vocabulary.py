"""The words of the Pancake POS API the bridge acts on: order statuses, as the docs list them.

Only the client side reads this module; the Pancake simulator spells its statuses itself.
"""

from __future__ import annotations

from enum import IntEnum


class OrderStatus(IntEnum):
    """An order's ``status`` (the docs' table "Status / Tên trạng thái")."""

    NEW = 0  # Mới
    WAITING_CONFIRMATION = 17  # Chờ xác nhận
    WAITING_GOODS = 11  # Chờ hàng
    WAITING_PRINT = 12  # Chờ in
    PRINTED = 13  # Đã in
    ORDERED = 20  # Đã đặt hàng
    CONFIRMED = 1  # Đã xác nhận
    PACKING = 8  # Đang đóng hàng
    WAITING_SHIPMENT = 9  # Chờ chuyển hàng
    SHIPPED = 2  # Đã gửi hàng
    RECEIVED = 3  # Đã nhận
    PAID = 16  # Đã thu tiền
    RETURNING = 4  # Đang trả hàng
    PARTLY_RETURNED = 15  # Hoàn 1 phần
    RETURNED = 5  # Đã hoàn
    CANCELLED = 6  # Đã hủy
    DELETED = 7  # Đã xóa
    WEBCAKE = 10  # Đơn Webcake
    STORECAKE = 21  # Đơn Storecake


# Staff confirmed the order, or moved it further along: an order first seen at any of these is
# fulfilled (staff may confirm and pack before the bridge reads it). The default triggers.
CONFIRMED_OR_BEYOND = frozenset(
    {
        OrderStatus.CONFIRMED,
        OrderStatus.PACKING,
        OrderStatus.WAITING_SHIPMENT,
        OrderStatus.WAITING_PRINT,
        OrderStatus.PRINTED,
        OrderStatus.SHIPPED,
        OrderStatus.RECEIVED,
        OrderStatus.PAID,
    }
)

# The sale is off: nothing more is bought for the order, nothing is written to it. Never a trigger.
CANCELLING = frozenset(
    {
        OrderStatus.CANCELLED,
        OrderStatus.DELETED,
        OrderStatus.RETURNING,
        OrderStatus.PARTLY_RETURNED,
        OrderStatus.RETURNED,
    }
)
