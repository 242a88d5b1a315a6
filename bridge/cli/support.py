"""What every command shares: the settings, the secret box and the database.

Everything heavy (pydantic settings, SQLAlchemy, the models) is imported inside these functions,
so that importing a command module, and ``bridge --help``, stays fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlmodel import Session

    from bridge.secrets import SecretBox
    from bridge.settings import Settings


def settings() -> Settings:
    """The settings from the environment (``BRIDGE_*``), with logging configured from them.

    Unusable values are a ``SettingsError`` naming the variables (never their values).
    """
    from pydantic import ValidationError

    from bridge.errors import SettingsError
    from bridge.logs import configure
    from bridge.settings import get_settings

    try:
        current = get_settings()
    except ValidationError as exc:
        problems = "; ".join(
            (f"BRIDGE_{str(problem['loc'][0]).upper()}: " if problem["loc"] else "")
            + problem["msg"]
            for problem in exc.errors(include_url=False, include_input=False)
        )
        raise SettingsError(f"the BRIDGE_* settings are not usable: {problems}") from None
    configure(current.log_level)
    return current


def secret_box(settings: Settings) -> SecretBox:
    """The box for stored secrets; refuses a missing or placeholder ``BRIDGE_SECRET_KEY``."""
    from bridge.secrets import SecretBox

    return SecretBox(settings.require_secret_key())


def open_engine(settings: Settings) -> Engine:
    """An engine on the database, migrated first when ``auto_migrate`` is on (and needed)."""
    from bridge.db import make_engine
    from bridge.migrate import ensure_current

    engine = make_engine(settings.database_url)
    if settings.auto_migrate:
        ensure_current(settings.database_url, engine=engine)
    return engine


@contextmanager
def database(settings: Settings) -> Iterator[Engine]:
    """``open_engine`` for the length of a command."""
    engine = open_engine(settings)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def writing(settings: Settings) -> Iterator[Session]:
    """A session that commits when the block ends without an error."""
    from bridge.db import session_scope

    with database(settings) as engine, session_scope(engine) as session:
        yield session


@contextmanager
def reading(settings: Settings) -> Iterator[Session]:
    """A read-only session: on SQLite it never waits for (or blocks) a writer."""
    from sqlmodel import Session

    from bridge.db import READ_ONLY

    with database(settings) as engine, Session(engine) as session:
        session.connection(execution_options={READ_ONLY: True})
        yield session
