"""The console in a real browser: Debian's chromium, driven by Playwright, against one running
bridge and the simulators per module, with production cookie settings (Secure cookies: browsers
accept them from http://127.0.0.1). Every step waits for the state it asserts (Playwright's
``expect``), never for a fixed time. Screenshots go to tests/artifacts/console/ (kept by CI)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api
from playwright.sync_api import expect
from sqlmodel import Session, col, select

from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from bridge.web.console.labels import ALERT_KINDS, FIELDS, VOCABULARIES
from bridge.web.console.models import ConsoleAudit
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, UNMAPPED, purchases_per_plan
from tests.web.console.conftest import PASSWORD, USER, start_world

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCREENSHOTS = ARTIFACTS / "console"
PHONE: playwright_api.ViewportSize = {"width": 375, "height": 812}
DESK: playwright_api.ViewportSize = {"width": 1280, "height": 900}
# A variation of this module's own that no mapping serves (the mapping test maps UNMAPPED).
STRAY = "eeeeeeee-0000-4000-8000-00000000beef"
# Words only a page in that language shows (the menu's first entry).
MENU_WORD = {"vi": "Tổng quan", "en": "Dashboard"}
# What the console must never print: its tables' column names and its vocabularies' codes.
RAW = sorted(
    {name for name in FIELDS if "_" in name}
    | {value for words in VOCABULARIES.values() for value in words if "_" in value}
    | {kind for kind in ALERT_KINDS if "_" in kind}
)
RAW_WORD = re.compile(r"\b(" + "|".join(RAW) + r")\b")
SECONDS = re.compile(r"\b\d{1,2}:\d{2}:\d{2}")  # a time to the second, or with microseconds
# How long an expectation waits for its state: the machine running the tests may be busy.
WAIT_MS = 15_000
ACTIONS = "a.btn, button:not(.navbar-toggler):not([data-bs-toggle]), [data-sa-is-row-action]"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv("BRIDGE_CONSOLE_INSECURE_COOKIES", raising=False)
        sandbox = start_world(tmp_path_factory.mktemp("console"))
        try:
            yield sandbox
        finally:
            sandbox.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[playwright_api.Browser]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does)")
    expect.set_options(timeout=WAIT_MS)
    with playwright_api.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def open_page(
    browser: playwright_api.Browser,
    world: Sandbox,
    language: str = "en",
    viewport: playwright_api.ViewportSize = PHONE,
) -> playwright_api.Page:
    """A new browser profile whose languages are ``language`` first, logged in."""
    context = browser.new_context(
        viewport=viewport, locale={"vi": "vi-VN", "en": "en-GB"}[language]
    )
    page = context.new_page()
    page.goto(world.bridge_url + "/admin/")
    expect(page).to_have_url(re.compile("/admin/login"))  # anonymous: sent to the login form
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.press("input[name=password]", "Enter")
    expect(page).to_have_url(world.bridge_url + "/admin/")
    return page


@pytest.fixture
def page(browser: playwright_api.Browser, world: Sandbox) -> Iterator[playwright_api.Page]:
    page = open_page(browser, world)
    try:
        yield page
    finally:
        page.context.close()


def fits(page: playwright_api.Page, what: str) -> None:
    """The page needs no sideways scrolling on a phone."""
    width = page.evaluate("document.scrollingElement.scrollWidth")
    assert width <= PHONE["width"], f"{what} is {width} px wide on a phone"


def on_screen(page: playwright_api.Page, locator: playwright_api.Locator, what: str) -> None:
    """Seen whole without scrolling sideways (the page's own or a table's)."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None, what
    width = page.viewport_size["width"] if page.viewport_size else 0
    assert box["x"] >= 0, f"{what} is off screen: {box}"
    assert box["x"] + box["width"] <= width, f"{what} is off screen: {box}"


def plain(page: playwright_api.Page, what: str) -> None:
    """The page speaks as an operator does: no "-null-", no code word, no seconds, and every
    button or link that acts says what it does."""
    text = page.locator("body").inner_text()
    assert "-null-" not in text, what
    assert "-empty-" not in text, what
    raw = RAW_WORD.search(text)
    assert raw is None, f"{what} shows {raw.group(0)!r}"
    second = SECONDS.search(text)
    assert second is None, f"{what} shows a time to the second: {second.group(0)!r}"
    for action in page.locator(ACTIONS).all():
        if action.is_visible():
            said = action.inner_text().strip() or action.get_attribute("aria-label") or ""
            assert said, f"{what}: an action without words: {action.evaluate('a => a.outerHTML')}"


