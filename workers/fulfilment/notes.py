"""What the bridge appends to a Pancake order note: credential blocks and delay notices.

Each block is delimited by markers carrying the fulfilment id, so staff can tell where their own
text ends. A credential that is already in the note is never written again, so a retried or
duplicated annotate, or a crash between the PUT and the commit, adds nothing; a partial delivery
writes what arrived and later only the rest.
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


def unwritten(note: str, credentials: Sequence[str]) -> list[str]:
    return [credential for credential in credentials if credential not in note]


def delay_marker(fulfilment_id: int) -> str:
    return f"[pancake-bridge #{fulfilment_id}]"


def render_delay_notice(fulfilment_id: int, item: str) -> str:
    """Customer-safe: no supplier, no reason, just that it is coming later."""
    return (
        f"{delay_marker(fulfilment_id)} {item}: giao hàng bị chậm, chúng tôi sẽ gửi ngay khi có. "
        "(Delivery is delayed; it will be sent as soon as it is ready.)"
    )


def without_delay_notice(note: str, fulfilment_id: int) -> str:
    """The note without the line's delay notice (its own line, as ``append_blocks`` wrote it);
    staff text and other lines' notices stay as they are."""
    marker = delay_marker(fulfilment_id) + " "
    kept: list[str] = []
    for text in note.split("\n"):
        if text.startswith(marker):
            if kept and not kept[-1]:
                kept.pop()  # the blank line append_blocks put before it
            continue
        kept.append(text)
    return "\n".join(kept)


def append_blocks(note: str, blocks: Sequence[str]) -> str:
    """Staff text first, untouched; each block after a blank line."""
    parts = [note.rstrip("\n")] if note.strip() else []
    return "\n\n".join([*parts, *blocks])
