"""`bridge mappings check`: every mapping against the simulated Pancake shop and suppliers."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.supplier.models import Supplier
from bridge.web.server import free_port
from tests.cli.test_mappings import (  # noqa: F401  (pancake_url and sandbox are fixtures)
    SHOP,
    add,
    catalogue_reads,
    pancake_url,
)
from tests.cli.test_orders import run, run_json, sandbox  # noqa: F401  (sandbox is a fixture)
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, SHOPKEY, UNMAPPED

EMAIL = {"key": "email", "label": "Email", "type": "email", "required": True}


def profitable(world: Sandbox) -> None:
    """Every plan of the world cheaper than Pancake's 100,000 (times its units)."""
    caoshop, shopkey = world.suppliers[CAOSHOP], world.suppliers[SHOPKEY]
    caoshop.add_plan(331, name="Spotify Family 3 tháng", price=40_000, stock=50)
    caoshop.add_plan(320, name="ChatGPT Plus", price=90_000, is_instant=False, fields=[EMAIL])
    shopkey.add_plan(77, name="Canva Pro 1 năm", price=90_000, stock=7)


def test_a_sound_world_passes_with_one_read_of_each_catalogue(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    profitable(sandbox)
    pancake_reads = sandbox.pancake.count_calls("GET", "/products/variations")

    code, out, err = run(capsys, "mappings", "check")

    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    assert lines[-1] == "4 choice(s) checked: no problem found; 2 supplier calls, 1 Pancake calls"
    netflix = next(line for line in lines if NETFLIX in line).split()
    # price, supplier, plan, units, cost, margin, stock, problems
    assert netflix[-8:] == ["100,000", CAOSHOP, "319", "1", "75,000", "25,000", "50", "ok"]
    assert "manual" in next(line for line in lines if CHATGPT in line)
    assert catalogue_reads(sandbox, CAOSHOP) == catalogue_reads(sandbox, SHOPKEY) == 1
    assert sandbox.pancake.count_calls("GET", "/products/variations") == pancake_reads + 1


def test_negative_margins_vanished_plans_and_uncovered_fields_fail_the_check(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    profitable(sandbox)
    caoshop = sandbox.suppliers[CAOSHOP]
    caoshop.add_plan(331, name="Spotify Family 3 tháng", price=60_000)  # x2 units > 100,000
    username = {"key": "username", "label": "Tên đăng nhập", "required": True}
    caoshop.add_plan(
        320, name="ChatGPT Plus", price=90_000, is_instant=False, fields=[EMAIL, username]
    )
    assert add(capsys, UNMAPPED, 9999, "--offline")[0] == 0  # choice 5: not (or no longer) sold
    assert add(capsys, "v-gone", 319, "--offline")[0] == 0  # choice 6: not in Pancake
    sandbox.suppliers[SHOPKEY].add_plan(77, name="Canva Pro 1 năm", price=500_000)
    assert run(capsys, "mappings", "disable", "--choice", "4")[0] == 0  # bad, but not used

    code, out, err = run(capsys, "mappings", "check")

    assert code == 1
    assert err.strip() == "error: 4 choice(s) need attention"
    assert out.strip().splitlines()[-1] == (
        "6 choice(s) checked: 1 negative margin, 1 vanished plan, 1 uncovered fields, "
        "1 missing variation; 2 supplier calls, 1 Pancake calls"
    )
    report = run_json_failing(capsys)
    problems = {row["choice_id"]: row["problems"] for row in report["rows"]}
    assert problems == {
        1: [],
        2: ["negative_margin"],
        3: ["fields_uncovered"],
        4: ["negative_margin"],
        5: ["plan_vanished"],
        6: ["variation_missing"],
    }
    spotify = next(row for row in report["rows"] if row["choice_id"] == 2)
    assert (spotify["retail_price"], spotify["cost"], spotify["margin"]) == (
        100_000,
        120_000,
        -20_000,
    )
    assert [row["failing"] for row in report["rows"]] == [False, True, True, False, True, True]
    chatgpt = next(line for line in out.splitlines() if CHATGPT in line)
    assert "required fields not in the template: username" in chatgpt
    assert "(disabled: not failing)" in next(line for line in out.splitlines() if " 77 " in line)

    assert run(capsys, "mappings", "check", "--shop", SHOP, "--supplier", SHOPKEY)[0] == 0


def run_json_failing(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """``check --json``: the report on stdout even though the check fails (exit 1)."""
    import json

    code, out, _ = run(capsys, "mappings", "check", "--json")
    assert code == 1
    report: dict[str, Any] = json.loads(out)
    return report


def test_an_unreadable_supplier_fails_the_check(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    profitable(sandbox)
    with session_scope(sandbox.runtime.engine) as session:  # its server went away
        supplier = session.get(Supplier, SHOPKEY)
        assert supplier is not None
        supplier.base_url = f"http://127.0.0.1:{free_port()}/api/v1"

    code, out, err = run(capsys, "mappings", "check")

    assert code == 1
    assert "error: supplier shopkey-sim could not be read" in err
    assert "supplier shopkey-sim could not be read" in next(
        line for line in out.splitlines() if " 77 " in line
    )
    assert run_json(capsys, "mappings", "list", "--supplier", SHOPKEY)[0]["enabled"] is True


def test_a_variation_pancake_never_had_and_a_misspelt_placeholder_are_named(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mappings.models import MappingChoice

    profitable(sandbox)
    assert add(capsys, "var-canva-typo", 319, "--offline")[0] == 0  # choice 5, never in Pancake
    with session_scope(sandbox.runtime.engine) as session:  # saved before typing was checked
        chatgpt = session.get(MappingChoice, 3)
        assert chatgpt is not None
        chatgpt.fields_template = {"email": "{order.bill_emial}"}
        session.add(chatgpt)

    code, out, _ = run(capsys, "mappings", "check")

    assert code == 1
    typo = next(line for line in out.splitlines() if "var-canva-typo" in line)
    assert typo.endswith("Pancake has no such variation")
    assert "no longer" not in out
    placeholder = next(line for line in out.splitlines() if CHATGPT in line)
    assert placeholder.endswith(
        "email: {order.bill_emial}: an order has no field bill_emial "
        "(did you mean {order.bill_email}?)"
    )
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("5 choice(s) checked: 1 missing variation, 1 bad placeholder;")
    )
