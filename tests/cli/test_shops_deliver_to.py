"""`bridge shops add --deliver-to`: which of an order's notes a shop's credentials go to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_main import cli_env, run

__all__ = ["cli_env"]  # the fixture

ADD = ("shops", "add", "4")
SECRETS = ("--api-key", "k", "--offline", "--webhook-secret", "w" * 20)


def delivers_to(capsys: pytest.CaptureFixture[str]) -> str:
    code, out, _ = run(capsys, "shops", "list", "--json")
    assert code == 0
    [shop] = json.loads(out)
    return str(shop["deliver_to"])


def test_a_new_shop_writes_the_internal_note_until_told_otherwise(
    cli_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *ADD, *SECRETS)
    assert code == 0
    assert "credentials are written to the order's note (internal)" in out
    assert delivers_to(capsys) == "note"

    code, out, _ = run(capsys, *ADD, "--deliver-to", "note_print")
    assert code == 0
    assert "note_print (printed, seen by the customer)" in out
    assert delivers_to(capsys) == "note_print"

    # Rotating a key keeps the choice; --deliver-to both changes it.
    assert run(capsys, *ADD, "--api-key", "k2", "--offline")[0] == 0
    assert delivers_to(capsys) == "note_print"
    assert run(capsys, *ADD, "--deliver-to", "both")[0] == 0
    assert delivers_to(capsys) == "both"


def test_an_unknown_note_is_refused(cli_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, *ADD, *SECRETS, "--deliver-to", "customer_note")
    assert code == 2
    assert "--deliver-to" in err
    assert run(capsys, "shops", "list", "--json")[1].strip() == "[]"
