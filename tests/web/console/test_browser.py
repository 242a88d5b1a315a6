"""The console in a real browser: Debian's chromium, driven by Playwright, against a running
bridge and the simulators, with production cookie settings (Secure cookies: browsers accept them
from http://127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api
from sqlmodel import Session, col, select

from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from bridge.web.console.models import ConsoleAudit
from tests.e2e.world import CAOSHOP, NETFLIX, purchases_per_plan
from tests.web.console.conftest import PASSWORD, USER, start_world

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
PHONE: playwright_api.ViewportSize = {"width": 375, "height": 812}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.delenv("BRIDGE_CONSOLE_INSECURE_COOKIES", raising=False)
    sandbox = start_world(tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def page(world: Sandbox) -> Iterator[playwright_api.Page]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does)")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser.new_page(viewport=PHONE)
        finally:
            browser.close()


def log_in(page: playwright_api.Page, url: str) -> None:
    page.goto(url + "/admin/")
    assert "/admin/login" in page.url  # anonymous: sent to the login form
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(url + "/admin/")


def test_log_in_retry_after_top_up_reveal_and_phone_screenshot(
    world: Sandbox, page: playwright_api.Page
) -> None:
    caoshop = world.suppliers[CAOSHOP]
    caoshop.set_balance(0)
    order = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    (line,) = world.wait_settled(order, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION, line.reason
    assert purchases_per_plan(world)[319] == 0

    log_in(page, world.bridge_url)
    page.get_by_role("heading", name="Dashboard").wait_for()
    attention = page.locator("[data-testid=attention]")
    assert "Netflix Premium 1 tháng" in attention.inner_text()  # Vietnamese, as stored
    assert page.locator("[data-testid=attention-total]").inner_text() == "1"
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"the dashboard is {width} px wide on a phone"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-375.png"), full_page=True)

    caoshop.set_balance(10_000_000)  # the operator tops up, then retries from the console
    page.locator("[data-testid=attention] a", has_text=str(line.id)).click()
    page.locator("[data-action=retry]").click()
    page.get_by_text(f"Line {line.id} is pending again").wait_for()
    (done,) = world.wait_settled(order, lines=1, final=True)
    assert done.state == FulfilmentState.ANNOTATED
    # A second click on the same (now finished) line buys nothing more.
    page.locator("[data-action=retry]").click()
    page.get_by_text(f"Line {line.id} is annotated: nothing to retry").wait_for()
    assert purchases_per_plan(world)[319] == 1, "bought more than once"

    page.reload()
    assert page.locator("[data-testid=credentials]").count() == 0  # masked until asked
    page.locator("[data-action=reveal]").click()
    shown = page.locator("[data-testid=credentials]").inner_text()
    (purchase,) = caoshop.ledger
    assert purchase.items
    assert all(item in shown for item in purchase.items)
    assert USER in page.locator("[data-testid=audit]").inner_text()
    with Session(world.runtime.engine) as session:
        audit = session.exec(select(ConsoleAudit).order_by(col(ConsoleAudit.id))).all()
    assert [(a.username, a.action, a.fulfilment_id) for a in audit] == [
        (USER, "retry", line.id),
        (USER, "retry", line.id),
        (USER, "reveal", line.id),
    ]
