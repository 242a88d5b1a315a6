"""Secrets never need the command line (where `ps` and the shell's history show them): every
secret option also comes from its environment variable, from standard input (`-`), or from a
hidden prompt on a terminal. And `shops add` changes only what it is told."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from bridge.dev.simulators.supplier import DEMO_API_KEY, DEMO_API_SECRET, SupplierSimulator
from bridge.secrets import SecretBox
from bridge.web.server import ServerThread
from tests.cli.test_main import ROOT, SECRET_KEY, cli_env, run  # noqa: F401  (cli_env is a fixture)
from tests.conftest import clean_environment


@pytest.fixture
def supplier_url() -> Iterator[tuple[SupplierSimulator, str]]:
    sim = SupplierSimulator(name="clone")
    with ServerThread(sim.app) as server:
        yield sim, server.url + "/api/v1"


def stdin(monkeypatch: pytest.MonkeyPatch, *lines: str) -> None:
    """What the command reads on standard input (not a terminal)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{line}\n" for line in lines)))


def stored(db: Path, table: str, key: str, value: str) -> dict[str, Any]:
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            row = conn.execute(
                text(f"SELECT * FROM {table} WHERE {key} = :value"), {"value": value}
            ).one()
            return dict(row._mapping)
    finally:
        engine.dispose()


BOX = SecretBox(SECRET_KEY)


@pytest.mark.parametrize(
    ("env", "argv", "lines"),
    [
        (
            {
                "BRIDGE_SUPPLIER_API_KEY": DEMO_API_KEY,
                "BRIDGE_SUPPLIER_API_SECRET": DEMO_API_SECRET,
            },
            [],
            [],
        ),
        ({}, ["--api-key", "-", "--api-secret", "-"], [DEMO_API_KEY, DEMO_API_SECRET]),
        ({"BRIDGE_SUPPLIER_API_KEY": DEMO_API_KEY}, ["--api-secret", "-"], [DEMO_API_SECRET]),
    ],
    ids=["environment", "stdin-both", "environment-and-stdin"],
)
def test_supplier_keys_need_not_be_arguments(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    supplier_url: tuple[SupplierSimulator, str],
    env: dict[str, str],
    argv: list[str],
    lines: list[str],
) -> None:
    sim, url = supplier_url
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    stdin(monkeypatch, *lines)

    code, out, err = run(capsys, "suppliers", "add", "clone", "--base-url", url, *argv)

    # The simulator accepts only the demo key and secret: the check proves both arrived.
    assert (code, err) == (0, "")
    assert out.strip() == "supplier clone saved (checked, balance 10,000,000)"
    assert sim.calls == [("GET", "/api/v1/account/balance")]
    row = stored(cli_env, "suppliers", "name", "clone")
    assert BOX.decrypt(row["api_key_enc"]) == DEMO_API_KEY
    assert BOX.decrypt(row["api_secret_enc"]) == DEMO_API_SECRET


def test_a_wrong_secret_from_standard_input_is_refused_like_any_other(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    supplier_url: tuple[SupplierSimulator, str],
) -> None:
    _, url = supplier_url
    stdin(monkeypatch, DEMO_API_KEY, "sk_secret_" + "0" * 64)
    argv = ["--api-key", "-", "--api-secret", "-"]

    code, _, err = run(capsys, "suppliers", "add", "clone", "--base-url", url, *argv)

    assert code == 2
    assert "INVALID_API_SECRET" in err
    assert "sk_secret_" not in err


@pytest.mark.parametrize(
    ("argv", "lines", "message"),
    [
        ([], [], "missing: give --api-key - with the value on standard input, or set"),
        (["--api-key", "-"], [], "standard input, which gave none"),
        (["--api-key", "-", "--api-secret", "-"], [DEMO_API_KEY], "which gave none"),
    ],
    ids=["missing", "empty-stdin", "one-line-for-two"],
)
def test_a_secret_not_given_without_a_terminal_is_a_usage_error(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    lines: list[str],
    message: str,
) -> None:
    stdin(monkeypatch, *lines)
    base = ["suppliers", "add", "clone", "--base-url", "https://caoshop.net/api/v1", "--offline"]

    code, _, err = run(capsys, *base, *argv)

    assert code == 2
    assert message in err
    if not argv:
        assert "BRIDGE_SUPPLIER_API_KEY" in err
    code, out, _ = run(capsys, "suppliers", "list", "--json")
    assert json.loads(out) == [], "nothing saved"


def test_the_help_names_each_secret_option_environment_variable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, shops_help, _ = run(capsys, "shops", "add", "--help")
    _, suppliers_help, _ = run(capsys, "suppliers", "add", "--help")
    flat = " ".join((shops_help + suppliers_help).split())
    for name in (
        "BRIDGE_PANCAKE_API_KEY",
        "BRIDGE_WEBHOOK_SECRET",
        "BRIDGE_SUPPLIER_API_KEY",
        "BRIDGE_SUPPLIER_API_SECRET",
    ):
        assert f"[env var: {name}]" in flat
    assert flat.count("`-` reads it from standard input") == 4


