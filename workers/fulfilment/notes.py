"""What the bridge appends to a Pancake order note: credential blocks and delay notices.

Each block is delimited by markers carrying the fulfilment id, so staff can tell where their own
text ends. A credential that is already in the note is never written again, so a retried or
duplicated annotate, or a crash between the PUT and the commit, adds nothing; a partial delivery
writes what arrived and later only the rest. An order completed with nothing to hand over gets
one block that says so, written once (its marker is the proof).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bridge.pancake.vocabulary import NoteDelivery, NoteField


def begin_marker(fulfilment_id: int) -> str:
    return f"==== pancake-bridge #{fulfilment_id} ===="


def end_marker(fulfilment_id: int) -> str:
    return f"==== end #{fulfilment_id} ===="


def render_block(fulfilment_id: int, title: str, credentials: Sequence[str]) -> str:
    lines = [begin_marker(fulfilment_id), title, *credentials, end_marker(fulfilment_id)]
    return "\n".join(lines)


def unwritten(note: str, credentials: Sequence[str]) -> list[str]:
    return [credential for credential in credentials if credential not in note]


# The block of an order the supplier completed with nothing to hand over (a plan that upgrades
# the customer's own account): the note says what was done instead of staying silent.
NOTHING_TO_HAND_OVER = "completed by the supplier, nothing to hand over"


def render_done_block(fulfilment_id: int, title: str) -> str:
    return render_block(fulfilment_id, title, [NOTHING_TO_HAND_OVER])


def has_block(note: str, fulfilment_id: int) -> bool:
    return begin_marker(fulfilment_id) in note


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


@dataclass(frozen=True)
class NoteLine:
    """What one line asks of the order's notes."""

    id: int
    title: str
    # Credentials stored for it, each to be in every field the shop delivers to.
    credentials: Sequence[str] = ()
    # Completed with nothing to hand over: its done block stands for the credentials.
    nothing_to_hand_over: bool = False
    # The item its delay notice names, when one is due (to the field the customer reads).
    delay_item: str | None = None
    # Delivered in full: its delay notice, wherever it is, goes.
    delivered: bool = False

    def pieces(self, text: str, *, credentials: bool, customer: bool) -> list[str]:
        """What ``text`` still lacks of this line: in a field that takes ``credentials``, in
        the one the ``customer`` reads."""
        pieces: list[str] = []
        if credentials:
            new = unwritten(text, self.credentials)
            if new:
                pieces.append(render_block(self.id, self.title, new))
            elif self.nothing_to_hand_over and not has_block(text, self.id):
                pieces.append(render_done_block(self.id, self.title))
        if customer and self.delay_item is not None and delay_marker(self.id) not in text:
            pieces.append(render_delay_notice(self.id, self.delay_item))
        return pieces


@dataclass(frozen=True)
class NewNote:
    """One field's new text, and what of its old text it kept (staff's, earlier blocks)."""

    kept: str
    text: str


def plan_notes(
    lines: Sequence[NoteLine], shown: Mapping[NoteField, str], delivery: NoteDelivery
) -> dict[NoteField, NewNote]:
    """The fields to write, each with its new text: what the order ``shown`` lacks of
    ``lines`` appended below what it holds, less the delay notices of lines delivered since.
    Empty when the order already holds it all: nothing to write."""
    planned: dict[NoteField, NewNote] = {}
    for field, text in shown.items():
        kept = text
        for line in lines:
            if line.delivered:
                kept = without_delay_notice(kept, line.id)
        takes_credentials = field in delivery.credential_fields
        is_customers = field == delivery.customer_field
        pieces = [
            piece
            for line in lines
            for piece in line.pieces(kept, credentials=takes_credentials, customer=is_customers)
        ]
        new = append_blocks(kept, pieces) if pieces else kept
        if new != text:
            planned[field] = NewNote(kept.strip(), new)
    return planned


def unlanded(
    lines: Sequence[NoteLine], shown: Mapping[NoteField, str], delivery: NoteDelivery
) -> dict[int, list[NoteField]]:
    """The lines whose text the order ``shown`` after a write lacks, with the fields it lacks it
    in; empty when every line's text landed."""
    missing: dict[int, list[NoteField]] = {}
    for field, text in shown.items():
        takes_credentials = field in delivery.credential_fields
        is_customers = field == delivery.customer_field
        for line in lines:
            if line.pieces(text, credentials=takes_credentials, customer=is_customers):
                missing.setdefault(line.id, []).append(field)
    return missing


def lost_text(planned: Mapping[NoteField, NewNote], shown: Mapping[NoteField, str]) -> list[str]:
    """The fields written whose earlier text (staff's, earlier blocks) the order ``shown`` after
    the write no longer holds."""
    return [
        field.value
        for field, new in planned.items()
        if _newlines(new.kept) not in _newlines(shown.get(field, ""))
    ]


def _newlines(text: str) -> str:
    # A server may store line ends as CRLF: the text is the same.
    return text.replace("\r\n", "\n")
