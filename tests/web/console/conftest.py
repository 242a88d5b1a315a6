"""A running bridge (web and workers, against the simulators) with one console user."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.web.console.users import set_user
from tests.conftest import fast_settings, migrated_sqlite_url
from tests.e2e.world import build_world

USER = "alice"
PASSWORD = "đúng mật khẩu 2026"  # Vietnamese on purpose: a password is any Unicode text
CSRF_FIELD = re.compile(r'name="csrftoken" value="([^"]+)"')


def start_world(tmp_path: Path, **overrides: object) -> Sandbox:
    settings = fast_settings(migrated_sqlite_url(tmp_path), **overrides)
    sandbox = build_world(Sandbox(settings)).start()
    with session_scope(sandbox.runtime.engine) as session:
        set_user(session, USER, PASSWORD, utcnow())
    return sandbox


@pytest.fixture
def console_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """Plain-http cookies: httpx, unlike a browser, never sends a Secure cookie to
    http://127.0.0.1 (the browser tests run with the production setting)."""
    monkeypatch.setenv("BRIDGE_CONSOLE_INSECURE_COOKIES", "true")
    sandbox = start_world(tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def csrf_token(client: httpx.Client, path: str = "/admin/login") -> str:
    match = CSRF_FIELD.search(client.get(path).text)
    assert match is not None, f"{path} has no CSRF field"
    return match.group(1)


def log_in(client: httpx.Client, username: str = USER, password: str = PASSWORD) -> httpx.Response:
    token = csrf_token(client)
    return client.post(
        "/admin/login", data={"username": username, "password": password, "csrftoken": token}
    )


@pytest.fixture
def client(console_world: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console_world.bridge_url, timeout=30) as anonymous:
        yield anonymous


@pytest.fixture
def logged_in(client: httpx.Client) -> httpx.Client:
    assert log_in(client).status_code == 303
    return client
