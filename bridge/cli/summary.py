"""What `fulfilments show` and `orders show` share: states in the words a person uses, and
the customer's name.

The words of the states are ``bridge.states``' (the console shows the same words, translated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.states import (
    LINE_STATE_WORDS,
    ORDER_STATE_WORDS,
    OUTCOME_WORDS,
    FulfilmentState,
    Settlement,
)

if TYPE_CHECKING:
    from bridge.cli.driver import Reader
    from bridge.settings import Settings

SETTLEMENTS: dict[str, str] = {
    Settlement.ADOPTED: "found in the supplier's orders",
    Settlement.NOT_FOUND: "not in the supplier's orders",
    Settlement.AMBIGUOUS: "unclear: a person decides",
}

# What happens next to a line that needs nothing from anyone, by state.
LINE_GOES_ON: dict[str, str] = {
    FulfilmentState.PENDING: "nothing: the bridge buys it",
    FulfilmentState.PURCHASING: "nothing: the purchase is under way",
    FulfilmentState.PURCHASE_UNKNOWN: (
        "nothing: the bridge reads the supplier's orders to learn whether it was bought, "
        "and buys again only if it was not"
    ),
    FulfilmentState.PURCHASED: (
        "nothing: the bridge asks the supplier until it delivers (a manual plan can take hours)"
    ),
    FulfilmentState.PARTIAL: (
        "nothing: the codes received are in the note; the bridge waits for the rest"
    ),
    FulfilmentState.DELIVERED: "nothing: the bridge is writing the codes into the Pancake note",
    FulfilmentState.CANCELLED: "nothing: the order was cancelled in Pancake before it was bought",
}


def line_state(state: str) -> str:
    return LINE_STATE_WORDS.get(state, state)


def order_state(state: str) -> str:
    return ORDER_STATE_WORDS.get(state, state)


def outcome(attempt_outcome: str, settlement: str | None) -> str:
    words = OUTCOME_WORDS.get(attempt_outcome, attempt_outcome)
    return f"{words}, {SETTLEMENTS.get(settlement, settlement)}" if settlement else words


def customer(conn: Reader, current: Settings, order_pk: int) -> str:
    """The customer's name on the order, why it is not shown (it is kept encrypted), or ""
    when the order names nobody or was never read."""
    from bridge.cli.reads import order_copy
    from bridge.errors import SecretKeyMismatch, SettingsError
    from bridge.secrets import SecretBox
    from workers.fulfilment.customers import name_in

    try:
        box = SecretBox.for_settings(current)
    except SettingsError:
        return "not shown: BRIDGE_SECRET_KEY opens it"
    try:
        name = name_in(order_copy(conn, order_pk), box)
    except SecretKeyMismatch:
        return "not shown: BRIDGE_SECRET_KEY does not open it"
    return name or ""
