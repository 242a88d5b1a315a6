"""`bridge mappings …` as an operator uses it, against the simulated Pancake shop and suppliers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.settings import get_settings
from bridge.states import FulfilmentState
from mappings.models import MappingChange, MappingChoice
from tests.cli.test_orders import reported_and_read, run, run_json, sandbox  # noqa: F401
from tests.e2e.world import CAOSHOP, CHATGPT, NETFLIX, SHOPKEY, SPOTIFY, UNMAPPED
from tests.unchanged import every_row

SHOP = "4"


@pytest.fixture(autouse=True)
def pancake_url(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:  # noqa: F811
    """The orders tests' world (four mappings, choices 1-4), whose simulated Pancake the
    command line reaches too."""
    monkeypatch.setenv("BRIDGE_PANCAKE_BASE_URL", sandbox.runtime.settings.pancake_base_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def choices(world: Sandbox) -> list[MappingChoice]:
    with session_scope(world.runtime.engine) as session:
        rows = list(session.exec(select(MappingChoice).order_by(MappingChoice.id)))  # type: ignore[arg-type]
        session.expunge_all()
    return rows


def trail(world: Sandbox) -> list[MappingChange]:
    with session_scope(world.runtime.engine) as session:
        rows = list(session.exec(select(MappingChange).order_by(MappingChange.id)))  # type: ignore[arg-type]
        session.expunge_all()
    return rows


def catalogue_reads(world: Sandbox, supplier: str) -> int:
    return sum(1 for _, path in world.suppliers[supplier].calls if path.endswith("/products/list"))


def add(
    capsys: pytest.CaptureFixture[str], variation: str, plan: int, *extra: str
) -> tuple[int, str, str]:
    argv = ["mappings", "add", "--shop", SHOP, "--variation", variation]
    return run(capsys, *argv, "--supplier", CAOSHOP, "--plan", str(plan), *extra)


def test_add_checks_the_plan_against_the_catalogue_unless_offline(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = choices(sandbox)
    everything = every_row(sandbox.runtime.engine)

    code, out, err = add(capsys, UNMAPPED, 9999)
    assert (code, out) == (2, "")
    assert "plan 9999 is not in caoshop-sim's catalogue" in err
    assert "--offline" in err
    code, _, err = add(capsys, UNMAPPED, 320)  # ChatGPT: requires the customer's email
    assert code == 2
    assert "requires the fields email (Email)" in err
    email = '{"email": "{order.bill_email}"}'
    code, _, err = add(capsys, UNMAPPED, 320, "--fields", email)  # 450,000 for a 100,000 item
    assert code == 2
    assert "this choice loses 350,000 on every sale" in err
    code, _, err = add(capsys, "var-canva-typo", 319)
    assert code == 2
    assert err.startswith("error: Pancake has no variation var-canva-typo in shop 4")
    typo = '{"email": "{order.bill_emial}"}'
    code, _, err = add(capsys, UNMAPPED, 320, "--fields", typo, "--offline")  # read nothing
    assert code == 2
    assert "email: {order.bill_emial}: an order has no field bill_emial" in err
    assert "(did you mean {order.bill_email}?)" in err
    assert choices(sandbox) == before, "nothing is saved"
    assert every_row(sandbox.runtime.engine) == everything
    assert catalogue_reads(sandbox, CAOSHOP) == 4, "each add read the catalogue"

    code, out, err = add(capsys, UNMAPPED, 320, "--fields", email, "--allow-loss")
    assert (code, err) == (0, "")
    assert out.strip() == (
        f"choice 5 added: shop 4 variation {UNMAPPED} -> caoshop-sim plan 320 "
        "(checked: ChatGPT Plus 1 tháng, 450,000)"
    )
    code, out, _ = add(capsys, "v-other", 9999, "--offline")
    assert (code, out.strip()) == (
        0,
        "choice 6 added: shop 4 variation v-other -> caoshop-sim plan 9999 "
        "(not checked: --offline)",
    )
    assert catalogue_reads(sandbox, CAOSHOP) == 5, "--offline reads nothing"
    assert [(c.variation_id, c.plan_id) for c in choices(sandbox)[4:]] == [
        (UNMAPPED, 320),
        ("v-other", 9999),
    ]


def test_add_never_changes_an_existing_choice(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Choice 3 maps ChatGPT to plan 320 with the e-mail template; re-running the add without
    # --fields used to drop it.
    code, out, err = add(capsys, CHATGPT, 320)
    assert (code, out) == (2, "")
    assert "already has choice 3" in err
    assert "bridge mappings edit --choice 3" in err
    assert choices(sandbox)[2].fields_template == {"email": "{order.bill_email}"}

    code, out, _ = add(capsys, CHATGPT, 320, "--fields", '{"email": "{order.bill_email}"}')
    assert (code, out.strip()) == (0, "choice 3 is already saved as given: nothing changed")
    # Another plan for the same variation is a new choice, a fallback.
    code, out, _ = add(capsys, CHATGPT, 319, "--priority", "1", "--offline")
    assert code == 0
    assert out.startswith("choice 5 added")
    assert [c.action for c in trail(sandbox) if c.actor == "cli"] == ["add"]


def test_list_filters_show_and_json(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "mappings", "list", "--supplier", SHOPKEY)
    [header, row] = out.strip().splitlines()
    assert header.split()[:5] == ["id", "shop", "variation", "supplier", "plan"]
    assert row.split()[:5] == ["4", SHOP, "c4a7a000-0000-4000-8000-0000000ca17a", SHOPKEY, "77"]
    assert run(capsys, "mappings", "disable", "--choice", "2")[0] == 0
    assert run(capsys, "mappings", "disable", "--variation", NETFLIX)[0] == 0

    disabled = run_json(capsys, "mappings", "list", "--disabled")
    assert [(r["id"], r["enabled"], r["mapping_enabled"]) for r in disabled] == [
        (1, True, False),
        (2, False, True),
    ]
    code, out, _ = run(capsys, "mappings", "list", "--disabled")
    assert [line.split()[8:10] for line in out.strip().splitlines()[1:]] == [
        ["no", "(mapping)"],
        ["no", "on"],
    ]
    assert run_json(capsys, "mappings", "list", "--shop", "nope") == []

    shown = run_json(capsys, "mappings", "show", "--variation", NETFLIX)
    assert (shown["shop_id"], shown["enabled"]) == (SHOP, False)
    assert [c["plan_id"] for c in shown["choices"]] == [319]
    assert [(h["actor"], h["action"]) for h in shown["history"]][0] == ("cli", "disable")
    code, out, _ = run(capsys, "mappings", "show", "--shop", SHOP, "--variation", NETFLIX)
    assert "DISABLED" in out.splitlines()[0]
    assert "recent changes:" in out
    one = run_json(capsys, "mappings", "show", "--choice", "2")
    assert (one["plan_id"], one["enabled"], one["history"][0]["action"]) == (331, False, "disable")

    code, _, err = run(capsys, "mappings", "show", "--variation", "nope")
    assert (code, err) == (1, "error: variation nope has no mapping\n")
    code, _, err = run(capsys, "mappings", "show", "--choice", "99")
    assert code == 1
    assert "no choice 99" in err
    code, _, err = run(capsys, "mappings", "show")
    assert code == 2
    assert "--variation" in err


def test_edit_enable_disable_remove_and_the_audit_trail(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "mappings", "edit", "--choice", "2", "--units", "3")
    assert code == 2
    assert "this choice loses 80,000 on every sale" in err  # 3 x 60,000 for 100,000
    argv = ["mappings", "edit", "--choice", "2", "--units", "3", "--allow-loss"]
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    assert out.strip() == (
        "choice 2 changed: units: 2 -> 3 (checked: Spotify Family 3 tháng, 60,000)"
    )
    code, _, err = run(capsys, "mappings", "edit", "--choice", "2", "--plan", "9999")
    assert code == 2
    assert "plan 9999 is not in caoshop-sim's catalogue" in err
    argv = ["mappings", "edit", "--choice", "3", "--fields", '{"email": "{order.bill_emial}"}']
    code, _, err = run(capsys, *argv, "--offline")
    assert code == 2
    assert "did you mean {order.bill_email}?" in err
    code, _, err = run(capsys, "mappings", "edit", "--choice", "3", "--no-fields")
    assert code == 2
    assert "requires the fields email" in err, "the template must keep covering the plan"
    code, out, _ = run(capsys, "mappings", "edit", "--choice", "2", "--units", "3")
    assert (code, out.strip()) == (0, "choice 2: unchanged (it has these values already)")
    # One choice: the mapping's options reach it; a Vietnamese name is kept as typed.
    code, out, _ = run(
        capsys,
        "mappings",
        "edit",
        "--variation",
        NETFLIX,
        "--name",
        "Netflix Premium 1 tháng",
        "--priority",
        "5",
    )
    assert code == 0
    assert out.splitlines() == [
        f"mapping {SHOP}/{NETFLIX}: name Netflix Premium 1 tháng",
        "choice 1 changed: priority: 0 -> 5",
    ]
    assert run(capsys, "mappings", "add", "--shop", SHOP, "--variation", NETFLIX)[0] == 2

    assert run(capsys, "mappings", "disable", "--choice", "2")[1].strip() == (
        f"choice 2 (shop {SHOP} variation {SPOTIFY}): disabled"
    )
    assert (
        run(capsys, "mappings", "disable", "--choice", "2")[1].strip().endswith("already disabled")
    )
    assert run(capsys, "mappings", "enable", "--choice", "2")[0] == 0
    code, out, _ = run(capsys, "mappings", "remove", "--choice", "4")
    assert (code, out.strip()) == (
        0,
        f"choice 4 removed (shopkey-sim plan 77 of shop {SHOP} variation "
        "c4a7a000-0000-4000-8000-0000000ca17a)",
    )
    code, out, _ = run(capsys, "mappings", "remove", "--variation", SPOTIFY)
    assert code == 0
    assert "removed, with 1 choice(s): 2 (caoshop-sim plan 331)" in out
    assert [c.id for c in choices(sandbox)] == [1, 3]

    changes = [c for c in trail(sandbox) if c.actor == "cli"]
    assert [(c.action, c.choice_id) for c in changes] == [
        ("edit", 2),
        ("edit", None),
        ("edit", 1),
        ("disable", 2),
        ("enable", 2),
        ("remove", 4),
        ("remove", None),
        ("remove", 2),
        ("remove", None),
    ]
    assert (changes[0].before or {})["units"] == 2
    assert (changes[0].after or {})["units"] == 3
    assert (changes[5].before or {})["plan_id"] == 77, "a removal keeps what was removed"
    history = run_json(capsys, "mappings", "history", "--choice", "2")
    assert [(h["actor"], h["action"]) for h in history] == [
        ("cli", "remove"),
        ("cli", "enable"),
        ("cli", "disable"),
        ("cli", "edit"),
        ("system", "add"),  # the world's own set-up
    ]
    code, out, _ = run(capsys, "mappings", "history", "--variation", NETFLIX)
    assert "name: - -> Netflix Premium 1 tháng" in out
    assert "priority: 0 -> 5" in out


def test_unmapped_lists_what_orders_asked_for(
    sandbox: Sandbox,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    for _ in range(2):
        order_id = sandbox.place_order(
            [{"variation_id": UNMAPPED, "quantity": 1}, {"variation_id": NETFLIX, "quantity": 1}]
        )
        reported_and_read(sandbox, order_id)
    waiting = [f for f in sandbox.fulfilments() if f.variation_id == UNMAPPED]
    assert {f.state for f in waiting} == {FulfilmentState.NEEDS_ATTENTION}

    [row] = run_json(capsys, "mappings", "unmapped")
    assert (row["shop_id"], row["variation_id"], row["item_name"]) == (
        SHOP,
        UNMAPPED,
        "Sản phẩm chưa map",
    )
    assert (row["orders"], row["lines"], row["waiting"]) == (2, 2, 2)
    assert row["last_seen"] is not None
    code, out, _ = run(capsys, "mappings", "list", "--unmapped")
    assert out.splitlines()[0].split() == [
        "shop", "variation", "item", "orders", "lines", "waiting", "last", "seen",
    ]  # fmt: skip
    assert UNMAPPED in out
    assert run(capsys, "mappings", "list", "--unmapped", "--disabled")[0] == 2

    assert add(capsys, UNMAPPED, 319)[0] == 0
    assert run_json(capsys, "mappings", "unmapped") == []
