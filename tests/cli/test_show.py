"""`bridge fulfilments show` and `bridge orders show`: a short summary a person reads, and the
whole record with `--json`, over orders a running bridge really fulfilled."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bridge.cli import main
from bridge.cli.invocation import program
from bridge.cli.output import local_time
from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.models import Order
from bridge.settings import get_settings
from bridge.states import FulfilmentState, OrderState
from tests.conftest import fast_settings
from tests.e2e.world import CAOSHOP, NETFLIX, UNMAPPED, all_credentials, build_world

CUSTOMER = "Nguyễn Thị Hoa"
# Column and field names of the tables: a person never needs to read them.
RAW_NAMES = (
    "order_pk",
    "lease_until",
    "generation",
    "supplier_quantity",
    "trans_id",
    "needs_attention",
    "annotated",
    "credentials",
    "None",
)
# `2026-12-07 16:02 +07, 3 min ago`: the shop's local time to the minute, with its zone.
LOCAL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \+07, (just now|\d+ min ago)")


@dataclass
class Shown:
    world: Sandbox
    order_id: str  # Pancake's id of order_pk
    order_pk: int  # an order with a delivered line and an unmapped one
    delivered: int
    unmapped: int
    failed_pk: int  # an order Pancake refused to show


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shown]:
    """One running bridge on SQLite (the backend changes nothing a summary shows), the command
    line opening its database, and the times in the shop's zone."""
    key = secrets.token_urlsafe(32)
    url = f"sqlite:///{tmp_path_factory.mktemp('show') / 'bridge.db'}"
    world = build_world(Sandbox(fast_settings(url), secret_key=key)).start()
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BRIDGE_DATABASE_URL", url)
        env.setenv("BRIDGE_SECRET_KEY", key)
        env.delenv("BRIDGE_REDIS_URL", raising=False)
        env.setenv("TZ", "Asia/Ho_Chi_Minh")
        time.tzset()
        get_settings.cache_clear()
        try:
            order_id = world.place_order(
                [{"variation_id": NETFLIX, "quantity": 1}, {"variation_id": UNMAPPED}],
                bill_full_name=CUSTOMER,
                bill_email="hoa@example.com",
            )
            # Deadlines, not waits: generous for a machine shared by many test runs.
            delivered, unmapped = world.wait_settled(order_id, lines=2, timeout=120)
            assert (delivered.state, unmapped.state) == (
                FulfilmentState.ANNOTATED,
                FulfilmentState.NEEDS_ATTENTION,
            )
            refused = world.pancake.create_order(world.shop_id, items=[], status=0)
            # Refused for good: a one-time refusal lets the catch-up read it again later,
            # which the module's later tests would see as a state changing under them.
            world.pancake.inject(404, 1_000, path_contains=f"/orders/{refused}")
            world.pancake.set_status(world.shop_id, refused, 1)
            world.wait_for(lambda: order_state(world, refused) == OrderState.FAILED, timeout=120)
            assert delivered.id
            assert unmapped.id
            yield Shown(
                world,
                order_id,
                delivered.order_pk,
                delivered.id,
                unmapped.id,
                order_pk(world, refused),
            )
        finally:
            world.stop()
            get_settings.cache_clear()
    time.tzset()


def order_row(world: Sandbox, order_id: str) -> Order | None:
    with session_scope(world.runtime.engine) as session:
        return session.exec(select(Order).where(Order.order_id == order_id)).first()


def order_state(world: Sandbox, order_id: str) -> str | None:
    row = order_row(world, order_id)
    return row.state if row else None


def order_pk(world: Sandbox, order_id: str) -> int:
    row = order_row(world, order_id)
    assert row is not None
    assert row.id is not None
    return row.id


