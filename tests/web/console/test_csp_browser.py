"""The console's Content-Security-Policy in a real browser (Debian's chromium, Playwright): no
page the console shows, nor what an operator does on it (page size, columns, a confirmation, the
CSV export), makes the browser refuse anything; and the downloaded CSV opens as UTF-8 with a BOM
and holds every row of the filter."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from bridge.csv_cells import restore
from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.web.console.users import set_user
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import NETFLIX, build_world
from tests.web.console.conftest import PASSWORD, USER
from tests.web.console.test_browser import CHROMIUM
from tests.web.console.test_hardening import FORMULA, MINUS, NAMES, QUOTED, seed_lines

WIDE: playwright_api.ViewportSize = {"width": 1280, "height": 900}
# Collected by the page itself: every refusal the browser reports (a CSP violation is an event
# on the document, whichever script, style or frame it refused).
LISTEN = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__refused.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});
"""


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """Production cookie settings (the browser takes Secure cookies from 127.0.0.1); no workers:
    nothing here buys."""
    monkeypatch.delenv("BRIDGE_CONSOLE_INSECURE_COOKIES", raising=False)
    sandbox = build_world(Sandbox(fast_settings(migrated_sqlite_url(tmp_path))))
    sandbox.start(workers=False)
    try:
        with session_scope(sandbox.runtime.engine) as session:
            set_user(session, USER, PASSWORD, utcnow())
        seed_lines(sandbox)
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def browser_page(world: Sandbox) -> Iterator[tuple[playwright_api.Page, list[str]]]:
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is missing: apt-get install -y chromium (.ci/run does)")
    with playwright_api.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            context = browser.new_context(viewport=WIDE, accept_downloads=True)
            context.add_init_script(LISTEN)
            page = context.new_page()
            said: list[str] = []
            page.on(
                "console",
                lambda message: (
                    said.append(message.text)
                    if "Content Security Policy" in message.text or message.type == "error"
                    else None
                ),
            )
            yield page, said
        finally:
            browser.close()


def refused(page: playwright_api.Page) -> list[str]:
    found: list[str] = page.evaluate("window.__refused || []")
    return found


def test_no_page_breaks_the_policy_and_the_csv_has_every_row(
    world: Sandbox, browser_page: tuple[playwright_api.Page, list[str]]
) -> None:
    page, said = browser_page
    url = world.bridge_url + "/admin"
    visited: list[str] = []

    def visit(path: str) -> None:
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        visited.append(path)
        assert refused(page) == [], (path, refused(page))

    visit("/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    page.locator("#toggle-password").click()  # the login page's own script, from its file
    assert page.locator("input[name=password]").get_attribute("type") == "text"
    page.press("input[name=password]", "Enter")
    page.wait_for_url(url + "/")
    assert refused(page) == []

    # Every page the dashboard links to (the menu, its cards), logging out aside.
    paths = page.locator("a[href]").evaluate_all(
        "(links) => links.filter((a) => a.origin === location.origin).map((a) => a.pathname)"
    )
    links = sorted({p for p in paths if p.startswith("/admin/") and "logout" not in p})
    assert len(links) >= 5, links
    for link in links:
        visit(link.removeprefix("/admin"))
    for path in (
        "/fulfilment/detail/1",
        "/lines/1",
        f"/mappings/variation/4/{NETFLIX}",
        "/mappings/new?shop_id=4",
    ):
        visit(path)
    # The editor's pickers were filled by its script (a file now, not inline).
    page.locator("#variation-picker option").nth(1).wait_for(state="attached")

    # A confirmation asked by the console's own script: dismissed, nothing is posted.
    visit(f"/mappings/variation/4/{NETFLIX}")
    asked: list[str] = []

    def dismiss(dialog: playwright_api.Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.locator("form[data-confirm] button").first.click()
    assert len(asked) == 1, asked
    assert "audit" in asked[0], asked
    assert page.url.endswith(NETFLIX)

    # The library's inline handlers (page size, columns), allowed by their hashes.
    visit("/fulfilment/list")
    page.locator("select[onchange]").select_option(index=2)
    page.wait_for_url("**page_size=*")
    assert "page_size" in page.url
    page.locator(":has(> .dropdown-menu button[onclick]) > button.dropdown-toggle").click()
    page.locator("button[onclick]").click()
    page.wait_for_load_state("networkidle")
    assert refused(page) == []

    # The export: every row the search matches, more than a page.
    visit("/fulfilment/list?q=csv-1")
    page.locator("[data-sa-hook=action-item][data-sa-name=export]").click()
    page.locator("#modal-form input[name=scope][value=all]").check()
    with page.expect_download() as download:
        page.locator("[data-sa-action=action-submit]").click()
    data = Path(download.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 with a BOM, as Excel needs"
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    cells = {restore(cell) for row in rows[1:] for cell in row}
    assert len(rows) - 1 == len(NAMES) + 3 > 25
    assert {*NAMES, FORMULA, MINUS, QUOTED} <= cells
    assert refused(page) == []
    assert [text for text in said if "Content Security Policy" in text] == [], said
    assert len(visited) > 8
