"""The block of credentials the bridge appends to a Pancake order note.

Each block is delimited by markers carrying the fulfilment id, so the bridge can tell that a block
is already there (a retried or duplicated annotate writes nothing twice) and staff can tell where
their own text ends.
"""

from __future__ import annotations

from collections.abc import Sequence


def begin_marker(fulfilment_id: int) -> str:
    return f"==== pancake-bridge #{fulfilment_id} ===="


def end_marker(fulfilment_id: int) -> str:
    return f"==== end #{fulfilment_id} ===="


def render_block(fulfilment_id: int, title: str, credentials: Sequence[str]) -> str:
    lines = [begin_marker(fulfilment_id), title, *credentials, end_marker(fulfilment_id)]
    return "\n".join(lines)


def has_block(note: str, fulfilment_id: int) -> bool:
    return begin_marker(fulfilment_id) in note


def append_blocks(note: str, blocks: Sequence[str]) -> str:
    """Staff text first, untouched; each block after a blank line."""
    parts = [note.rstrip("\n")] if note.strip() else []
    return "\n\n".join([*parts, *blocks])
