"""The words of the Pancake POS API the bridge acts on: order statuses and an order's notes, as the
docs name them.

Only the client side reads this module; the Pancake simulator spells its statuses itself.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class OrderStatus(IntEnum):
    """An order's ``status`` (the docs' table "Status / Tên trạng thái")."""

    NEW = 0  # Mới
    WAITING_CONFIRMATION = 17  # Chờ xác nhận
    WAITING_GOODS = 11  # Chờ hàng
    WAITING_PRINT = 12  # Chờ in
    PRINTED = 13  # Đã in
    # Seen in live data. Both of the docs' tables list it before "confirmed": staff have not
    # confirmed the sale yet, so it is no default trigger. A shop whose staff use it to mean
    # "sold" may add it (`shops add --trigger-status 1,20`).
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
    # Seen in live orders, named nowhere in the docs (19 in the docs' carrier table is Ninja
    # Van, another list). Never a default trigger: a status whose meaning nobody knows must not
    # spend money; it is recorded and skipped like any status that is no trigger.
    UNLABELLED_19 = 19


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

# The whole sale is off: nothing more is bought for the order, nothing is written to it.
SALE_OFF = frozenset(
    {OrderStatus.CANCELLED, OrderStatus.DELETED, OrderStatus.RETURNING, OrderStatus.RETURNED}
)
# What a known order reported in these asks for: a read, to cancel what is no longer sold. A
# partial return (15) is part of the sale off: its items' ``returned_count`` say which units.
# Never a trigger.
CANCELLING = SALE_OFF | {OrderStatus.PARTLY_RETURNED}


class NoteField(StrEnum):
    """An order's two notes, as the docs name them: ``note`` is "Ghi chú nội bộ", the internal
    note staff read; ``note_print`` is "Ghi chú đơn hàng", printed, the one the customer sees."""

    NOTE = "note"
    NOTE_PRINT = "note_print"


class NoteDelivery(StrEnum):
    """Where a shop has the bridge write credentials (``shops add --deliver-to``)."""

    NOTE = "note"
    NOTE_PRINT = "note_print"
    BOTH = "both"

    @property
    def credential_fields(self) -> tuple[NoteField, ...]:
        if self == NoteDelivery.BOTH:
            return (NoteField.NOTE, NoteField.NOTE_PRINT)
        return (NoteField(self.value),)

    @property
    def customer_field(self) -> NoteField:
        """Where the customer looks, so where the delay notice goes: the printed note when the
        shop delivers there, else the one note the shop uses."""
        if self == NoteDelivery.NOTE:
            return NoteField.NOTE
        return NoteField.NOTE_PRINT
