"""Who gets in: anonymous requests to every console route, CSRF, sessions, cookies, the throttle."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlmodel import Session, select
from starlette.routing import Mount, Route

from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment
from bridge.states import FulfilmentState
from bridge.web.console.models import ConsoleAudit, ConsoleUser
from bridge.web.console.users import set_user
from tests.e2e.world import UNMAPPED
from tests.web.console.conftest import PASSWORD, USER, csrf_token, log_in

# A value for each path parameter the console's routes take.
PARAMS = {"key": "fulfilment", "fulfilment_id": "1", "action": "retry"}


def console_routes(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(method, concrete path) of every route of the mounted console, login and assets aside."""
    mount = next(
        r for r in sandbox.runtime.app.routes if isinstance(r, Mount) and r.path == "/admin"
    )
    found = []
    for route in mount.routes:
        if not isinstance(route, Route) or route.name in {"login"}:
            continue
        path = re.sub(r"{(\w+)(:\w+)?}", lambda m: PARAMS.get(m.group(1), "1"), route.path)
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append((method, "/admin" + path))
    return found


def unmapped_line(sandbox: Sandbox) -> Fulfilment:
    order = sandbox.place_order([{"variation_id": UNMAPPED, "quantity": 1}])
    (line,) = sandbox.wait_settled(order, lines=1)
    assert line.state == FulfilmentState.NEEDS_ATTENTION
    return line


def test_anonymous_requests_to_every_route_are_refused(
    console_world: Sandbox, client: httpx.Client
) -> None:
    line = unmapped_line(console_world)
    routes = console_routes(console_world)
    methods = {method for method, _ in routes}
    assert {"GET", "POST"} <= methods, routes  # the walk sees the app's pages and actions
    assert len(routes) > 15, routes
    csrf = csrf_token(client)  # an attacker can get a token too: refusal must not rest on it
    for method, path in routes:
        answer = client.request(
            method, path, data={"csrftoken": csrf}, headers={"X-CSRFToken": csrf}
        )
        if method == "GET" and "/_api/" not in path:
            assert answer.status_code == 303, (method, path)
            assert answer.headers["location"].split("?")[0].endswith("/admin/login"), path
        else:
            assert answer.status_code == 401, (method, path, answer.status_code)
        assert (line.reason or "-")[:20] not in answer.text, path
        assert "u1@" not in answer.text, path
    with Session(console_world.runtime.engine) as session:
        assert session.exec(select(ConsoleAudit)).all() == []
        after = session.get(Fulfilment, line.id)
        assert after is not None
        assert after.state == FulfilmentState.NEEDS_ATTENTION
        assert after.retry_from is None, "an anonymous retry changed the line"


