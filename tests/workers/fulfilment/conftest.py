"""Calling fulfilment steps directly, as a worker would, against the real parts.

``desk`` is the standard world (``tests/e2e/world.py``: one shop, two suppliers, four mappings)
with the Pancake and supplier simulators served over real HTTP (``ServerThread``, started by the
``Sandbox``) and a SQLite database in the test's tmp directory. Nothing consumes the queue and no
scheduler runs: a test calls ``step(ctx, id)`` itself and follows the ``Send``s it returns by hand,
so each step is seen on its own, in milliseconds. Pancake sends no webhooks here: an order reaches
the bridge the way both the webhook and the catch-up report it (``order_reported``).

The steps' clock is real time plus an offset the test may move forward (a lease running out, a
settling delay passing) instead of sleeping.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bridge.db import make_engine, session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.dev.simulators.supplier import SupplierSimulator
from bridge.migrate import ensure_current
from bridge.models import Fulfilment, Order, PurchaseAttempt
from bridge.pancake.models import PancakeShop
from tests.conftest import fast_settings
from tests.e2e.world import CAOSHOP, SHOPKEY, build_world
from workers.alerts.models import Alert
from workers.fulfilment.intake import intake
from workers.fulfilment.reported import order_reported
from workers.queue.context import Context
from workers.queue.dispatch import INTAKE, PURCHASE, Send


class Clock:
    """Real time plus an offset that only moves forward; frozen, it moves only when told."""

    def __init__(self) -> None:
        self.offset = timedelta()
        self.frozen: datetime | None = None

    def __call__(self) -> datetime:
        return (self.frozen or utcnow()) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def freeze(self) -> None:
        """Stop at this moment: a wait a step computes is then exactly what it had left."""
        self.frozen = utcnow()


@dataclass(frozen=True)
class Taken:
    """An order the bridge has read: Pancake's id, the bridge's row, and what intake sent."""

    order_id: str
    order_pk: int
    sends: list[Send]

    @property
    def line_ids(self) -> list[int]:
        """The lines intake sent to buying, in order."""
        return [send.entity_id for send in self.sends if send.actor == PURCHASE]


@dataclass
class Desk:
    sandbox: Sandbox
    clock: Clock = field(default_factory=Clock)

    @property
    def ctx(self) -> Context:
        return self.sandbox.runtime.ctx

    @property
    def shop_id(self) -> str:
        return self.sandbox.shop_id

    @property
    def caoshop(self) -> SupplierSimulator:
        return self.sandbox.suppliers[CAOSHOP]

    @property
    def shopkey(self) -> SupplierSimulator:
        return self.sandbox.suppliers[SHOPKEY]

    # -- Pancake's side --------------------------------------------------------------------

    def place_order(self, items: list[dict[str, Any]], **order: Any) -> str:
        """A new order in Pancake that staff then confirm; no webhook reaches the bridge."""
        return self.sandbox.place_order(items, **order)

    def note(self, order_id: str) -> str:
        return self.sandbox.note(order_id)

    def note_writes(self, order_id: str) -> int:
        """How many times the bridge PUT this order (only ever to write its note)."""
        return self.sandbox.pancake.count_calls("PUT", f"/orders/{order_id}")

    def order_reads(self, order_id: str) -> int:
        return self.sandbox.pancake.count_calls("GET", f"/orders/{order_id}")

    def supplier_calls(self, simulator: SupplierSimulator, endpoint: str) -> int:
        return sum(1 for _, path in simulator.calls if path.endswith(endpoint))

    # -- the bridge's side -----------------------------------------------------------------

    def report(self, order_id: str, status: int | None = None) -> list[Send]:
        """Report the order as a webhook (or the catch-up) does, with its status in Pancake
        unless ``status`` says otherwise (a stale or forged report)."""
        remote = self.sandbox.pancake.order(self.shop_id, order_id)
        with session_scope(self.ctx.engine) as session:
            shop = session.get(PancakeShop, self.shop_id)
            assert shop is not None
            _, sends = order_reported(
                session.connection(),
                self.shop_id,
                order_id,
                status=remote["status"] if status is None else status,
                item_count=len(remote["items"]),
                triggers=shop.trigger_statuses,
                now=self.clock(),
                lease=timedelta(seconds=self.ctx.settings.lease_seconds),
            )
        return sends

    def reported(self, order_id: str, status: int | None = None) -> int:
        """Report a new order; the bridge's id for it (the one intake it queued)."""
        [send] = self.report(order_id, status)
        assert send.actor == INTAKE
        return send.entity_id

    def take_in(self, items: list[dict[str, Any]], **order: Any) -> Taken:
        """A confirmed order, reported and read by intake."""
        order_id = self.place_order(items, **order)
        order_pk = self.reported(order_id)
        return Taken(order_id, order_pk, intake(self.ctx, order_pk))

    def line(self, line_id: int) -> Fulfilment:
        with session_scope(self.ctx.engine) as session:
            line = session.get(Fulfilment, line_id)
            assert line is not None
            return line

    def lines(self, order_pk: int) -> list[Fulfilment]:
        with session_scope(self.ctx.engine) as session:
            statement = (
                select(Fulfilment)
                .where(Fulfilment.order_pk == order_pk)
                .order_by(col(Fulfilment.id))
            )
            return list(session.exec(statement))

    def order_row(self, order_pk: int) -> Order:
        with session_scope(self.ctx.engine) as session:
            order = session.get(Order, order_pk)
            assert order is not None
            return order

    def attempts(self, line_id: int) -> list[PurchaseAttempt]:
        with session_scope(self.ctx.engine) as session:
            statement = (
                select(PurchaseAttempt)
                .where(PurchaseAttempt.fulfilment_id == line_id)
                .order_by(col(PurchaseAttempt.id))
            )
            return list(session.exec(statement))

    def credentials(self, line_id: int) -> list[str]:
        """The credentials stored (encrypted) for the line."""
        line = self.line(line_id)
        if not line.credentials_enc:
            return []
        stored: list[str] = json.loads(self.ctx.box.decrypt(line.credentials_enc))
        return stored

    def open_alerts(self) -> dict[tuple[str, str], str]:
        with session_scope(self.ctx.engine) as session:
            rows = session.exec(select(Alert).where(col(Alert.resolved).is_(False)))
            return {(alert.kind, alert.subject): alert.message for alert in rows}

    def set_line(self, line_id: int, **values: Any) -> None:
        """Put a line's row in a state no step reached by itself (a crash between two commits)."""
        with session_scope(self.ctx.engine) as session:
            session.connection().execute(
                update(Fulfilment).where(col(Fulfilment.id) == line_id).values(**values)
            )

    def set_order(self, order_pk: int, **values: Any) -> None:
        with session_scope(self.ctx.engine) as session:
            session.connection().execute(
                update(Order).where(col(Order.id) == order_pk).values(**values)
            )


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the current schema, migrated once for the session: each desk gets a
    copy (a third of a second less per test than migrating its own)."""
    path = tmp_path_factory.mktemp("migrated") / "bridge.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        ensure_current(url, engine=engine)
    finally:
        engine.dispose()
    return path


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite database, whatever its journal holds."""
    with closing(sqlite3.connect(source)) as original, closing(sqlite3.connect(target)) as copy:
        original.backup(copy)


