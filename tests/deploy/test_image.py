"""deploy/Dockerfile: what the image is made of, and its build steps run without Docker (no
engine here): the environment uv builds from the lock, without dev tools, runs the bridge from
outside the source tree, as the runtime stage does."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bridge.web.server import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), one list per stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            found.append([])
        found[-1].append(line)
    return found


def test_two_stages_the_runtime_one_unprivileged_and_without_dev_tools() -> None:
    build, runtime = stages()
    syncs = [line for line in build if " uv sync " in f" {line} "]
    assert syncs, "the build stage installs with uv"
    assert all("--locked" in line and "--no-dev" in line for line in syncs)
    assert not any(line.startswith("COPY . ") for line in build)  # only what the image needs
    users = [line.split()[1] for line in runtime if line.startswith("USER ")]
    assert users == ["bridge"]
    assert any("useradd --system" in line for line in runtime)
    assert any(line.startswith("COPY --from=build /app/.venv") for line in runtime)
    assert not any("uv" in line.split()[0:2] for line in runtime if line.startswith("RUN"))
    assert any(line.startswith("HEALTHCHECK") and "/healthz" in line for line in runtime)


def test_what_the_build_copies_exists_and_the_context_lets_it_through() -> None:
    build, _ = stages()
    sources = [
        part
        for line in build
        if line.startswith("COPY ") and "--from=" not in line
        for part in line.split()[1:-1]
    ]
    assert sources
    allowed = (ROOT / ".dockerignore").read_text()
    for source in sources:
        assert (ROOT / source).exists(), source
        assert f"!{source.rstrip('/')}" in allowed, f".dockerignore keeps {source} out"


def test_the_build_steps_make_an_environment_that_runs_without_the_source(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed (the image's build uses it)")
    context = tmp_path / "app"
    context.mkdir()
    build, _ = stages()
    for line in build:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                origin = ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin, context / source, ignore=shutil.ignore_patterns("__pycache__")
                    )
                else:
                    shutil.copy2(origin, context / source)
    venv = tmp_path / "venv"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("BRIDGE_", "VIRTUAL_ENV", "UV_PROJECT"))
    } | {"UV_PROJECT_ENVIRONMENT": str(venv), "UV_PYTHON_DOWNLOADS": "never"}
    for line in build:
        if line.startswith("RUN ") and " uv sync " in f" {line} ":
            command = line[line.index("uv sync") :].split()
            subprocess.run([uv, *command[1:]], cwd=context, env=env, check=True, timeout=600)
    shutil.rmtree(context)  # the runtime stage has only the environment

    bridge = venv / "bin" / "bridge"
    run_env = {k: v for k, v in env.items() if not k.startswith("UV_")} | {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}"
    }
    upgraded = subprocess.run(
        [str(bridge), "db", "upgrade"], cwd=tmp_path, env=run_env, capture_output=True, text=True
    )
    assert upgraded.returncode == 0, upgraded.stderr  # the migrations are in the package
    python = venv / "bin" / "python"
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "import importlib.util as u, bridge.web.console.app as c; "
            "print(u.find_spec('pytest') is None, "
            "(c.TEMPLATES / 'console' / 'mapping.html').exists())",
        ],
        cwd=tmp_path,
        env=run_env,
        capture_output=True,
        text=True,
    )
    assert probe.stdout.split() == ["True", "True"], probe.stderr  # no dev tools; templates in

    # And it serves: the webhook endpoint's app with the console mounted.
    port = free_port()
    serve_env = run_env | {
        "BRIDGE_PORT": str(port),
        "BRIDGE_SECRET_KEY": secrets.token_urlsafe(32),
        "BRIDGE_AUTO_MIGRATE": "false",
    }
    server = subprocess.Popen(
        [str(bridge), "serve"], cwd=tmp_path, env=serve_env, stderr=subprocess.PIPE, text=True
    )
    try:
        login = wait_for_page(f"http://127.0.0.1:{port}/admin/login", server)
        assert login.status_code == 200
        assert "csrftoken" in login.text
    finally:
        server.terminate()
        server.communicate(timeout=30)


def wait_for_page(url: str, server: subprocess.Popen[str], timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"bridge serve exited: {server.stderr.read() if server.stderr else ''}")
        try:
            return httpx.get(url, timeout=5)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s")
