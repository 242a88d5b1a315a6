"""deploy/compose.yaml against the Compose Specification's JSON schema, and what the issue asks
of it: PostgreSQL, Redis, the web and scalable workers, migrations once, health checks, restart
policies and volumes, every variable it reads listed in deploy/.env.example.

``compose-spec.json`` is the specification's schema kept verbatim as test data
(github.com/compose-spec/compose-spec, ``schema/compose-spec.json`` at commit 170098b, Apache
License 2.0). No Docker engine runs here, so the file is validated, not started.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCHEMA = Path(__file__).with_name("compose-spec.json")
# ${NAME}, ${NAME:-default}, ${NAME:?error}: what compose interpolates from .env.
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []


def test_the_schema_catches_a_mistake(compose: dict[str, Any]) -> None:
    """The validation above can fail: a misspelt key is refused."""
    schema = json.loads(SCHEMA.read_text())
    broken = json.loads(json.dumps(compose))
    broken["services"]["web"]["restart_policy"] = "always"
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_services_start_in_order_and_stay_up(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "worker"}
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"  # runs once, exits
    assert services["migrate"]["command"] == ["bridge", "db", "upgrade"]
    for name in ("web", "worker"):
        needs = services[name]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", name
        assert needs["postgres"]["condition"] == "service_healthy", name
        assert needs["redis"]["condition"] == "service_healthy", name
        assert services[name]["environment"]["BRIDGE_AUTO_MIGRATE"] == "false", name
    for name in ("postgres", "redis", "web"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


def test_workers_scale_and_data_lives_in_volumes(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    # --scale worker=N needs no fixed name and no host port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert worker["command"] == ["bridge", "worker"]
    assert worker["stop_grace_period"] == "60s"
    web_ports = compose["services"]["web"]["ports"]
    assert all(port.startswith("127.0.0.1:") for port in web_ports)  # behind the TLS proxy
    declared = set(compose["volumes"])
    used = {
        mount.split(":", 1)[0]
        for service in compose["services"].values()
        for mount in service.get("volumes", [])
    }
    assert used == declared == {"postgres-data", "redis-data", "metrics"}
    assert "--appendonly" in compose["services"]["redis"]["command"]  # the budget survives
    # The workers' counters reach the web's /metrics through one folder of the host.
    for name in ("web", "worker"):
        service = compose["services"][name]
        folder = service["environment"]["BRIDGE_METRICS_DIR"]
        assert f"metrics:{folder}" in service["volumes"], name
    assert compose["volumes"]["metrics"]["driver_opts"]["type"] == "tmpfs"


def test_every_variable_it_reads_is_in_the_env_example() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    read = set(VARIABLE.findall(text))
    assert "POSTGRES_PASSWORD" in read
    example = (DEPLOY / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, flags=re.MULTILINE))
    assert read - listed == set()
