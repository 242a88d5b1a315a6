"""Sessions end on the server: a copy of the cookie opens nothing once its session is over.

Over real HTTP: an operator logs in, an attacker holds an exact copy of the cookies (and a CSRF
token taken while the session was alive); the session ends by logout, ``bridge admin add-user``
(a new password) or ``bridge admin remove-user``; the copy then gets the login page, and the
credential reveal answers 401 without revealing anything or leaving an audit row.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment
from bridge.states import FulfilmentState
from bridge.web.console.models import ConsoleAudit, ConsoleSession
from bridge.web.console.users import set_user
from tests.conftest import bridge_cli, clean_environment
from tests.e2e.world import CAOSHOP, NETFLIX
from tests.web.console.conftest import csrf_token, log_in, start_world

PASSWORD = "operator's long password"
# How a session ends: (the world, the operator's client, the operator's name).
End = Callable[[Sandbox, httpx.Client, str], None]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("BRIDGE_CONSOLE_INSECURE_COOKIES", "true")
        sandbox = start_world(tmp_path_factory.mktemp("sessions"))
        try:
            yield sandbox
        finally:
            sandbox.stop()


@pytest.fixture(scope="module")
def delivered(world: Sandbox) -> Fulfilment:
    """A line bought and delivered: it has credentials to reveal."""
    order = world.place_order([{"variation_id": NETFLIX, "quantity": 1}])
    (line,) = world.wait_settled(order, lines=1, final=True)
    assert line.state == FulfilmentState.ANNOTATED, line.reason
    return line


@contextmanager
def operator(world: Sandbox, name: str) -> Iterator[httpx.Client]:
    """A new user ``name``, logged in."""
    with session_scope(world.runtime.engine) as session:
        set_user(session, name, PASSWORD, utcnow())
    with httpx.Client(base_url=world.bridge_url, timeout=30) as client:
        assert log_in(client, name, PASSWORD).status_code == 303
        yield client


@contextmanager
def copy_of(world: Sandbox, client: httpx.Client) -> Iterator[httpx.Client]:
    """A client holding an exact copy of ``client``'s cookies."""
    with httpx.Client(base_url=world.bridge_url, timeout=30) as thief:
        thief.cookies.update(client.cookies)
        yield thief


def reveal(client: httpx.Client, line: Fulfilment, token: str) -> httpx.Response:
    return client.post(f"/admin/lines/{line.id}/reveal", data={"csrftoken": token})


def secret_items(world: Sandbox) -> list[str]:
    (purchase,) = world.suppliers[CAOSHOP].ledger
    assert purchase.items
    return list(purchase.items)


def reveals(world: Sandbox, line: Fulfilment) -> int:
    with Session(world.runtime.engine) as session:
        rows = session.exec(
            select(func.count())
            .select_from(ConsoleAudit)
            .where(ConsoleAudit.fulfilment_id == line.id, ConsoleAudit.action == "reveal")
        )
        return int(rows.one())


def bridge_admin(world: Sandbox, *args: str, stdin: str = "") -> None:
    env = clean_environment() | {
        "BRIDGE_DATABASE_URL": world.runtime.settings.database_url,
    }
    done = subprocess.run(
        bridge_cli("admin", *args), env=env, input=stdin, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def end_by_logout(world: Sandbox, client: httpx.Client, name: str) -> None:
    answer = client.post("/admin/logout", data={"csrftoken": csrf_token(client, "/admin/")})
    assert answer.status_code == 303


def end_by_new_password(world: Sandbox, client: httpx.Client, name: str) -> None:
    bridge_admin(world, "add-user", name, "--password", "-", stdin="a brand new long password\n")


def end_by_removal(world: Sandbox, client: httpx.Client, name: str) -> None:
    bridge_admin(world, "remove-user", name)


@pytest.mark.parametrize(
    "end", [end_by_logout, end_by_new_password, end_by_removal], ids=lambda f: f.__name__
)
def test_a_copy_of_the_cookie_is_worth_nothing_once_the_session_ends(
    world: Sandbox, delivered: Fulfilment, end: End
) -> None:
    name = f"op-{end.__name__}"
    items = secret_items(world)
    with operator(world, name) as client, copy_of(world, client) as thief:
        token = csrf_token(thief, f"/admin/lines/{delivered.id}")
        # While the session lives, the copy works: what follows is the session's end at work.
        assert thief.get("/admin/").status_code == 200
        alive = reveal(thief, delivered, token)
        assert alive.status_code == 200
        assert all(item in alive.text for item in items)
        before = reveals(world, delivered)

        end(world, client, name)

        for page in ("/admin/", f"/admin/lines/{delivered.id}"):
            answer = thief.get(page)
            assert answer.status_code == 303, page
            assert answer.headers["location"].split("?")[0].endswith("/admin/login"), page
        refused = reveal(thief, delivered, token)
        assert refused.status_code == 401
        assert not any(item in refused.text for item in items)
        assert thief.get("/admin/_api/fulfilment/relation-lookup").status_code == 401
        assert reveals(world, delivered) == before, "the copy left an audit row"
        assert client.get("/admin/").status_code == 303  # the original is logged out too


def session_id_of(client: httpx.Client) -> str:
    """The session id inside Starlette's signed cookie (base64 JSON, then the signature)."""
    payload = client.cookies["bridge_console"].split(".")[0]
    data: dict[str, str] = json.loads(base64.b64decode(payload + "=="))
    return data["sid"]


def backdate(world: Sandbox, client: httpx.Client, **ago: timedelta) -> None:
    digest = hashlib.sha256(session_id_of(client).encode()).hexdigest()
    with session_scope(world.runtime.engine) as session:
        session.exec(
            update(ConsoleSession)
            .where(col(ConsoleSession.digest) == digest)
            .values({field: utcnow() - delta for field, delta in ago.items()})
        )


def rows(world: Sandbox) -> list[ConsoleSession]:
    with Session(world.runtime.engine) as session:
        return list(session.exec(select(ConsoleSession)).all())


def test_sessions_end_when_idle_or_old_and_are_trimmed(world: Sandbox) -> None:
    with operator(world, "op-idle") as idle, operator(world, "op-old") as old:
        # The server keeps only a digest of the id the cookie carries.
        stored = {row.digest for row in rows(world)}
        assert session_id_of(idle) not in stored
        assert hashlib.sha256(session_id_of(idle).encode()).hexdigest() in stored

        # Seen 2 minutes ago: still alive, and the request records that it was seen now.
        backdate(world, idle, seen_at=timedelta(minutes=2))
        assert idle.get("/admin/").status_code == 200
        digest = hashlib.sha256(session_id_of(idle).encode()).hexdigest()
        (seen,) = [row.seen_at for row in rows(world) if row.digest == digest]
        assert utcnow() - seen < timedelta(minutes=1)

        backdate(world, idle, seen_at=timedelta(minutes=61))  # idle for over an hour
        backdate(world, old, created_at=timedelta(hours=12, minutes=1))  # active, but 12 h old
        old_digest = hashlib.sha256(session_id_of(old).encode()).hexdigest()
        assert idle.get("/admin/").status_code == 303
        assert digest not in {row.digest for row in rows(world)}, "an idle session stays"

        # The next login trims every session that is over, visited or not.
        assert old_digest in {row.digest for row in rows(world)}
        with operator(world, "op-next"):
            assert old_digest not in {row.digest for row in rows(world)}
        assert old.get("/admin/").status_code == 303
