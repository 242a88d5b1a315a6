"""What a refusal of ``orders/create`` proves about a choice, and how to tell a person about it.

The platform's own server refuses a sold-out plan, an unknown plan and more units than the stock
all with ``CART_ERROR`` (HTTP 400) and a Vietnamese message, never with the docs'
``OUT_OF_STOCK``/``PRODUCT_NOT_FOUND`` (DESIGN.md section 4): only the text tells them from a
missing field or a bad quantity. So whether the line may try its next choice is decided here,
from code and message together, for the purchase step and for ``mappings.resolve`` (which reads
the refusals back from the attempts) alike.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from bridge.supplier.schemas import VN_TZ
from bridge.supplier.vocabulary import FALLBACK_CODES, ErrorCode, advice


class CartProblem(StrEnum):
    """What a ``CART_ERROR`` message says of the item."""

    SOLD_OUT = "sold out"  # "không đủ kho hàng (còn N)": none left, or fewer than asked
    UNKNOWN_PLAN = "unknown plan"  # "Gói #N không tồn tại"
    OTHER = "other"  # a missing field, a bad quantity, or a text not known here


# On the text without accents, case or quoted product names (see ``_plain``).
_SOLD_OUT = re.compile(r"\bkhong (con )?du\b.*\b(kho|so luong)\b|\bhet hang\b")
_UNKNOWN_PLAN = re.compile(
    r"\b(goi|san pham|plan|product)\b.*\bkhong (con )?ton tai\b"
    r"|\bkhong tim thay\b.*\b(goi|san pham)\b"
)
_QUOTED = re.compile(r'"[^"]*"|“[^”]*”|«[^»]*»')


def cart_problem(message: str) -> CartProblem:
    """Classify a ``CART_ERROR`` message; anything not recognised is OTHER (never a fallback)."""
    text = _plain(message)
    if _SOLD_OUT.search(text):
        return CartProblem.SOLD_OUT
    if _UNKNOWN_PLAN.search(text):
        return CartProblem.UNKNOWN_PLAN
    return CartProblem.OTHER


def _plain(message: str) -> str:
    """Lower case, no accents (đ as d), one space between words, and quoted names blanked: a
    product called "Hết hàng Pro" must not make its own refusal read as sold out."""
    text = message.replace("đ", "d").replace("Đ", "D")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = _QUOTED.sub('""', unicodedata.normalize("NFC", text))
    return " ".join(text.casefold().split())


def rules_out_choice(code: str | None, message: str | None) -> bool:
    """Does this refusal of ``orders/create`` prove that the choice cannot serve the line now,
    so that the line tries its next choice? Nothing was bought either way; a refusal that
    proves nothing (an unrecognised CART_ERROR, our own bug) needs a person instead."""
    if code in FALLBACK_CODES:
        return True
    return code == ErrorCode.CART_ERROR and cart_problem(message or "") != CartProblem.OTHER


def refusal_label(code: str, message: str | None) -> str:
    """The code as a line's reason names it: ``CART_ERROR (sold out)`` says which CART_ERROR."""
    if code == ErrorCode.CART_ERROR:
        problem = cart_problem(message or "")
        if problem != CartProblem.OTHER:
            return f"{code} ({problem})"
    return code


def refusal_text(code: str, said: str = "") -> str:
    """A refusal for a person (an alert): the code, what the supplier said, what it means and
    what to do."""
    meaning, next_step = advice(code)
    return f"{code}{f' ({said})' if said else ''}: {meaning}. Next: {next_step}."


# A refusal this soon after the day turned by the zone we assume may mean the zone is wrong
# (a supplier in UTC turns its day 7 hours after UTC+7): look again in an hour rather than
# waiting a whole day. A key that really spent its day this early costs a refused call an hour.
DAY_TURN_DOUBT = timedelta(hours=4)
DOUBT_PAUSE = timedelta(hours=1)


def daily_limit_pause_end(now: datetime, zone: tzinfo = VN_TZ) -> datetime:
    """Until when a key refused with DAILY_LIMIT_EXCEEDED at ``now`` (aware) waits: the
    supplier's next midnight in ``zone`` (its own zone once known; UTC+7, the platform's
    default, until then)."""
    local = now.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if local - midnight < DAY_TURN_DOUBT:
        return now + DOUBT_PAUSE
    # Aware arithmetic in one zone is wall time: the next local midnight, whatever the offset.
    return (midnight + timedelta(days=1)).astimezone(now.tzinfo)
