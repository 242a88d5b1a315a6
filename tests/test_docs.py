"""The README and the pages in docs/: every relative link and #anchor leads somewhere.

Links are checked as GitHub renders them: a path relative to the page that holds the link, and
an anchor that is the slug of one of the target page's headings.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the text may wrap onto the next line.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} +(.+?) *#*$", re.MULTILINE)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text in lower case, punctuation dropped, spaces as -."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor the page's headings make (a repeated one gets -1, -2, … as on GitHub)."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    """The link targets of a page, outside code blocks and code spans."""
    text = CODE_SPAN.sub("", FENCE.sub("", page.read_text()))
    return LINK.findall(text)


def broken_links(page: Path) -> list[str]:
    """Each relative link of ``page`` whose file or #anchor does not exist, with the reason."""
    problems = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check offline
            continue
        path_part, _, anchor = target.partition("#")
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            problems.append(f"{page.name}: {target}: no file {path_part}")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {file.name}")
    return problems


def test_the_slugs_are_the_ones_github_makes() -> None:
    assert slug("Check a supplier: `bridge suppliers check [NAME] [--json]`") == (
        "check-a-supplier-bridge-suppliers-check-name---json"
    )
    assert slug("Settings (environment, prefix `BRIDGE_`)") == "settings-environment-prefix-bridge_"
    assert slug("The console's logins") == "the-consoles-logins"


def test_a_broken_link_and_a_missing_anchor_are_found(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Page\n\n[fine](other.md#a-section), [second](other.md#a-section-1), [up](#page),\n"
        "[gone](missing.md), [no such\nheading](other.md#nowhere), [far](https://example.com)\n"
        "```sh\n[in code](missing-too.md)\n```\n"
    )
    assert broken_links(page) == [
        "page.md: missing.md: no file missing.md",
        "page.md: other.md#nowhere: no heading #nowhere in other.md",
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    assert links(page) or page.name != "README.md", "the README links its pages"
    assert broken_links(page) == []


def test_the_readme_is_short_and_links_every_docs_page() -> None:
    readme = ROOT / "README.md"
    assert len(readme.read_text().splitlines()) < README_MAX_LINES
    linked = {(readme.parent / target.partition("#")[0]).resolve() for target in links(readme)}
    assert {page.resolve() for page in PAGES[1:]} <= linked
