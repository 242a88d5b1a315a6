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
from tests.e2e.world import CAOSHOP, NETFLIX, UNMAPPED, purchases_per_plan
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
    ARTIFACTS.mkdir(exist_ok=True)
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


def fits(page: playwright_api.Page, what: str) -> None:
    """The page needs no sideways scrolling on a phone."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} is {width} px wide on a phone"


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
    fits(page, "the dashboard")
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


def test_map_an_unmapped_variation_through_the_pickers_and_see_orders_bought(
    world: Sandbox, page: playwright_api.Page
) -> None:
    waiting = world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (line,) = world.wait_settled(waiting, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION

    log_in(page, world.bridge_url)
    page.goto(world.bridge_url + "/admin/unmapped")
    row = page.locator(f"[data-testid=unmapped] tr[data-variation='{UNMAPPED}']")
    assert "Sản phẩm chưa map" in row.inner_text()
    row.locator("[data-action=map]").click()

    # The editor opens on the variation, its pickers filled from Pancake and the supplier.
    assert page.input_value("#variation_id") == UNMAPPED
    page.wait_for_function("document.querySelector('#plan-picker').options.length > 1")
    picked = page.locator("#variation-picker option:checked").inner_text()
    assert "Sản phẩm chưa map" in picked
    page.select_option("#supplier_name", CAOSHOP)
    page.select_option("#plan-picker", "331")  # Spotify: 60,000 a unit
    assert page.input_value("#plan_id") == "331"
    assert "Margin 40,000" in page.locator("[data-testid=margin]").inner_text()
    page.fill("#units", "2")  # two supplier units per POS item: 120,000 against 100,000
    margin = page.locator("[data-testid=margin]")
    assert "Margin -20,000" in margin.inner_text()
    assert "alert-danger" in (margin.get_attribute("class") or "")
    page.fill("#units", "1")
    fits(page, "the editor")
    page.locator("[data-action=save]").click()
    page.get_by_text("is saved").wait_for()
    fits(page, "the mapping's page")
    page.screenshot(path=str(ARTIFACTS / "mapping-375.png"), full_page=True)

    page.get_by_role("button", name="Buy them with this mapping").click()
    page.get_by_text("1 waiting line(s) will be bought").wait_for()
    (done,) = world.wait_settled(waiting, lines=1, final=True)
    assert done.state == FulfilmentState.ANNOTATED, done.reason
    fresh = world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (bought,) = world.wait_settled(fresh, lines=1, final=True)
    assert bought.state == FulfilmentState.ANNOTATED, bought.reason
    assert purchases_per_plan(world)[331] == 2  # one per order, none twice

    page.goto(world.bridge_url + "/admin/mappings")
    assert "Sản phẩm chưa map" in page.locator("[data-testid=mappings]").inner_text()
    fits(page, "the mappings page")
    page.screenshot(path=str(ARTIFACTS / "mappings-375.png"), full_page=True)

    # Every other page of the menu, and a line's page, fit a phone too.
    menu = page.eval_on_selector_all(
        "aside a.nav-link[href*='/admin/']", "links => links.map(a => a.href)"
    )
    assert len(menu) >= 8, menu
    for url in [*menu, f"{world.bridge_url}/admin/lines/{done.id}"]:
        page.goto(url)
        fits(page, url)