DeskFactory = Callable[..., Desk]


@contextmanager
def desks(database_url: Callable[[int], str]) -> Iterator[DeskFactory]:
    """Open the standard world with settings overridden (``fast_settings`` keywords), the n-th
    on ``database_url(n)``; every one stopped at the end."""
    opened: list[Sandbox] = []

    def open_(**overrides: object) -> Desk:
        sandbox = Sandbox(fast_settings(database_url(len(opened)), **overrides))
        opened.append(sandbox)
        return desk_on(sandbox)

    try:
        yield open_
    finally:
        for sandbox in opened:
            sandbox.stop()


@pytest.fixture
def open_desk(tmp_path: Path, migrated_database: Path) -> Iterator[DeskFactory]:
    """Open the standard world on SQLite, each desk on its own copy of the migrated file."""

    def copied(n: int) -> str:
        database = tmp_path / f"bridge-{n}.db"
        copy_database(migrated_database, database)
        return f"sqlite:///{database}"

    with desks(copied) as open_:
        yield open_


def desk_on(sandbox: Sandbox) -> Desk:
    """The standard world built in ``sandbox``, Pancake's webhooks off, the clock the test's."""
    build_world(sandbox)
    sandbox.pancake.send_webhooks = False
    desk = Desk(sandbox)
    desk.ctx.clock = desk.clock
    return desk


@pytest.fixture
def desk(open_desk: DeskFactory) -> Desk:
    """The standard world with no workers; ``fast_settings`` as the e2e tests have them."""
    return open_desk()


@pytest.fixture
def open_pg_desk(migrated_postgres_url: str) -> Iterator[DeskFactory]:
    """``open_desk`` on PostgreSQL, where two copies of a step really run side by side (on
    SQLite every transaction waits for the one writer). One desk per test: one database."""

    def the_one(n: int) -> str:
        assert n == 0, "one PostgreSQL desk per test"
        return migrated_postgres_url

    with desks(the_one) as open_:
        yield open_


@pytest.fixture
def pg_desk(open_pg_desk: DeskFactory) -> Desk:
    return open_pg_desk()


@pytest.fixture(params=["sqlite", "postgres"])
def any_desk(request: pytest.FixtureRequest) -> DeskFactory:
    """``open_desk`` on each backend."""
    factory: DeskFactory = request.getfixturevalue(
        "open_desk" if request.param == "sqlite" else "open_pg_desk"
    )
    return factory
