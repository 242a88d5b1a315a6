"""What a refusal of orders/create proves about a choice: the real server's CART_ERROR texts,
and the supplier's next day for a spent daily limit."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.supplier.refusals import (
    CartProblem,
    cart_problem,
    daily_limit_pause_end,
    refusal_label,
    refusal_text,
    rules_out_choice,
)
from bridge.supplier.vocabulary import ERROR_ADVICE, ErrorCode

SOLD_OUT = 'Sản phẩm "Netflix Premium" không đủ kho hàng (còn 0)'
SHORT = 'Sản phẩm "Spotify Family" không đủ kho hàng (còn 3)'
UNKNOWN = "Gói #999 không tồn tại"


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        # The real server's texts (DESIGN.md section 4).
        (SOLD_OUT, CartProblem.SOLD_OUT),
        (SHORT, CartProblem.SOLD_OUT),
        (UNKNOWN, CartProblem.UNKNOWN_PLAN),
        ('Gói "ChatGPT Plus 1 tháng" không tồn tại', CartProblem.UNKNOWN_PLAN),
        ("Sản phẩm không tồn tại", CartProblem.UNKNOWN_PLAN),
        ("Sản phẩm đã hết hàng", CartProblem.SOLD_OUT),
        # Case, accents lost on the way, decomposed accents, spacing.
        ('SẢN PHẨM "NETFLIX" KHÔNG ĐỦ KHO HÀNG (CÒN 0)', CartProblem.SOLD_OUT),
        ('San pham "Netflix" khong du kho hang (con 0)', CartProblem.SOLD_OUT),
        (unicodedata.normalize("NFD", SOLD_OUT), CartProblem.SOLD_OUT),
        ("  gói   #12\tKHÔNG  tồn tại ", CartProblem.UNKNOWN_PLAN),
        (unicodedata.normalize("NFD", UNKNOWN), CartProblem.UNKNOWN_PLAN),
        # Not about the plan's shelf: a person must look.
        ("Vui lòng nhập Email (field 'email') cho gói 320", CartProblem.OTHER),
        ("Số lượng không hợp lệ", CartProblem.OTHER),
        ("Sản phẩm không hợp lệ", CartProblem.OTHER),
        ("Trường bổ sung không hợp lệ", CartProblem.OTHER),
        ("Người dùng không tồn tại", CartProblem.OTHER),
        ("", CartProblem.OTHER),
        # A product's own name says nothing of its shelf.
        ('Sản phẩm "Hết hàng Pro" không hợp lệ', CartProblem.OTHER),
        ('Vui lòng nhập Email cho gói "Gói không tồn tại"', CartProblem.OTHER),
    ],
)
def test_cart_error_texts_are_classified(message: str, problem: CartProblem) -> None:
    assert cart_problem(message) == problem


@pytest.mark.parametrize(
    ("code", "message", "falls_back"),
    [
        (ErrorCode.CART_ERROR, SOLD_OUT, True),
        (ErrorCode.CART_ERROR, UNKNOWN, True),
        (ErrorCode.CART_ERROR, "Vui lòng nhập Email (field 'email') cho gói 320", False),
        (ErrorCode.CART_ERROR, "Lỗi không xác định", False),
        (ErrorCode.CART_ERROR, None, False),
        (ErrorCode.OUT_OF_STOCK, None, True),
        (ErrorCode.PRODUCT_NOT_FOUND, "", True),
        (ErrorCode.INSUFFICIENT_BALANCE, "Số dư không đủ", True),
        (ErrorCode.EXPIRED_API_KEY, "API Key đã hết hạn", True),
        (ErrorCode.USER_BANNED, "", True),
        (ErrorCode.API_DISABLED, "", True),
        (ErrorCode.USER_ERROR, "", True),
        (ErrorCode.INVALID_JSON, "", False),
        (ErrorCode.PARAMS_REQUIRED, "", False),
        (ErrorCode.METHOD_NOT_ALLOWED, "", False),
        (ErrorCode.UNKNOWN, SOLD_OUT, False),  # only a CART_ERROR's text is read
        ("SOMETHING_NEW", "", False),
    ],
)
def test_which_refusals_rule_a_choice_out(code: str, message: str | None, falls_back: bool) -> None:
    assert rules_out_choice(code, message) is falls_back


def test_a_cart_error_is_named_by_what_it_says() -> None:
    assert refusal_label(ErrorCode.CART_ERROR, SOLD_OUT) == "CART_ERROR (sold out)"
    assert refusal_label(ErrorCode.CART_ERROR, UNKNOWN) == "CART_ERROR (unknown plan)"
    assert refusal_label(ErrorCode.CART_ERROR, "Số lượng không hợp lệ") == "CART_ERROR"
    assert refusal_label(ErrorCode.OUT_OF_STOCK, None) == "OUT_OF_STOCK"


def test_every_code_the_real_server_sends_has_its_advice() -> None:
    real = {
        "INVALID_API_KEY",
        "INVALID_API_SECRET",
        "RATE_LIMIT_EXCEEDED",
        "DAILY_LIMIT_EXCEEDED",
        "IP_NOT_ALLOWED",
        "EXPIRED_API_KEY",
        "USER_BANNED",
        "API_DISABLED",
        "PERMISSION_DENIED",
        "CART_ERROR",
        "CHECKOUT_ERROR",
        "METHOD_NOT_ALLOWED",
        "INVALID_JSON",
        "ITEMS_REQUIRED",
        "USER_ERROR",
        "INSUFFICIENT_BALANCE",
        "PARAMS_REQUIRED",
        "ORDER_NOT_FOUND",
    }
    assert real <= set(ERROR_ADVICE)
    assert set(ErrorCode) == set(ERROR_ADVICE)
    text = refusal_text("EXPIRED_API_KEY", "API Key đã hết hạn")
    assert text.startswith("EXPIRED_API_KEY (API Key đã hết hạn): the API key has expired.")
    assert "Next: " in text


UTC7 = timezone(timedelta(hours=7))


@pytest.mark.parametrize(
    ("now", "zone", "until"),
    [
        # 15:00 at UTC+7: the supplier's next midnight, 17:00 UTC.
        (datetime(2026, 12, 2, 8, 0, tzinfo=UTC), UTC7, datetime(2026, 12, 2, 17, 0, tzinfo=UTC)),
        # The same moment for a supplier in UTC+8 and in UTC.
        (
            datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
            timezone(timedelta(hours=8)),
            datetime(2026, 12, 2, 16, 0, tzinfo=UTC),
        ),
        (datetime(2026, 12, 2, 8, 0, tzinfo=UTC), UTC, datetime(2026, 12, 3, 0, 0, tzinfo=UTC)),
        # 23:59:59 at UTC+7: a second to go.
        (
            datetime(2026, 12, 2, 16, 59, 59, tzinfo=UTC),
            UTC7,
            datetime(2026, 12, 2, 17, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_spent_day_waits_for_the_suppliers_next_midnight(
    now: datetime, zone: timezone, until: datetime
) -> None:
    assert daily_limit_pause_end(now, zone) == until


def test_a_spent_day_just_after_midnight_is_looked_at_again_in_an_hour() -> None:
    """Refused again right after the day turned by the zone assumed: the zone may be wrong (a
    supplier in UTC turns its day at 07:00 UTC+7), so not a whole day's wait."""
    now = datetime(2026, 12, 2, 17, 0, 5, tzinfo=UTC)  # 00:00:05 at UTC+7
    assert daily_limit_pause_end(now) == now + timedelta(hours=1)
    assert daily_limit_pause_end(now, UTC) == datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