def test_log_in_retry_after_top_up_reveal_and_phone_screenshot(
    world: Sandbox, page: playwright_api.Page
) -> None:
    caoshop = world.suppliers[CAOSHOP]
    caoshop.set_balance(0)
    order = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    (line,) = world.wait_settled(order, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION, line.reason
    bought_before = purchases_per_plan(world)[319]

    page.reload()
    attention = page.locator("[data-testid=attention]")
    expect(attention).to_contain_text("Netflix Premium 1 tháng")  # Vietnamese, as stored
    expect(attention.locator(f"[data-line='{line.id}']")).to_have_text(f"Open line {line.id}")
    fits(page, "the dashboard")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-375.png"), full_page=True)

    caoshop.set_balance(10_000_000)  # the operator tops up, then retries from the console
    attention.locator(f"[data-line='{line.id}']").click()
    expect(page.locator("[data-action=reveal]")).to_have_count(0)  # nothing to reveal yet
    page.locator("[data-action=retry]").click()
    expect(page.get_by_text(f"Line {line.id}: Waiting to buy again.")).to_be_visible()
    (done,) = world.wait_settled(order, lines=1, final=True)
    assert done.state == FulfilmentState.ANNOTATED
    # A second click on the same (now finished) line buys nothing more.
    page.locator("[data-action=retry]").click()
    expect(
        page.get_by_text(f"Line {line.id}: Done: codes in the note. Nothing to retry.")
    ).to_be_visible()
    assert purchases_per_plan(world)[319] == bought_before + 1, "bought more than once"

    expect(page.locator("[data-testid=credentials]")).to_have_count(0)  # masked until asked
    page.locator("[data-action=reveal]").click()
    shown = page.locator("[data-testid=credentials]")
    (purchase,) = [p for p in caoshop.ledger if p.items and p.items[0] in shown.inner_text()]
    for item in purchase.items:
        expect(shown).to_contain_text(item)
    expect(page.locator("[data-testid=audit]")).to_contain_text(USER)
    expect(page.locator("[data-testid=audit] [data-audit=reveal]")).to_have_text(
        "Revealed the codes"
    )
    with Session(world.runtime.engine) as session:
        audit = session.exec(
            select(ConsoleAudit)
            .where(ConsoleAudit.fulfilment_id == line.id)
            .order_by(col(ConsoleAudit.id))
        ).all()
    assert [(a.username, a.action) for a in audit] == [
        (USER, "retry"),
        (USER, "retry"),
        (USER, "reveal"),
    ]


def test_map_an_unmapped_variation_through_the_pickers_and_see_orders_bought(
    world: Sandbox, page: playwright_api.Page
) -> None:
    waiting = world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (line,) = world.wait_settled(waiting, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    bought_before = purchases_per_plan(world)[331]

    page.goto(world.bridge_url + "/admin/unmapped")
    row = page.locator(f"[data-testid=unmapped] tr[data-variation='{UNMAPPED}']")
    expect(row).to_contain_text("Sản phẩm chưa map")
    on_screen(page, row.locator("[data-action=map]"), "the Map button")
    row.locator("[data-action=map]").click()

    # The editor opens on the variation, its pickers filled from Pancake and the supplier: each
    # assertion waits for the state it names (options arrive first, the selection after).
    expect(page.locator("#variation_id")).to_have_value(UNMAPPED)
    expect(page.locator("#variation-picker option:checked")).to_contain_text("Sản phẩm chưa map")
    page.select_option("#supplier_name", CAOSHOP)
    expect(page.locator("#plan-picker option[value='331']")).to_have_count(1)
    page.select_option("#plan-picker", "331")  # Spotify: 60,000 a unit
    expect(page.locator("#plan_id")).to_have_value("331")
    margin = page.locator("[data-testid=margin]")
    expect(margin).to_contain_text("Margin 40,000")
    page.fill("#units", "2")  # two supplier units per POS item: 120,000 against 100,000
    expect(margin).to_contain_text("Margin -20,000")
    expect(margin).to_have_class(re.compile(r"\balert-danger\b"))
    page.fill("#units", "1")
    expect(margin).to_contain_text("Margin 40,000")
    fits(page, "the editor")
    page.locator("[data-action=save]").click()
    expect(page.get_by_text("is saved")).to_be_visible()
    fits(page, "the mapping's page")
    page.screenshot(path=str(SCREENSHOTS / "mapping-375.png"), full_page=True)

    page.get_by_role("button", name="Buy them with this mapping").click()
    expect(page.get_by_text("1 waiting line will be bought")).to_be_visible()
    (done,) = world.wait_settled(waiting, lines=1, final=True)
    assert done.state == FulfilmentState.ANNOTATED, done.reason
    fresh = world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (bought,) = world.wait_settled(fresh, lines=1, final=True)
    assert bought.state == FulfilmentState.ANNOTATED, bought.reason
    assert purchases_per_plan(world)[331] == bought_before + 2  # one per order, none twice

    page.goto(world.bridge_url + "/admin/mappings")
    expect(page.locator("[data-testid=mappings]")).to_contain_text("Sản phẩm chưa map")
    fits(page, "the mappings page")
    page.screenshot(path=str(SCREENSHOTS / "mappings-375.png"), full_page=True)


@pytest.fixture(scope="module")
def two_lines(world: Sandbox) -> tuple[int, int]:
    """A line that waits for a person (its variation unmapped) and one done, with codes."""
    world.pancake.add_variation(world.shop_id, STRAY, name="Gói chưa map")
    stray = world.place_order([{"variation_id": STRAY, "quantity": 1}])
    (parked,) = world.wait_settled(stray, lines=1)
    done = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    (annotated,) = world.wait_settled(done, lines=1, final=True)
    assert (parked.state, annotated.state) == ("needs_attention", "annotated")
    assert parked.id is not None
    assert annotated.id is not None
    return parked.id, annotated.id


@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_page_speaks_plainly_in_both_languages_on_a_phone_and_a_desk(
    world: Sandbox,
    browser: playwright_api.Browser,
    two_lines: tuple[int, int],
    language: str,
) -> None:
    """Each page of the menu, a line's page and a mapping's page, at 375 and 1280 px: in the
    browser's language, no "-null-", no code word, times to the minute with their zone, every
    action labelled; on a phone the columns that matter on screen."""
    parked, annotated = two_lines
    for viewport in (PHONE, DESK):
        width = viewport["width"]
        page = open_page(browser, world, language, viewport)
        try:
            expect(page.locator("aside")).to_contain_text(MENU_WORD[language])
            menu = page.eval_on_selector_all(
                "aside a.nav-link[href*='/admin/']", "links => links.map(a => a.href)"
            )
            assert len(menu) == 8, menu  # one Suppliers entry: no "Supplier rows"
            pages = [
                *menu,
                f"{world.bridge_url}/admin/lines/{annotated}",
                f"{world.bridge_url}/admin/lines/{parked}",
                f"{world.bridge_url}/admin/mappings/variation/{world.shop_id}/{NETFLIX}",
                f"{world.bridge_url}/admin/mappings/variation/{world.shop_id}/{CHATGPT}",
            ]
            for url in pages:
                page.goto(url)
                expect(page.locator("aside")).to_contain_text(MENU_WORD[language])
                name = url.split("/admin/")[1].strip("/").replace("/", "-") or "dashboard"
                where = f"{name} ({language}, {width} px)"
                plain(page, where)
                if width == PHONE["width"]:
                    fits(page, where)
                page.screenshot(
                    path=str(SCREENSHOTS / f"{language}-{width}-{name[:60]}.png"), full_page=True
                )

            # The mapping's trail shows values as `bridge mappings history` prints them.
            trail = page.locator("[data-testid=trail]")  # the last page: ChatGPT's mapping
            expect(trail.locator("[data-field=fields_template]").first).to_contain_text(
                '{"email": "{order.bill_email}"}'
            )
            expect(trail.locator("[data-field=enabled]").first).to_contain_text(
                {"vi": "có", "en": "yes"}[language]
            )
            expect(trail).not_to_contain_text("{'email'")

            page.goto(world.bridge_url + "/admin/fulfilment/list")
            row = page.locator(f"tr[data-sa-pk='{parked}']")
            expect(row.locator("td[data-column=updated_at]")).to_contain_text("UTC+07:00")
            for column in ("state", "reason"):
                on_screen(page, row.locator(f"td[data-column={column}]"), f"the {column}")
            on_screen(page, row.locator("[data-sa-name=open]"), "the Open link")
            if width == DESK["width"]:  # a desk shows the whole of what identifies a purchase
                bought = page.locator(f"tr[data-sa-pk='{annotated}']")
                for column in ("plan_id", "trans_id", "reason"):
                    on_screen(page, bought.locator(f"td[data-column={column}]"), column)

            page.goto(world.bridge_url + "/admin/unmapped")
            row = page.locator(f"[data-testid=unmapped] tr[data-variation='{STRAY}']")
            for cell in ("[data-action=map]", "[data-testid=waiting]"):
                on_screen(page, row.locator(cell), cell)

            # An order's page (the library's detail page) speaks the same way.
            page.goto(world.bridge_url + "/admin/order/list")
            page.locator("[data-sa-name=view]").first.click()
            expect(page).to_have_url(re.compile("/admin/order/detail"))
            plain(page, f"an order's page ({language}, {width} px)")
        finally:
            page.context.close()


def test_the_switch_changes_the_language_and_keeps_it(
    world: Sandbox, browser: playwright_api.Browser
) -> None:
    """A browser asking for Vietnamese gets it; the switch turns the console to English, and
    the next pages stay so."""
    page = open_page(browser, world, "vi", DESK)
    try:
        # The switch's handler is bound once the page has loaded: a click before that is lost.
        page.wait_for_load_state("load")
        switch = page.locator("button.dropdown-toggle", has_text="Tiếng Việt")
        expect(switch).to_be_visible()
        switch.click()
        page.locator("[data-sa-hook=language-switcher-item][data-sa-lang=en]:visible").click()
        expect(page.locator("aside")).to_contain_text(MENU_WORD["en"])
        page.goto(world.bridge_url + "/admin/suppliers")
        expect(page.get_by_role("heading", name="Suppliers")).to_be_visible()
        expect(page.locator("button.dropdown-toggle", has_text="English")).to_be_visible()
    finally:
        page.context.close()
