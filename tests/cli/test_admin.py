"""``bridge admin``: users are made from the command line, their password never on it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text

from tests.conftest import bridge_cli, clean_environment

SECRET_KEY = "Zq8v-Tn3pXw7LmR2sKd9Yb4hGc6Jf1Ua"


def admin(
    tmp_path: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **clean_environment(),
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_SECRET_KEY": SECRET_KEY,
        **env,
    }
    return subprocess.run(
        bridge_cli("admin", *args),
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def test_add_user_reads_the_password_from_stdin_or_the_environment(tmp_path: Path) -> None:
    added = admin(tmp_path, "add-user", "alice", "--password", "-", stdin="mật khẩu dài lắm\n")
    assert added.returncode == 0, added.stderr
    again = admin(tmp_path, "add-user", "alice", BRIDGE_CONSOLE_PASSWORD="another long one")
    assert again.returncode == 0
    assert "sessions ended" in again.stdout
    listed = admin(tmp_path, "list-users", "--json")
    assert [user["username"] for user in json.loads(listed.stdout)] == ["alice"]
    assert "hash" not in listed.stdout
    engine = create_engine(f"sqlite:///{tmp_path / 'bridge.db'}")
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT password_hash FROM console_users")).scalar_one()
    engine.dispose()
    assert stored.startswith("$argon2id$")
    assert "another" not in stored
    assert "another long one" not in (tmp_path / "bridge.db").read_bytes().decode("latin-1")


def test_a_short_or_missing_password_is_refused(tmp_path: Path) -> None:
    short = admin(tmp_path, "add-user", "bob", "--password", "-", stdin="short\n")
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    missing = admin(tmp_path, "add-user", "bob")  # no terminal, nothing given
    assert missing.returncode == 2
    assert "BRIDGE_CONSOLE_PASSWORD" in missing.stderr
    assert json.loads(admin(tmp_path, "list-users", "--json").stdout) == []
    assert admin(tmp_path, "remove-user", "bob").returncode == 1
