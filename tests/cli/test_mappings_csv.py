"""`bridge mappings export|import`: an exact round trip, and imports that apply all or nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from bridge.dev.sandbox import Sandbox
from tests.cli.test_mappings import (  # noqa: F401  (pancake_url and sandbox are fixtures)
    SHOP,
    choices,
    pancake_url,
    trail,
)
from tests.cli.test_orders import run, sandbox  # noqa: F401  (sandbox is a fixture)
from tests.e2e.world import NETFLIX, SPOTIFY, UNMAPPED

NAME = "Netflix Premium 1 tháng – gói gia đình"


def exported(capsys: pytest.CaptureFixture[str], path: Path) -> bytes:
    code, out, err = run(capsys, "mappings", "export", str(path))
    assert (code, err) == (0, ""), err
    return path.read_bytes()


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def as_spreadsheet(rows: list[dict[str, str]]) -> bytes:
    """What a spreadsheet saves as "CSV UTF-8" in a Vietnamese locale: BOM, ; separators."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return ("\ufeff" + out.getvalue()).encode()


def test_export_then_import_is_exact_and_a_spreadsheet_file_is_read(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    assert run(capsys, "mappings", "edit", "--variation", NETFLIX, "--name", NAME)[0] == 0
    assert run(capsys, "mappings", "disable", "--choice", "2")[0] == 0
    assert run(capsys, "mappings", "disable", "--variation", SPOTIFY)[0] == 0
    assert run(capsys, "stock", "set", "--shop", SHOP, "--variation", SPOTIFY, "--no-sync")[0] == 0
    first = exported(capsys, tmp_path / "mappings.csv")
    rows = rows_of(first)
    assert list(rows[0]) == [
        "shop_id", "variation_id", "name", "mapping_enabled", "supplier", "plan_id", "units",
        "priority", "fields", "enabled", "stock_sync", "manual_stock", "max_cost",
    ]  # fmt: skip
    netflix = next(row for row in rows if row["variation_id"] == NETFLIX)
    assert netflix["name"] == NAME, "Vietnamese intact, in UTF-8"
    spotify = next(row for row in rows if row["variation_id"] == SPOTIFY)
    assert (spotify["mapping_enabled"], spotify["enabled"], spotify["stock_sync"]) == (
        "no",
        "no",
        "no",
    )
    chatgpt = next(row for row in rows if row["plan_id"] == "320")
    assert chatgpt["fields"] == '{"email": "{order.bill_email}"}'
    changes = len(trail(sandbox))

    code, out, err = run(capsys, "mappings", "import", str(tmp_path / "mappings.csv"))
    assert (code, err) == (0, "")
    assert out.strip().endswith("4 row(s): nothing to change")
    assert len(trail(sandbox)) == changes, "an exported file changes nothing"
    assert exported(capsys, tmp_path / "again.csv") == first, "export again: the same bytes"

    netflix["units"] = "2"  # 2 x 75,000 for a 100,000 item: a loss, taken on purpose
    (tmp_path / "excel.csv").write_bytes(as_spreadsheet(rows))
    code, out, err = run(capsys, "mappings", "import", str(tmp_path / "excel.csv"))
    assert (code, out) == (2, "")
    assert "line 2: this choice loses 50,000 on every sale" in err
    assert len(trail(sandbox)) == changes
    argv = ["mappings", "import", str(tmp_path / "excel.csv"), "--allow-loss"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert "1 edit (changed)" in out
    assert [c.units for c in choices(sandbox) if c.variation_id == NETFLIX] == [2]
    [change] = trail(sandbox)[changes:]
    assert (change.actor, change.action, change.source) == ("cli", "edit", "import excel.csv")
    assert rows_of(exported(capsys, tmp_path / "after.csv")) == rows


def test_a_file_with_bad_rows_changes_nothing_and_names_every_bad_line(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    before = exported(capsys, tmp_path / "before.csv")
    changes = len(trail(sandbox))
    text = before.decode()
    lines = text.splitlines()
    lines[1] = lines[1].replace(",1,0,", ",1,3,", 1)  # a good edit: priority 0 -> 3
    lines[4] = lines[4].replace(",77,1,0,", ",77,2,0,", 1)  # 5: Canva x 2, a loss
    typo = '"{""email"": ""{order.bill_emial}""}"'
    lines += [
        f"{SHOP},{UNMAPPED},,yes,caoshop-sim,331,1,0,,yes,yes,,",  # a good new choice (line 6)
        f"{SHOP},v-x,,yes,nobody,331,1,0,,yes,yes,,",  # 7: unknown supplier
        f"{SHOP},v-y,,yes,caoshop-sim,abc,1,0,,yes,yes,,",  # 8: plan not a number
        lines[2],  # 9: repeats line 3
        f'{SHOP},v-z,,yes,caoshop-sim,319,1,0,"{{not json",yes,yes,,',  # 10: bad fields
        f"{SHOP},v-w,,yes,caoshop-sim",  # 11: too few cells
        f"{SHOP},v-v,,maybe,caoshop-sim,319,1,0,,yes,yes,,",  # 12: not yes or no
        f"{SHOP},{UNMAPPED},,yes,caoshop-sim,9999,1,0,,yes,yes,,",  # 13: not in the catalogue
        f"{SHOP},var-canva-typo,,yes,caoshop-sim,319,1,0,,yes,yes,,",  # 14: not in Pancake
        f"{SHOP},{UNMAPPED},,yes,caoshop-sim,320,1,0,{typo},yes,yes,,",  # 15: misspelt
    ]
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    code, out, err = run(capsys, "mappings", "import", str(tmp_path / "bad.csv"))

    assert (code, out) == (2, "")
    errors = err.splitlines()
    assert [line.split(":")[0:2] for line in errors[:-1]] == [
        ["error", " line 5"],
        ["error", " line 7"],
        ["error", " line 8"],
        ["error", " line 9"],
        ["error", " line 10"],
        ["error", " line 11"],
        ["error", " line 12"],
        ["error", " line 13"],
        ["error", " line 14"],
        ["error", " line 15"],
    ]
    assert "this choice loses 140,000 on every sale" in errors[0]
    assert "unknown supplier nobody" in errors[1]
    assert "plan_id 'abc' is not a whole number" in errors[2]
    assert "repeats line 3" in errors[3]
    assert "fields is not valid JSON" in errors[4]
    assert "5 cells, the header has 13" in errors[5]
    assert "mapping_enabled must be yes or no" in errors[6]
    assert "plan 9999 is not in caoshop-sim's catalogue" in errors[7]
    assert f"Pancake has no variation var-canva-typo in shop {SHOP}" in errors[8]
    assert "{order.bill_emial}: an order has no field bill_emial" in errors[9]
    assert "did you mean {order.bill_email}?" in errors[9]
    assert errors[-1] == "error: 10 bad row(s) in the file: nothing was imported"
    assert exported(capsys, tmp_path / "after.csv") == before, "nothing was applied"
    assert len(trail(sandbox)) == changes


def test_dry_run_shows_the_changes_and_the_import_makes_them(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    rows = rows_of(exported(capsys, tmp_path / "before.csv"))
    kept = [row for row in rows if row["variation_id"] != SPOTIFY]  # its one choice: left out
    kept[0] = kept[0] | {"mapping_enabled": "no", "name": "Netflix"}
    kept.append(kept[0] | {"plan_id": "331", "priority": "1"})  # a fallback for Netflix
    (tmp_path / "new.csv").write_bytes(as_spreadsheet(kept))
    ids = [c.id for c in choices(sandbox)]
    changes = len(trail(sandbox))

    code, out, err = run(capsys, "mappings", "import", str(tmp_path / "new.csv"), "--dry-run")
    assert (code, err) == (0, "")
    assert [c.id for c in choices(sandbox)] == ids
    assert len(trail(sandbox)) == changes, "a dry run changes nothing"
    # A variation the file leaves out is kept: the file may be one part of the mappings.
    assert "4 row(s): 1 add, 1 disable (would change) (dry run: nothing was changed)" in out
    assert "caoshop-sim plan 331" in out
    code, out, _ = run(
        capsys, "mappings", "import", str(tmp_path / "new.csv"), "--dry-run", "--prune"
    )
    assert "1 add, 1 remove, 1 disable (would change) (dry run: nothing was changed)" in out
    assert [c.id for c in choices(sandbox)] == ids
    code, out, _ = run(capsys, "mappings", "import", str(tmp_path / "new.csv"), "--prune")
    assert code == 0
    assert "1 add, 1 remove, 1 disable (changed)" in out

    netflix = [c for c in choices(sandbox) if c.variation_id == NETFLIX]
    assert [(c.plan_id, c.priority) for c in netflix] == [(319, 0), (331, 1)]
    assert not any(c.variation_id == SPOTIFY for c in choices(sandbox))
    code, out, _ = run(capsys, "mappings", "show", "--variation", NETFLIX)
    assert (
        out.splitlines()[0]
        == f'shop {SHOP} variation {NETFLIX} "Netflix": DISABLED: none of its choices is used'
    )
    assert {c.source for c in trail(sandbox)[changes:]} == {"import new.csv"}
    code, out, _ = run(capsys, "mappings", "import", str(tmp_path / "new.csv"))
    assert "nothing to change" in out, "an import run twice changes nothing the second time"