def show(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


def fields(out: str) -> dict[str, str]:
    """The summary's `Label: value` lines."""
    found = re.findall(r"^  ([A-Z][A-Za-z ]+): +(.*)$", out, re.MULTILINE)
    return dict(found)


def assert_for_people(out: str, world: Sandbox) -> None:
    for raw in RAW_NAMES:
        assert not re.search(rf"\b{raw}\b", out), f"{raw!r} shown:\n{out}"
    for code in all_credentials(world):
        assert code not in out, "delivered codes are never shown"


def test_a_delivered_line_says_what_was_bought_for_whom_and_that_nothing_is_left_to_do(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(capsys, "fulfilments", "show", str(shown.delivered))
    assert_for_people(out, shown.world)
    [purchase] = shown.world.suppliers[CAOSHOP].ledger
    assert out.startswith(f"Line {shown.delivered}: Netflix")
    got = fields(out)
    assert got["Customer"] == CUSTOMER
    assert got["Supplier"] == f"{CAOSHOP}, plan 319, 1 unit"
    assert got["Supplier order"] == purchase.trans_id
    assert got["State"] == "Done: codes in the note"
    assert got["Codes"] == "1 received, 1 in the note"
    assert LOCAL_TIME.fullmatch(got["Received"]), got["Received"]
    assert got["Next"].startswith("nothing.")
    assert got["Next"].endswith(f"{program()} fulfilments resend {shown.delivered}")
    assert f"{program()} orders show {shown.order_pk}" in got["Order"]
    header = out.split("Purchase attempts:\n")[1].splitlines()[0]
    assert re.split(r" {2,}", header)[:3] == ["Attempt", "Supplier", "Plan"]
    assert "Bought" in out


def test_a_line_that_needs_a_person_says_why_and_the_command_to_run(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(capsys, "fulfilments", "show", str(shown.unmapped))
    assert_for_people(out, shown.world)
    got = fields(out)
    assert got["State"] == "Needs a person"
    assert "unmapped" in got["Why"]
    assert got["Next"].endswith(f"{program()} fulfilments retry {shown.unmapped}")
    assert "Supplier" not in got, "no supplier was chosen: the line is left out, not `None`"
    assert got["Codes"] == "none yet"
    assert out.rstrip().endswith("Purchase attempts: none")


def test_fulfilments_show_json_is_the_whole_record(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    record: dict[str, Any] = json.loads(
        show(capsys, "fulfilments", "show", str(shown.delivered), "--json")
    )
    assert (record["id"], record["state"]) == (shown.delivered, FulfilmentState.ANNOTATED)
    assert {"order_pk", "lease_until", "supplier_quantity", "trans_id"} <= set(record)
    assert record["customer"] == CUSTOMER
    assert record["credentials"] == "1 stored (encrypted)"
    assert not {"credentials_enc", "fields_enc"} & set(record)
    [attempt] = record["attempts"]
    assert attempt["outcome"] == "bought"
    text = json.dumps(record, ensure_ascii=False)
    assert not any(code in text for code in all_credentials(shown.world))


def test_an_order_says_whose_it_is_its_lines_and_which_needs_a_person(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(capsys, "orders", "show", str(shown.order_pk))
    assert_for_people(out, shown.world)
    assert out.startswith(f"Order {shown.order_id} in shop {shown.world.shop_id} ")
    got = fields(out)
    assert got["Customer"] == CUSTOMER
    assert "hoa@example.com" not in out, "only the name of the customer's data"
    assert got["State"] == "Read from Pancake"
    assert got["Lines"] == "2: 1 Done: codes in the note, 1 Needs a person"
    assert LOCAL_TIME.fullmatch(got["Placed"]), got["Placed"]
    assert got["Next"] == (
        f"line(s) {shown.unmapped} need a person: {program()} fulfilments show {shown.unmapped}"
    )
    table = out.split("Lines:\n")[1]
    assert re.split(r" {2,}", table.splitlines()[0])[:2] == ["Line", "Item"]
    assert "Needs a person" in table


def test_a_failed_order_says_why_and_the_retry(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    out = show(capsys, "orders", "show", str(shown.failed_pk))
    assert_for_people(out, shown.world)
    got = fields(out)
    assert got["State"] == "Failed"
    assert "Customer" not in got, "Pancake never showed the order: no name to show"
    assert "Lines:\n" not in out
    assert "404" in got["Why"]
    assert (
        got["Next"]
        == f"fix the cause in Pancake, then run: {program()} orders retry {shown.failed_pk}"
    )
    record = json.loads(show(capsys, "orders", "show", str(shown.failed_pk), "--json"))
    assert (record["state"], record["failure_kind"]) == ("failed", "pancake_refused")
    assert {"generation", "lease_until", "lines"} <= set(record)
    assert "snapshot_enc" not in record


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (None, "not shown: BRIDGE_SECRET_KEY opens it"),
        ("another-key-" + "x1y2z3" * 6, "not shown: BRIDGE_SECRET_KEY does not open it"),
    ],
)
def test_without_the_key_the_customer_is_not_shown_and_the_rest_is(
    shown: Shown,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: str | None,
    says: str,
) -> None:
    if key is None:
        monkeypatch.delenv("BRIDGE_SECRET_KEY")
    else:
        monkeypatch.setenv("BRIDGE_SECRET_KEY", key)
    get_settings.cache_clear()
    try:
        got = fields(show(capsys, "orders", "show", str(shown.order_pk)))
    finally:
        get_settings.cache_clear()
    assert got["Customer"] == says
    assert got["State"] == "Read from Pancake"


def test_a_missing_line_or_order_is_one_line_and_exit_1(
    shown: Shown, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["fulfilments", "show", "99999"], ["orders", "show", "99999"]):
        assert main(argv) == 1
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith("error: ")
        assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("later", "ago"),
    [
        (timedelta(seconds=-5), "just now"),  # the database's clock a little ahead
        (timedelta(minutes=59), "59 min ago"),
        (timedelta(hours=47), "47 h ago"),
        (timedelta(days=3), "3 days ago"),
    ],
)
def test_times_are_local_to_the_minute_with_the_zone_and_how_long_ago(
    monkeypatch: pytest.MonkeyPatch, later: timedelta, ago: str
) -> None:
    monkeypatch.setenv("TZ", "Asia/Ho_Chi_Minh")
    time.tzset()
    try:
        moment = datetime(2026, 12, 7, 9, 2, 22, 817162, tzinfo=UTC)
        assert local_time(moment, now=moment + later) == f"2026-12-07 16:02 +07, {ago}"
    finally:
        monkeypatch.undo()
        time.tzset()
