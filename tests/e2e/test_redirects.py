"""A supplier whose base URL redirects: nothing is bought, a person is alerted, the line moves on.

The redirect points at a live second shop (the "www" host) that sells the same plan: were the
redirect followed, it would buy there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bridge.db import session_scope
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.models import PurchaseAttempt
from bridge.states import AttemptOutcome, FulfilmentState
from bridge.web.server import ServerThread
from tests.e2e.world import CAOSHOP, NETFLIX, SHOPKEY, second_choice
from workers.alerts.models import Alert


@pytest.fixture
def www(sqlite_world: Sandbox) -> Iterator[tuple[SupplierSimulator, str]]:
    """caoshop's base URL redirects (307: a client that followed would POST again) to ``www``."""
    www = SupplierSimulator(name="www")
    www.add_plan(319, name="Netflix Premium 1 tháng", price=75_000, stock=50)
    with ServerThread(www.app) as server:
        caoshop = sqlite_world.suppliers[CAOSHOP]
        caoshop.redirect_to, caoshop.redirect_status = server.url + "/api/v1", 307
        yield www, server.url + "/api/v1"


def _attempts(sandbox: Sandbox) -> list[PurchaseAttempt]:
    with session_scope(sandbox.runtime.engine) as session:
        return list(session.exec(select(PurchaseAttempt)))


def _alerts(sandbox: Sandbox) -> set[tuple[str, str]]:
    with session_scope(sandbox.runtime.engine) as session:
        return {(a.kind, a.subject) for a in session.exec(select(Alert))}


def test_a_redirect_on_the_only_choice_buys_nothing_alerts_and_needs_attention(
    sqlite_world: Sandbox, www: tuple[SupplierSimulator, str]
) -> None:
    www_shop, www_url = www

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.NEEDS_ATTENTION
    assert (line.reason or "").startswith(f"REDIRECTED: supplier {CAOSHOP} plan 319")
    assert sqlite_world.suppliers[CAOSHOP].ledger == []
    assert www_shop.calls == [], "the redirect was not followed"
    [attempt] = _attempts(sqlite_world)
    assert (attempt.outcome, attempt.error_code) == (AttemptOutcome.REFUSED, "REDIRECTED")
    assert f"redirects to {www_url}: use that as the base URL" in (attempt.detail or "")
    # The parked line's own alert comes with the next sweep, whenever that is.
    assert _alerts(sqlite_world) - {("needs_attention", str(line.id))} == {("redirected", CAOSHOP)}


def test_a_redirect_on_the_first_choice_is_served_by_the_next(
    sqlite_world: Sandbox, www: tuple[SupplierSimulator, str]
) -> None:
    www_shop, _ = www
    second_choice(sqlite_world, NETFLIX, SHOPKEY, 77)

    order_id = sqlite_world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    [line] = sqlite_world.wait_settled(order_id, lines=1, final=True)

    assert line.state == FulfilmentState.ANNOTATED
    assert (line.supplier_name, line.plan_id) == (SHOPKEY, 77)
    assert sqlite_world.suppliers[CAOSHOP].ledger == []
    assert len(sqlite_world.suppliers[SHOPKEY].ledger) == 1
    assert www_shop.calls == []
    assert _alerts(sqlite_world) == {("redirected", CAOSHOP)}