def read_until(fd: int, wanted: str, seen: list[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while wanted not in "".join(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no {wanted!r} on the terminal; it shows {''.join(seen)!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 1024)
            except OSError:  # the child closed the terminal
                chunk = b""
            assert chunk, f"the command ended before {wanted!r}: {''.join(seen)!r}"
            seen.append(chunk.decode(errors="replace"))


def test_missing_secrets_are_asked_for_without_echo_on_a_terminal(cli_env: Path) -> None:  # noqa: F811
    key, secret = "pk-typed-at-the-prompt", "typed-webhook-secret-1234"
    env = clean_environment()
    env.update(BRIDGE_DATABASE_URL=f"sqlite:///{cli_env}", BRIDGE_SECRET_KEY=SECRET_KEY)
    master, child = os.openpty()
    # The child is a session leader (start_new_session) and opens the terminal by name, which
    # makes it its controlling terminal: the hidden prompt reads /dev/tty, as for a person.
    on_terminal = (
        "import os, sys; fd = os.open(sys.argv[1], os.O_RDWR); [os.dup2(fd, n) for n in (0, 1, 2)];"
        " os.execv(sys.executable, [sys.executable, '-m', 'bridge.cli', *sys.argv[2:]])"
    )
    argv = [sys.executable, "-c", on_terminal, os.ttyname(child), "shops", "add", "9"]
    argv.append("--offline")  # no Pancake here: the prompts are what is tested
    process = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, close_fds=True)
    seen: list[str] = []
    try:
        # The space after the colon is getpass's: echo is off by then (click prints the rest
        # first, and input typed before getpass takes the terminal is flushed).
        read_until(master, "Pancake API key: ", seen)
        os.write(master, key.encode() + b"\r")
        read_until(master, "Webhook secret: ", seen)
        os.write(master, secret.encode() + b"\r")
        read_until(master, "shop 9 saved", seen)
    finally:
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()  # the test failed waiting for a prompt; the command waits for input
            code = process.wait()
        os.close(child)  # held open until now: closing it early makes the terminal hang up
        os.close(master)
    assert code == 0
    assert key not in "".join(seen)
    assert secret not in "".join(seen)
    row = stored(cli_env, "pancake_shops", "shop_id", "9")
    assert BOX.decrypt(row["api_key_enc"]) == key
    assert BOX.matches(secret, row["webhook_secret_digest"])


def shop(capsys: pytest.CaptureFixture[str], shop_id: str) -> dict[str, Any]:
    code, out, _ = run(capsys, "shops", "list", "--json")
    assert code == 0
    [found] = [s for s in json.loads(out) if s["shop_id"] == shop_id]
    return dict(found)


def test_shops_add_changes_only_what_it_is_told(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "first-webhook-secret-0001"
    stdin(monkeypatch, "pk-first", secret)
    argv = ["--warehouse-id", "W-2", "--trigger-status", "1,20"]
    code, _, err = run(
        capsys, "shops", "add", "4", "--api-key", "-", "--offline", "--webhook-secret", "-", *argv
    )
    assert (code, err) == (0, "")

    # Rotating the Pancake key, as the README's safe form does it.
    stdin(monkeypatch, "pk-rotated")
    assert run(capsys, "shops", "add", "4", "--api-key", "-", "--offline")[0] == 0

    assert (shop(capsys, "4")["warehouse_id"], shop(capsys, "4")["trigger_statuses"]) == (
        "W-2",
        [1, 20],
    )
    row = stored(cli_env, "pancake_shops", "shop_id", "4")
    assert BOX.decrypt(row["api_key_enc"]) == "pk-rotated"
    assert BOX.matches(secret, row["webhook_secret_digest"]), "the webhook secret is kept"

    assert run(capsys, "shops", "add", "4", "--trigger-status", "8")[0] == 0
    assert run(capsys, "shops", "add", "4", "--warehouse-id", "")[0] == 0
    assert (shop(capsys, "4")["warehouse_id"], shop(capsys, "4")["trigger_statuses"]) == (None, [8])
    row = stored(cli_env, "pancake_shops", "shop_id", "4")
    assert BOX.decrypt(row["api_key_enc"]) == "pk-rotated"


def test_a_new_shop_needs_both_secrets(
    cli_env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stdin(monkeypatch)
    code, _, err = run(capsys, "shops", "add", "5", "--api-key", "pk-5", "--offline")

    assert code == 2
    assert "--webhook-secret" in err
    assert "BRIDGE_WEBHOOK_SECRET" in err
    code, out, _ = run(capsys, "shops", "list", "--json")
    assert json.loads(out) == []
