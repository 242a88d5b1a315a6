"""/metrics, scraped over HTTP and parsed as Prometheus reads it.

An order run end to end moves the webhook, supplier, latency and state metrics; label values stay
bounded whatever a sender invents; the bearer token is required when set; and with a metrics
folder one scrape adds up every process of the host that writes there.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import metrics
from bridge.dev.sandbox import Sandbox
from bridge.states import FulfilmentState
from bridge.supplier.client import SupplierClient
from bridge.supplier.errors import SupplierRefused
from tests.conftest import clean_environment, fast_settings, migrated_sqlite_url
from tests.e2e.world import CAOSHOP, NETFLIX

ROOT = Path(__file__).resolve().parents[2]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(url: str, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(url + "/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    return parse(answer.text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples that carry ``labels`` (0 when there are none)."""
    wanted = set(labels.items())
    return sum(
        value for (found, have), value in samples.items() if found == name and wanted <= have
    )


def names(samples: Samples) -> set[str]:
    return {name for name, _ in samples}


def test_metrics_move_as_an_order_goes_through(world: Sandbox) -> None:
    before = scrape(world.bridge_url)
    assert total(before, "bridge_fulfilments", state=FulfilmentState.ANNOTATED) == 0
    assert total(before, "bridge_state_read_ok") == 3, "database, broker and budget were read"

    order_id = world.place_order([{"variation_id": NETFLIX, "quantity": 2}])
    [line] = world.wait_settled(order_id, lines=1)
    assert line.state == FulfilmentState.ANNOTATED
    after = scrape(world.bridge_url)

    def moved(name: str, **labels: str) -> float:
        return total(after, name, **labels) - total(before, name, **labels)

    assert moved("bridge_webhooks_total", type="orders") >= 2, "placed, then confirmed"
    assert moved("bridge_webhooks_total", outcome="rejected:secret") == 0
    create = {"supplier": CAOSHOP, "endpoint": "orders/create", "outcome": "ok"}
    assert moved("bridge_supplier_requests_total", **create) == 1
    assert moved("bridge_supplier_requests_total", endpoint="orders/status", outcome="ok") >= 1
    assert moved("bridge_purchase_duration_seconds_count") == 1
    assert moved("bridge_delivery_duration_seconds_count") == 1
    assert moved("bridge_webhook_to_note_seconds_count") == 1
    assert moved("bridge_webhook_to_note_seconds_sum") > 0
    assert total(after, "bridge_fulfilments", state=FulfilmentState.ANNOTATED) == 1
    assert total(after, "bridge_fulfilments") == 1, "every other state is there, at 0"
    assert total(after, "bridge_supplier_balance", supplier=CAOSHOP) == (
        world.suppliers[CAOSHOP].balance
    ), "the new_balance of the purchase's answer"
    budget_left = "bridge_supplier_budget_left_requests"
    assert moved(budget_left, supplier=CAOSHOP) <= -2, "orders/create and orders/status"
    assert total(after, "bridge_supplier_budget_daily_limit_requests", supplier=CAOSHOP) == 10_000
    assert {"bridge_queue_messages"} <= names(after)


def test_label_values_stay_bounded_whatever_the_sender_invents(tmp_path: Path) -> None:
    sandbox = Sandbox(fast_settings(migrated_sqlite_url(tmp_path))).start(workers=False)
    try:
        before = scrape(sandbox.bridge_url)
        with httpx.Client(base_url=sandbox.bridge_url) as client:
            headers = {"X-Bridge-Secret": sandbox.webhook_secret}
            invented = client.post(
                sandbox.webhook_url, json={"type": "made-up-7f3a", "id": 1}, headers=headers
            )
            assert invented.json()["outcome"] == "ignored:type"
            assert client.post("/webhooks/pancake/999", json={}).status_code == 404
            assert (
                client.post(sandbox.webhook_url, content=b"{", headers=headers).status_code == 400
            )
        after = scrape(sandbox.bridge_url)
    finally:
        sandbox.stop()

    def moved(**labels: str) -> float:
        return total(after, "bridge_webhooks_total", **labels) - total(
            before, "bridge_webhooks_total", **labels
        )

    assert moved(type="other", outcome="ignored:type") == 1
    assert moved(type=metrics.UNPARSED, outcome="rejected:unknown_shop") == 1
    assert moved(type=metrics.UNPARSED, outcome="rejected:body") == 1
    assert not [labels for name, labels in after if ("type", "made-up-7f3a") in labels]