def test_a_form_posted_without_its_csrf_token_is_refused(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    line = unmapped_line(console_world)
    retry = f"/admin/lines/{line.id}/retry"
    assert logged_in.post(retry, data={}).status_code == 403
    assert logged_in.post(retry, data={"csrftoken": "forged"}).status_code == 403
    with Session(console_world.runtime.engine) as session:
        assert session.get(Fulfilment, line.id).retry_from is None  # type: ignore[union-attr]
        assert session.exec(select(ConsoleAudit)).all() == []
    # The same form with its token goes through: the refusal above was the token's doing.
    token = csrf_token(logged_in, f"/admin/lines/{line.id}")
    assert logged_in.post(retry, data={"csrftoken": token}).status_code == 303
    with Session(console_world.runtime.engine) as session:
        assert session.get(Fulfilment, line.id).retry_from is not None  # type: ignore[union-attr]
        (row,) = session.exec(select(ConsoleAudit)).all()
        assert (row.username, row.action, row.fulfilment_id) == (USER, "retry", line.id)


def test_the_session_cookie_is_signed_httponly_strict_and_ends_with_a_new_password(
    console_world: Sandbox, client: httpx.Client
) -> None:
    answer = log_in(client)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/admin" in cookie
    assert client.get("/admin/").status_code == 200
    # A cookie whose signature does not match is nobody's.
    value = client.cookies["bridge_console"]
    with httpx.Client(base_url=console_world.bridge_url) as forged:
        forged.cookies.set("bridge_console", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert forged.get("/admin/").status_code == 303
    with session_scope(console_world.runtime.engine) as session:
        set_user(session, USER, "a brand new password", utcnow())
    assert client.get("/admin/").status_code == 303, "the old session outlived the password"


def test_wrong_passwords_are_limited_per_user(console_world: Sandbox, client: httpx.Client) -> None:
    for _ in range(5):
        assert log_in(client, password="wrong password!").status_code == 400
    refused = log_in(client)  # the right password, but too late
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    with Session(console_world.runtime.engine) as session:
        user = session.exec(select(ConsoleUser).where(ConsoleUser.username == USER)).one()
        assert user.last_login_at is None
        assert PASSWORD not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")
    # Another user from the same address is not locked out by alice's count.
    with session_scope(console_world.runtime.engine) as session:
        set_user(session, "bob", "bob's long password", utcnow())
    assert log_in(client, "bob", "bob's long password").status_code == 303


def test_a_vietnamese_browser_is_refused_in_vietnamese(client: httpx.Client) -> None:
    client.headers["Accept-Language"] = "vi-VN,vi;q=0.9"
    for _ in range(5):
        wrong = log_in(client, password="wrong password!")
        assert wrong.status_code == 400
        assert "Sai tên đăng nhập hoặc mật khẩu." in wrong.text
    refused = log_in(client)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert re.search(r"Sai mật khẩu quá nhiều lần: hãy thử lại sau \d+ giây\.", refused.text)


def test_concurrent_guesses_check_at_most_the_limit(
    console_world: Sandbox, client: httpx.Client
) -> None:
    """Counted before the hash is checked: 30 guesses at once get at most 5 real checks."""
    token = csrf_token(client)

    def guess(n: int) -> int:
        with httpx.Client(base_url=console_world.bridge_url, timeout=60) as other:
            other.cookies.update(client.cookies)
            data = {"username": USER, "password": f"guess {n:04d}xx", "csrftoken": token}
            return other.post("/admin/login", data=data).status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(guess, range(30)))
    assert statuses.count(400) == 5, statuses
    assert statuses.count(429) == 25, statuses


def test_wrong_passwords_are_limited_per_address(
    console_world: Sandbox, client: httpx.Client
) -> None:
    for n in range(20):
        assert log_in(client, f"nobody{n}", "wrong password!").status_code == 400
    assert log_in(client).status_code == 429, "the address's limit does not hold"


@pytest.mark.parametrize("path", ["/admin/", "/admin/suppliers", "/admin/fulfilment/list"])
def test_pages_forbid_framing_and_caching_of_credentials(
    logged_in: httpx.Client, path: str
) -> None:
    answer = logged_in.get(path)
    assert answer.status_code == 200
    assert answer.headers["x-frame-options"] == "DENY"


def test_pages_load_nothing_from_other_sites(
    console_world: Sandbox, logged_in: httpx.Client
) -> None:
    """No web font, script or style from elsewhere: an operator's browser tells no third party
    it is looking at the console (and the console works offline)."""
    links = re.compile(
        r"""(?:src|href)=["'](https?://[^"']+)|@import url\(["']?(https?://[^"')]+)"""
    )
    for path in ("/admin/", "/admin/mappings", "/admin/mappings/new", "/admin/suppliers"):
        page = logged_in.get(path)
        assert page.status_code == 200, path
        found = [a or b for a, b in links.findall(page.text)]
        assert found, "the pattern sees the page's own links"
        outside = [url for url in found if not url.startswith(console_world.bridge_url)]
        assert outside == [], (path, outside)
