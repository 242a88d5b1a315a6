"""Alembic environment: the models' metadata, the URL from the bridge settings (or a caller)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

# Every room's tables (each room keeps its own in its models.py).
import bridge.models  # noqa: F401
import bridge.pancake.models  # noqa: F401
import bridge.supplier.models  # noqa: F401
import bridge.web.console.models  # noqa: F401
import mappings.models  # noqa: F401
import workers.alerts.models  # noqa: F401
import workers.fulfilment.models  # noqa: F401
import workers.queue.models  # noqa: F401
import workers.stock.models  # noqa: F401
import workers.suppliers.models  # noqa: F401
from bridge.db import make_engine
from bridge.settings import get_settings

config = context.config
url = config.attributes.get("database_url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=url, target_metadata=SQLModel.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                render_as_batch=True,  # SQLite alters tables by copying them
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        # A migration refused (a user that may not create tables) leaves no pooled connection.
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
