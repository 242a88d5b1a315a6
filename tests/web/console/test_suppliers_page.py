"""The Suppliers page and the dashboard after a purchase: the key's budget used today and the
runway of the supplier's balance, as rendered from the live bridge and the simulators."""

from __future__ import annotations

import re

import httpx

from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from tests.e2e.world import CAOSHOP, NETFLIX, SHOPKEY

USED_TODAY = re.compile(r'data-testid="used-today">([\d,]+) / ([\d,]+)<')
RUNWAY = re.compile(r'data-testid="runway">(.*?)</td>', re.DOTALL)


def supplier_part(html: str, name: str) -> str:
    """The part of a page about one supplier (from its ``data-supplier`` to the next one)."""
    start = html.index(f'data-supplier="{name}"')
    end = html.find("data-supplier=", start + 1)
    return html[start : end if end != -1 else len(html)]


def number(text: str) -> int:
    return int(text.replace(",", ""))


def test_after_a_purchase_the_pages_show_the_budget_used_today_and_the_runway(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    caoshop = console_world.suppliers[CAOSHOP]
    order = console_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    (line,) = console_world.wait_settled(order, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED
    (purchase,) = caoshop.ledger
    seen_by_supplier = caoshop.used_today  # every request it counted was admitted before

    suppliers = logged_in.get("/admin/suppliers")
    assert suppliers.status_code == 200
    card = supplier_part(suppliers.text, CAOSHOP)
    used = USED_TODAY.search(card)
    assert used is not None, card
    assert number(used.group(1)) >= max(1, seen_by_supplier)
    assert number(used.group(2)) == caoshop.daily_limit  # the limit the budget enforces

    # One purchase in 7 days: the balance left lasts balance / (amount / 7) days.
    runway = f"{caoshop.balance / (purchase.amount / 7):.1f} days"
    assert runway in card
    board = logged_in.get("/admin/")
    assert board.status_code == 200
    shown = RUNWAY.search(supplier_part(board.text, CAOSHOP))
    assert shown is not None
    assert shown.group(1) == runway
    idle = RUNWAY.search(supplier_part(board.text, SHOPKEY))
    assert idle is not None
    assert "—" in idle.group(1)
    assert "no purchase cost in 7 days" in idle.group(1)
