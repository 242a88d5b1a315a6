"""A supplier's balance, learned in several places (``workers.suppliers.balance``): an older
reading never overrides a newer one, whatever order the steps record them in."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.db import session_scope
from bridge.supplier.client import SupplierClient
from tests.e2e.world import CAOSHOP, NETFLIX
from tests.workers.fulfilment.conftest import DeskFactory
from workers.fulfilment.purchase import purchase
from workers.stock.sync import run_exclusive
from workers.suppliers.models import ReadingKind
from workers.suppliers.readings import balance_of, readings

START = 1_000_000.0


def test_a_balance_read_before_a_purchase_does_not_undo_what_the_purchase_learned(
    any_desk: DeskFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stock sync reads the balance, then the catalogue (minutes, at a large shop); a
    purchase meanwhile brings the balance below the threshold. The sync's older reading must
    neither resolve that alert nor replace the balance the console shows."""
    desk = any_desk(alert_balance_threshold=START - 1)
    desk.caoshop.set_balance(START)
    taken = desk.take_in([{"variation_id": NETFLIX, "quantity": 1}])
    [line_id] = taken.line_ids
    read = SupplierClient.balance
    bought: list[bool] = []

    def purchase_after_the_read(client: SupplierClient) -> Any:
        balance = read(client)
        if not bought:
            bought.append(True)
            purchase(desk.ctx, line_id)  # the answer's new_balance is below the threshold
        return balance

    monkeypatch.setattr(SupplierClient, "balance", purchase_after_the_read)
    report = run_exclusive(desk.ctx, trigger="test")
    monkeypatch.undo()

    assert bought
    assert report.errors == []
    left = desk.caoshop.balance
    assert left < START - 1
    assert ("low_balance", CAOSHOP) in desk.open_alerts()
    with session_scope(desk.ctx.engine) as session:
        stored = readings(session, ReadingKind.BALANCE)[CAOSHOP]
        assert balance_of(stored) == left
