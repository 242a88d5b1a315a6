"""The console's mapping pages over HTTP: the pickers' data (Pancake's, live; the supplier's, as
the workers last read it: the first view asks them), the editor (saved, and refused with nothing
lost), the mapping's page with its live margin and audit trail, enable, disable,
remove, the list's search and paging, and the unmapped variations with their "map" link."""

from __future__ import annotations

import re
import time
from html import unescape
from typing import Any

import httpx
from sqlmodel import Session

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from bridge.supplier.models import Supplier
from mappings import audit, repository
from mappings.audit import SYSTEM
from mappings.commands import add_choice
from tests.e2e.world import CAOSHOP, NETFLIX, UNMAPPED, purchases_per_plan
from tests.web.console.conftest import USER, csrf_token

NEW = "/admin/mappings/new"


def picker_plans(client: httpx.Client, supplier: str) -> dict[str, Any]:
    """The plans picker's answer once the workers have read the supplier's catalogue (the
    first view asks them to, as the editor's picker does)."""
    deadline = time.monotonic() + 60  # catalogue pages are paced (background reads)
    while True:
        body: dict[str, Any] = client.get(
            "/admin/mappings/catalogue/plans", params={"supplier_name": supplier}
        ).json()
        if not body["pending"] or time.monotonic() > deadline:
            return body
        time.sleep(0.1)


def save_new(client: httpx.Client, **values: str) -> httpx.Response:
    """Save the editor's form, as an operator does once its picker has shown the catalogue."""
    if values.get("supplier_name") and not values.get("unchecked"):
        picker_plans(client, values["supplier_name"])
    return client.post(NEW, data={"csrftoken": csrf_token(client, NEW), **values})


