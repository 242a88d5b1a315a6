"""A supplier's runway: its balance over what it was paid a day across the last 7 days."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from bridge.db import make_engine
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.models import Supplier
from bridge.web.console.dashboard import Balances, SupplierState, spent_since, supplier_states
from bridge.web.console.readings import SupplierReadings
from tests.conftest import migrated_sqlite_url
from workers.suppliers.readings import record_balance

NOW = datetime(2026, 12, 9, 3, 0, tzinfo=UTC)
BALANCE = 700_000.0


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """The migrated schema (0017 included) on SQLite, with two suppliers and one line."""
    url = migrated_sqlite_url(tmp_path)
    engine = make_engine(url)
    with Session(engine) as session:
        for name in ("caoshop", "shopkey"):
            session.add(
                Supplier(name=name, base_url="http://x", api_key_enc="k", api_secret_enc="s")
            )
        order = Order(shop_id="4", order_id="1418")
        session.add(order)
        session.flush()
        assert order.id is not None
        session.add(
            Fulfilment(order_pk=order.id, shop_id="4", order_id="1418", line_key="a", quantity=1)
        )
        session.commit()
        yield session
    engine.dispose()


def attempt(
    session: Session,
    supplier: str,
    amount: float | None,
    age: timedelta,
    *,
    bought: bool = True,
) -> None:
    session.add(
        PurchaseAttempt(
            fulfilment_id=1,
            supplier_name=supplier,
            plan_id=319,
            quantity=1,
            outcome=AttemptOutcome.BOUGHT if bought else AttemptOutcome.REFUSED,
            trans_id=f"PO{uuid.uuid4().hex[:8]}" if bought else None,
            amount=amount,
            started_at=NOW - age,
        )
    )
    session.commit()


def states(session: Session, balance: float = BALANCE) -> dict[str, SupplierState]:
    """The suppliers as shown when the workers last read ``balance`` for each, a minute ago."""
    for name in ("caoshop", "shopkey"):
        record_balance(session, name, balance, NOW - timedelta(minutes=1))
    session.commit()
    balances = Balances(SupplierReadings(session.get_bind(), None))  # type: ignore[arg-type]
    return {s.name: s for s in supplier_states(session, balances, NOW)}


def test_the_window_counts_bought_attempts_of_the_last_7_days(session: Session) -> None:
    attempt(session, "caoshop", 75_000, timedelta(days=1))
    attempt(session, "caoshop", 60_000, timedelta(days=7) - timedelta(seconds=1))
    attempt(session, "caoshop", 1_000_000, timedelta(days=8))  # too old
    attempt(session, "caoshop", 500_000, timedelta(hours=1), bought=False)  # refused: not paid
    attempt(session, "caoshop", None, timedelta(hours=2))  # the supplier did not say
    attempt(session, "shopkey", 120_000, timedelta(days=7) + timedelta(seconds=1))  # too old

    assert spent_since(session, NOW - timedelta(days=7)) == {"caoshop": 135_000}
    found = states(session)
    assert found["caoshop"].spent_7_days == 135_000
    # 135,000 over 7 days is 19,285.7 a day: 700,000 lasts 36.3 days.
    assert found["caoshop"].runway_days == pytest.approx(BALANCE / (135_000 / 7))
    assert found["caoshop"].runway_gap is None


def test_no_spending_in_7_days_gives_no_runway(session: Session) -> None:
    attempt(session, "shopkey", 120_000, timedelta(days=8))

    shopkey = states(session)["shopkey"]

    assert shopkey.spent_7_days == 0
    assert shopkey.runway_days is None
    assert shopkey.runway_gap == "no purchase cost in 7 days"


def test_a_balance_not_read_or_spent_gives_no_negative_runway(session: Session) -> None:
    attempt(session, "caoshop", 70_000, timedelta(days=2))

    unread = supplier_states(session, None, NOW)[0]
    overdrawn = states(session, balance=-5_000)["caoshop"]

    assert (unread.runway_days, unread.runway_gap) == (None, "balance not read")
    assert overdrawn.runway_days == 0.0
