"""Bring a database to the newest schema with the migrations shipped inside the package.

``upgrade`` runs alembic. ``ensure_current`` is what every command runs before it opens the
database: it reads ``alembic_version`` with plain SQLAlchemy core and only imports alembic (a
large import) when the database is not at ``HEAD`` yet. ``HEAD`` must name the newest file in
``bridge/migrations/versions/``; tests/test_migrate.py compares it with alembic's own head.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).with_name("migrations")
# The revision of the newest migration (bridge/migrations/versions/0013_...).
HEAD = "0030"
VERSION_TABLE = "alembic_version"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Apply the missing migrations. Processes that start together (scaled workers, a host's
    web and workers at boot) take turns: the first applies them, the others then find the
    database current and apply nothing."""
    from alembic import command

    with _one_at_a_time(database_url):
        command.upgrade(alembic_config(database_url), "head")


# pg_advisory_lock's key for "migrating": any fixed number no other lock of the bridge uses.
MIGRATION_LOCK_KEY = 0x70616E63  # "panc"


@contextmanager
def _one_at_a_time(database_url: str) -> Iterator[None]:
    """A lock held while migrating: PostgreSQL's advisory lock (any host), a lock file beside
    an SQLite database (one host, as SQLite is)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                try:
                    yield
                finally:
                    conn.execute(
                        text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                    )
        finally:
            engine.dispose()
    elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        import fcntl

        with open(f"{url.database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    else:
        yield


def current_revisions(engine: Engine) -> set[str] | None:
    """The revisions ``alembic_version`` names, or None when the table does not exist."""
    from sqlalchemy import inspect, text

    # A read: on SQLite it must not take the write lock (see bridge.db.READ_ONLY).
    with engine.connect().execution_options(bridge_read_only=True) as conn:
        if not inspect(conn).has_table(VERSION_TABLE):
            return None
        rows = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
        return {str(row) for row in rows}


def ensure_current(database_url: str, *, engine: Engine | None = None) -> bool:
    """Migrate the database to ``HEAD`` unless it is there already; True when it migrated.

    ``engine`` (optional) is used for the version check, so a caller that opens the database
    anyway pays for one connection only.
    """
    if engine is None:
        from sqlalchemy import create_engine

        own = create_engine(database_url)
        try:
            revisions = current_revisions(own)
        finally:
            own.dispose()
    else:
        revisions = current_revisions(engine)
    if revisions == {HEAD}:
        return False
    upgrade(database_url)
    return True