def page_text(response: httpx.Response) -> str:
    """The page's visible text, tags dropped, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.text)).split())


def test_the_pickers_list_what_pancake_and_the_supplier_list_now(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    shop = console_world.shop_id
    variations = logged_in.get(f"/admin/mappings/catalogue/variations?shop_id={shop}").json()
    assert variations["error"] is None
    listed = {row["id"]: row for row in variations["variations"]}
    assert listed[UNMAPPED]["label"] == "Sản phẩm chưa map"
    assert listed[UNMAPPED]["retail_price"] == 100_000

    plans = picker_plans(logged_in, CAOSHOP)
    assert plans["error"] is None
    assert plans["age"] is not None  # shown with how long ago the workers read it
    by_id = {row["plan_id"]: row for row in plans["plans"]}
    assert by_id[319]["name"] == "Netflix Premium 1 tháng"
    assert by_id[319]["final_price"] == 75_000
    assert by_id[319]["stock"] == 50
    assert by_id[320]["required"] == [{"key": "email", "label": "Email"}]
    assert by_id[320]["stock"] is None  # a manual plan has no stock count

    unknown = picker_plans(logged_in, "nobody")
    assert unknown["plans"] == []
    assert "nobody" in unknown["error"]


def test_a_mapping_saved_in_the_editor_buys_the_next_order(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    saved = save_new(
        logged_in,
        shop_id=console_world.shop_id,
        variation_id=UNMAPPED,
        name="Netflix qua console",
        supplier_name=CAOSHOP,
        plan_id="319",
        units="1",
        priority="0",
    )
    assert saved.status_code == 303, page_text(saved)
    page = logged_in.get(saved.headers["location"])
    text = page_text(page)
    assert "Netflix qua console" in text
    assert "Netflix Premium 1 tháng" in text  # the plan as the catalogue names it
    assert "25,000" in text  # margin: Pancake's 100,000 − 75,000
    trail = page_text(page).split("Audit trail", 1)[1]
    assert USER in trail
    assert "console" in trail

    order = console_world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (line,) = console_world.wait_settled(order, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    assert purchases_per_plan(console_world)[319] == 1
    (purchase,) = console_world.suppliers[CAOSHOP].ledger
    assert all(item in console_world.note(order) for item in purchase.items)


def test_a_refused_form_says_why_keeps_what_was_typed_and_saves_nothing(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    typed = {
        "shop_id": console_world.shop_id,
        "variation_id": UNMAPPED,
        "name": "Tên tiếng Việt giữ nguyên",
        "supplier_name": CAOSHOP,
        "units": "1",
        "priority": "0",
    }
    vanished = save_new(logged_in, **typed, plan_id="9999")
    assert vanished.status_code == 422
    assert "plan 9999 is not in caoshop-sim's catalogue" in page_text(vanished)
    assert "--offline" not in vanished.text  # the form's words, not the command line's
    assert 'value="Tên tiếng Việt giữ nguyên"' in vanished.text
    assert f'value="{UNMAPPED}"' in vanished.text

    uncovered = save_new(logged_in, **typed, plan_id="320")
    assert uncovered.status_code == 422
    assert "requires the fields email (Email)" in page_text(uncovered)

    words = save_new(logged_in, **(typed | {"units": "hai"}), plan_id="319")
    assert words.status_code == 422
    assert "Units must be a whole number" in page_text(words)

    with Session(console_world.runtime.engine) as session:
        assert repository.list_choices(session, variation_id=UNMAPPED) == []

    email = {"field.email": "{order.bill_email}"}
    loss = save_new(logged_in, **typed, plan_id="320", **email)
    assert loss.status_code == 422
    assert "this choice loses 350,000 on every sale" in page_text(loss)
    covered = save_new(logged_in, **typed, plan_id="320", **email, allow_loss="on")
    assert covered.status_code == 303, page_text(covered)
    with Session(console_world.runtime.engine) as session:
        (view,) = repository.list_choices(session, variation_id=UNMAPPED)
    assert view.choice.fields_template == {"email": "{order.bill_email}"}
    # 100,000 in Pancake against 450,000 at the supplier: flagged on the mapping's page.
    page = logged_in.get(covered.headers["location"])
    assert "-350,000" in page_text(page)
    assert "text-danger" in page.text


def test_a_supplier_that_cannot_be_read_refuses_the_check_and_unchecked_saves(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    with session_scope(console_world.runtime.engine) as session:
        supplier = session.get(Supplier, CAOSHOP)
        assert supplier is not None
        supplier.base_url = "http://127.0.0.1:9"  # nothing listens: the supplier is down
    typed = {
        "shop_id": console_world.shop_id,
        "variation_id": UNMAPPED,
        "supplier_name": CAOSHOP,
        "plan_id": "331",
    }
    checked = save_new(logged_in, **typed)
    assert checked.status_code == 422
    assert "cannot read caoshop-sim's catalogue to check plan 331" in page_text(checked)
    assert "Save without checking the catalogue" in page_text(checked)
    unchecked = save_new(logged_in, **typed, unchecked="on")
    assert unchecked.status_code == 303, page_text(unchecked)
    with Session(console_world.runtime.engine) as session:
        (view,) = repository.list_choices(session, variation_id=UNMAPPED)
    assert view.choice.plan_id == 331


def test_edit_disable_enable_and_remove_leave_a_trail(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    shop = console_world.shop_id
    with Session(console_world.runtime.engine) as session:
        (view,) = repository.list_choices(session, variation_id=NETFLIX)
    choice_id = view.choice.id
    assert choice_id is not None
    edit = f"/admin/mappings/choice/{choice_id}"
    form = logged_in.get(edit)
    assert 'value="319"' in form.text
    token = csrf_token(logged_in, edit)
    picker_plans(logged_in, CAOSHOP)  # new units are checked against the catalogue, as shown
    edited = logged_in.post(
        edit,
        data={
            "csrftoken": token,
            "supplier_name": CAOSHOP,
            "plan_id": "319",
            "units": "2",
            "priority": "0",
            "stock_sync": "on",
            "allow_loss": "on",  # 2 x 75,000 for a 100,000 item
        },
    )
    assert edited.status_code == 303, page_text(edited)
    mapping_page = f"/admin/mappings/variation/{shop}/{NETFLIX}"
    for action in ("disable", "enable"):
        answer = logged_in.post(
            f"{mapping_page}/{action}", data={"csrftoken": csrf_token(logged_in, mapping_page)}
        )
        assert answer.status_code == 303
    with Session(console_world.runtime.engine) as session:
        trail = audit.history(session, variation_id=NETFLIX)
        assert repository.get_choice(session, choice_id).units == 2
    assert [(c.action, c.actor, c.source) for c in trail[:3]] == [
        ("enable", USER, "console"),
        ("disable", USER, "console"),
        ("edit", USER, "console"),
    ]
    assert audit.differences(trail[2])[0].field == "units"

    removed = logged_in.post(
        f"/admin/mappings/choice/{choice_id}/remove",
        data={"csrftoken": csrf_token(logged_in, mapping_page)},
    )
    assert removed.status_code == 303
    assert removed.headers["location"].endswith("/admin/mappings")  # the last choice went
    with Session(console_world.runtime.engine) as session:
        assert repository.list_choices(session, variation_id=NETFLIX) == []
    assert logged_in.get(mapping_page).status_code == 404


def test_the_list_searches_and_pages(console_world: Sandbox, logged_in: httpx.Client) -> None:
    with session_scope(console_world.runtime.engine) as session:
        for n in range(30):
            add_choice(
                session,
                actor=SYSTEM,
                shop_id=console_world.shop_id,
                variation_id=f"bulk-{n:02d}",
                supplier_name=CAOSHOP,
                plan_id=331,
            )
    first = page_text(logged_in.get("/admin/mappings"))
    assert "34 mappings" in first
    assert "1 / 2" in first
    second = logged_in.get("/admin/mappings?page=2")
    assert second.text.count('data-variation="') == 34 - 25
    found = logged_in.get("/admin/mappings", params={"q": "NETFLIX premium"})
    assert found.text.count('data-variation="') == 1
    assert NETFLIX in found.text
    assert logged_in.get("/admin/mappings?page=abc").status_code == 200


def test_unmapped_variations_link_to_the_editor_prefilled_and_waiting_lines_are_bought(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    order = console_world.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (line,) = console_world.wait_settled(order, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    listing = logged_in.get("/admin/unmapped")
    assert "Sản phẩm chưa map" in page_text(listing)
    link = re.search(r'href="([^"]+)" data-action="map"', listing.text)
    assert link is not None
    editor = logged_in.get(unescape(link.group(1)))
    assert f'value="{UNMAPPED}"' in editor.text
    assert 'value="Sản phẩm chưa map"' in editor.text

    saved = save_new(
        logged_in,
        shop_id=console_world.shop_id,
        variation_id=UNMAPPED,
        supplier_name=CAOSHOP,
        plan_id="319",
    )
    mapping_page = saved.headers["location"]
    assert "1 line of this variation waits" in page_text(logged_in.get(mapping_page))
    assert "Sản phẩm chưa map" not in page_text(logged_in.get("/admin/unmapped"))
    retried = logged_in.post(
        mapping_page + "/retry", data={"csrftoken": csrf_token(logged_in, mapping_page)}
    )
    assert retried.status_code == 303
    (done,) = console_world.wait_settled(order, lines=1, final=True)
    assert done.state == FulfilmentState.ANNOTATED, done.reason
    assert purchases_per_plan(console_world)[319] == 1


def test_the_pickers_never_call_the_supplier_and_the_workers_read_each_catalogue_once(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    """Moving between pickers costs the supplier's budget one catalogue read by the workers,
    not one a click: the first view asks them, later views show what they stored."""
    caoshop = console_world.suppliers[CAOSHOP]

    def catalogue_reads() -> int:
        return sum(1 for _, path in caoshop.calls if path.endswith("/products/list"))

    before = catalogue_reads()
    first = logged_in.get("/admin/mappings/catalogue/plans", params={"supplier_name": CAOSHOP})
    assert first.json()["pending"] is True
    assert first.json()["plans"] == []
    assert "not read yet" in first.json()["error"]
    assert picker_plans(logged_in, CAOSHOP)["plans"]
    assert catalogue_reads() - before == 1
    for _ in range(3):
        answer = logged_in.get(f"/admin/mappings/catalogue/plans?supplier_name={CAOSHOP}")
        assert answer.json()["plans"]
        assert answer.json()["pending"] is False
        logged_in.get(NEW)
    assert catalogue_reads() - before == 1
