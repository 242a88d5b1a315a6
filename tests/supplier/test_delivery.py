"""What an orders/status answer means for a bought line (bridge.supplier.delivery), read from
answers spelled as the supplier sends them, in both dialects."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.supplier.delivery import Progress, money, progress, undone_reason
from bridge.supplier.schemas import OrderStatus
from bridge.supplier.vocabulary import FINISHED, IN_PROGRESS, UNDONE, SupplierStatus


def full(
    status: str,
    items: list[str],
    *,
    delivered: int | None = None,
    quantity: int = 3,
    payment_status: str | None = "paid",
) -> OrderStatus:
    """A full-dialect answer, as the platform's own server prints it."""
    order: dict[str, Any] = {
        "id": 36,
        "trans_id": "K7Q2MZX",
        "plan": {"id": 19, "name": "ChatGPT Plus", "is_instant": False},
        "quantity": quantity,
        "total_price": 1_350_000,
        "final_amount": "1350000.00",
        "status": status,
        "payment_status": payment_status,
        "order_source": "api",
    }
    delivery = {
        "items": items,
        "delivered_count": len(items) if delivered is None else delivered,
        "expected_count": quantity,
    }
    return OrderStatus.model_validate({"order": order, "delivery": delivery})


def short(status: str, items: list[str]) -> OrderStatus:
    """shopkey's flat answer: no plan, no quantity, no expected_count, no payment_status."""
    return OrderStatus.model_validate(
        {
            "trans_id": "ORD1703750400ABC",
            "status": status,
            "total_amount": 240000,
            "delivery": {"items": items, "delivered_count": len(items)},
        }
    )


UNITS = ["Account: a@x.example | Pass: 1", "Account: b@x.example | Pass: 2", "Account: c | 3"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        # One string a unit (the docs, and an instant plan's stock rows).
        (full("completed", UNITS), Progress.COMPLETE),
        # Nothing to hand over: the customer's own account was upgraded.
        (full("completed", []), Progress.COMPLETE),
        # Fewer strings than the supplier's count: two units a string.
        (full("completed", UNITS[:2], delivered=3), Progress.COMPLETE),
        # More lines than units (user and password on lines of their own).
        (full("completed", UNITS * 2), Progress.COMPLETE),
        # One string for three units, or one unit of three so far: they look alike.
        (full("completed", ["all three: a, b, c"]), Progress.SHORT),
        (full("pending", []), Progress.WAITING),
        (full("processing", UNITS[:1]), Progress.WAITING),
        (full("cancelled", []), Progress.UNDONE),
        (full("cancelled_no_refund", []), Progress.UNDONE),
        (full("refunded", []), Progress.UNDONE),
        (full("on_hold", []), Progress.UNKNOWN),
        (full(" Completed ", UNITS), Progress.COMPLETE),  # the status is read trimmed, any case
        (short("completed", []), Progress.COMPLETE),
        (short("refunded", []), Progress.UNDONE),
    ],
)
def test_where_an_order_stands(answer: OrderStatus, expected: Progress) -> None:
    assert progress(answer, 3) == expected


def test_blank_delivered_lines_are_nothing_to_hand_over() -> None:
    answer = full("completed", ["", "  ", "\n"], delivered=3)
    assert answer.items == []
    assert progress(answer, 3) == Progress.COMPLETE


def test_the_answer_says_what_the_order_cost_and_whether_it_is_paid() -> None:
    answer = full("cancelled", [], payment_status="Refunded")
    assert (answer.amount, answer.payment_status) == (1_350_000.0, "refunded")
    assert short("cancelled", []).amount == 240_000.0
    assert short("cancelled", []).payment_status is None


def test_every_status_the_server_sends_is_in_the_vocabulary_and_only_completed_delivers() -> None:
    server = {"pending", "processing", "completed", "cancelled", "cancelled_no_refund", "refunded"}
    assert {status.value for status in SupplierStatus} == server
    assert FINISHED == UNDONE | {SupplierStatus.COMPLETED}
    assert FINISHED.isdisjoint(IN_PROGRESS)
    assert FINISHED | IN_PROGRESS == set(SupplierStatus)


@pytest.mark.parametrize(
    ("answer", "amount", "says"),
    [
        (full("cancelled_no_refund", []), 450_000.0, "and kept the 450,000 paid"),
        (full("refunded", []), 450_000.0, "and refunded the 450,000 paid"),
        (
            full("cancelled", [], payment_status="refunded"),
            450_000.0,
            "the 450,000 paid was refunded",
        ),
        (full("cancelled", [], payment_status="paid"), 450_000.0, "the 450,000 was not refunded"),
        (short("cancelled", []), 99_500.5, "after it was paid (99,500.50)"),
        # Nothing recorded at the purchase: the answer's own amount.
        (full("cancelled_no_refund", []), None, "kept the 1,350,000 paid"),
    ],
)
def test_a_taken_back_order_names_the_money(
    answer: OrderStatus, amount: float | None, says: str
) -> None:
    reason = undone_reason("K7Q2MZX", answer, amount)
    # `fulfilments retry` buys such a line afresh: it recognises the reason by its start.
    assert reason.startswith("supplier cancelled order K7Q2MZX")
    assert says in reason


def test_an_unknown_amount_is_said_so() -> None:
    answer = OrderStatus.model_validate({"trans_id": "X1", "status": "refunded"})
    assert "an amount the bridge did not record" in undone_reason("X1", answer, None)
    assert money(75_000) == "75,000"
