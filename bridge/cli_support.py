"""What every `bridge` command group shares: opening the database, the secret box, tables."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Engine

from bridge.db import make_engine
from bridge.migrate import upgrade
from bridge.secrets import SecretBox
from bridge.settings import Settings


def secret_box(settings: Settings) -> SecretBox:
    return SecretBox(settings.require_secret_key())


def open_engine(settings: Settings) -> Engine:
    if settings.auto_migrate:
        upgrade(settings.database_url)
    return make_engine(settings.database_url)


def print_table(headers: list[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(none)")
