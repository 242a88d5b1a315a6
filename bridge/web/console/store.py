"""Sessions for the console's reads: on SQLite they never take (or wait for) the write lock, so
an operator browsing never holds up the webhook writer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bridge.db import READ_ONLY


def read_only(engine: Engine) -> Engine:
    """``engine`` with every connection read-only (for the admin library's per-request session)."""
    return engine.execution_options(**{READ_ONLY: True})


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    with Session(read_only(engine)) as session:
        yield session