def test_a_supplier_error_code_the_docs_do_not_list_counts_as_other() -> None:
    def refuse(_: httpx.Request) -> httpx.Response:
        body = {"success": False, "message": "no", "data": {"error_code": "NEW_CODE_9a1"}}
        return httpx.Response(400, json=body)

    before = parse(metrics.Exposition().render().decode())
    with (
        SupplierClient(
            "http://supplier.test/api/v1", "k", "s", transport=httpx.MockTransport(refuse)
        ) as client,
        pytest.raises(SupplierRefused),
    ):
        client.balance()
    after = parse(metrics.Exposition().render().decode())

    labels = {"endpoint": "account/balance", "outcome": "refused", "code": "OTHER"}
    name = "bridge_supplier_requests_total"
    assert total(after, name, **labels) - total(before, name, **labels) == 1
    assert not [labels for n, labels in after if ("code", "NEW_CODE_9a1") in labels]


def test_metrics_require_the_bearer_token_when_one_is_set(tmp_path: Path) -> None:
    token = secrets.token_urlsafe(24)
    settings = fast_settings(migrated_sqlite_url(tmp_path), metrics_token=token)
    sandbox = Sandbox(settings).start(workers=False)
    try:
        url = sandbox.bridge_url + "/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url, headers={"Authorization": token}).status_code == 401
        assert "bridge_fulfilments" in names(scrape(sandbox.bridge_url, token))
        assert httpx.get(sandbox.bridge_url + "/readyz").status_code == 200, "probes need none"
    finally:
        sandbox.stop()


# A worker of the same host: counts into the folder, then stops.
WORKER = """
import sys
from datetime import timedelta
from pathlib import Path

from bridge import metrics

metrics.configure(Path(sys.argv[1]))
metrics.webhook("orders", "queued")
metrics.noted(timedelta(seconds=3))
metrics.supplier_balance("caoshop-sim", 1234.0)
metrics.process_stopped()
"""
# The web process of the host, as `bridge serve` builds it, on the same folder.
SERVER = """
import secrets
import sys

from bridge.runtime.wiring import Runtime
from tests.conftest import fast_settings

settings = fast_settings(sys.argv[1], metrics_dir=sys.argv[2])
runtime = Runtime(settings, secret_key=secrets.token_urlsafe(32))
print(runtime.start_web().url, flush=True)
sys.stdin.read()
runtime.stop()
"""


def test_one_scrape_adds_up_every_process_writing_to_the_metrics_folder(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    env = clean_environment()
    for _ in range(2):
        subprocess.run(
            [sys.executable, "-c", WORKER, str(folder)], cwd=ROOT, env=env, check=True, timeout=60
        )
    database = f"sqlite:///{tmp_path / 'bridge.db'}"
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, database, str(folder)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        assert server.stdin is not None
        try:
            url = server.stdout.readline().strip()
            assert url.startswith("http://"), "the server did not start"
            assert httpx.post(url + "/webhooks/pancake/4", json={}).status_code == 404
            samples = scrape(url)
        finally:
            server.stdin.close()  # it stops
            server.wait(timeout=30)

    assert total(samples, "bridge_webhooks_total", outcome="queued") == 2, "both workers"
    assert total(samples, "bridge_webhooks_total", outcome="rejected:unknown_shop") == 1
    assert total(samples, "bridge_webhook_to_note_seconds_count") == 2
    assert total(samples, "bridge_webhook_to_note_seconds_sum") == 6
    assert total(samples, "bridge_supplier_balance", supplier="caoshop-sim") == 1234.0
    assert total(samples, "bridge_fulfilments") == 0, "the shared state is read once, not summed"
    assert len(list(folder.glob("*.db"))) >= 3, "a file per process and kind"
