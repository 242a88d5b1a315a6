"""The console says when a mapping's plan is not in what could be read of its supplier's
catalogue (a shop that shows its first ten products whatever is asked), rather than calling
it gone."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.dev.sandbox import Sandbox
from tests.e2e.world import CAOSHOP, NETFLIX
from tests.web.console.conftest import start_world
from tests.web.console.test_mapping_pages import page_text


@pytest.fixture
def console_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The console's world with a key of 1,200 calls a minute: catalogue reads are paced one
    call's spacing apart (a second each at the default 60), and this read makes 30 of them."""
    monkeypatch.setenv("BRIDGE_CONSOLE_INSECURE_COOKIES", "true")
    sandbox = start_world(tmp_path, supplier_rate_limit=1_200)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def test_a_plan_past_what_could_be_read_is_said_unread_on_its_mapping(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    caoshop = console_world.suppliers[CAOSHOP]
    # 300 products listed before plan 319's, no category, names (319's as well) no search
    # narrows in the calls a read may spend.
    for plan in range(1001, 1301):
        caoshop.add_plan(plan, name=f"Gói {plan}", product_id=plan - 1000)
    caoshop.add_plan(319, name="Netflix Premium 1 tháng", product_name="Gói 319", price=75_000)
    caoshop.switch(paging="first_ten", categories_list_empty=True)
    page = f"/admin/mappings/variation/{console_world.shop_id}/{NETFLIX}"

    deadline = time.monotonic() + 90
    text = page_text(logged_in.get(page))  # the first view asks the workers for the catalogue
    while "could be read" not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = page_text(logged_in.get(page))

    assert "caoshop-sim plan 319" in text
    assert "not in what could be read of the catalogue: may still be sold" in text
    assert f"Not read: {CAOSHOP}'s catalogue, in part: " in text
    assert " of 303 products, by search; 30 calls: products/list ignores paging" in text
    assert "stopped at 30 calls" in text
