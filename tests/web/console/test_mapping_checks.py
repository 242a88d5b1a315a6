"""The console's mapping editor refuses what `bridge mappings add` refuses, with the same
sentence: a variation Pancake does not have, a placeholder no order can fill, a choice that
loses money on every sale (unless "Save even at a loss" is ticked). Over HTTP, against the
simulators."""

from __future__ import annotations

import httpx
from sqlalchemy.engine import Engine

from bridge.dev.sandbox import Sandbox
from tests.e2e.world import CAOSHOP, NETFLIX, UNMAPPED
from tests.unchanged import every_row
from tests.web.console.conftest import csrf_token
from tests.web.console.test_mapping_pages import page_text, picker_plans, save_new

# What saving a choice writes: the choices, the variations' own rows, the audit trail. (The
# running workers write elsewhere meanwhile: catalogue readings, leases.)
MAPPING_TABLES = ("mappings", "mapping_variations", "mapping_audit")


def mapping_rows(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    return {name: rows for name, rows in every_row(engine).items() if name in MAPPING_TABLES}


def test_the_editor_refuses_the_mistakes_the_command_line_refuses(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    engine = console_world.runtime.engine
    typed = {
        "shop_id": console_world.shop_id,
        "variation_id": UNMAPPED,
        "supplier_name": CAOSHOP,
        "plan_id": "331",
        "units": "1",
        "priority": "0",
    }
    before = mapping_rows(engine)

    typo = save_new(logged_in, **(typed | {"variation_id": "var-canva-typo"}))
    assert typo.status_code == 422
    said = page_text(typo)
    assert "Pancake has no variation var-canva-typo in shop 4" in said
    assert "tick “Save without checking the catalogue”" in said  # the form's words
    assert 'value="var-canva-typo"' in typo.text, "what was typed is kept"

    misspelt = save_new(logged_in, **typed, **{"field.email": "{order.bill_emial}"})
    assert misspelt.status_code == 422
    assert "did you mean {order.bill_email}?" in page_text(misspelt)
    # Saving unchecked skips Pancake and the supplier, not the placeholders.
    unchecked = save_new(logged_in, **typed, unchecked="on", **{"field.email": "{oder.bill_email}"})
    assert unchecked.status_code == 422
    assert "{oder.bill_email} is not a placeholder" in page_text(unchecked)

    loss = save_new(logged_in, **(typed | {"units": "2"}))  # 2 x 60,000 for 100,000
    assert loss.status_code == 422
    assert "this choice loses 20,000 on every sale" in page_text(loss)
    assert "tick “Save even at a loss”" in page_text(loss)
    assert mapping_rows(engine) == before, "nothing saved"

    saved = save_new(logged_in, **(typed | {"units": "2"}), allow_loss="on")
    assert saved.status_code == 303, page_text(saved)
    assert mapping_rows(engine) != before


def test_an_edit_that_makes_a_choice_lose_money_is_refused(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    edit = "/admin/mappings/choice/1"  # Netflix: 75,000 at the supplier, 100,000 in Pancake
    assert 'value="319"' in logged_in.get(edit).text
    before = mapping_rows(console_world.runtime.engine)
    form = {"supplier_name": CAOSHOP, "plan_id": "319", "units": "2", "priority": "0"}
    picker_plans(logged_in, CAOSHOP)  # the catalogue the editor shows, read by the workers

    refused = logged_in.post(edit, data={"csrftoken": csrf_token(logged_in, edit), **form})

    assert refused.status_code == 422
    assert "this choice loses 50,000 on every sale" in page_text(refused)
    assert mapping_rows(console_world.runtime.engine) == before
    assert NETFLIX in refused.text  # the form comes back on its variation
