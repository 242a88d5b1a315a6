"""The bridge's own vocabulary of states, in one light module (no database import).

The tables in ``bridge.models`` store these values; the workers, the CLI (whose ``--state``
choices come from here) and the tests all read them from this module. The groups below are the
only sets of states anywhere: a step that needs "lines waiting for the supplier" names
``AWAITING_DELIVERY`` instead of spelling the set again.
"""

from __future__ import annotations

from enum import StrEnum


class OrderState(StrEnum):
    PENDING = "pending"  # a webhook says it needs fulfilment; intake has not read it yet
    SYNCED = "synced"  # intake read it from Pancake and created its fulfilments
    SKIPPED = "skipped"  # Pancake says it is not (or no longer) in a trigger status
    CANCELLED = "cancelled"  # Pancake shows it cancelled, deleted or returned: the sale is off
    FAILED = "failed"  # intake gave up or refused the order; see last_error and failure_kind


class OrderFailure(StrEnum):
    """Why an order ended ``failed`` (``Order.failure_kind``; workers/fulfilment/failures.py
    ends it so)."""

    PANCAKE_KEY = "pancake_key"  # 401/403 reading it: retried when `shops add` changes the key
    PANCAKE_REFUSED = "pancake_refused"  # another refusal, or an answer that cannot be read
    PANCAKE_UNAVAILABLE = "pancake_unavailable"  # transient errors, max_step_failures times
    OUT_OF_RANGE = "out_of_range"  # values no real order has: refused, nothing stored or bought
    UNEXPECTED = "unexpected"  # a crash, max_step_failures times (a bug or a broken dependency)
    SHOP_REMOVED = "shop_removed"


class FulfilmentState(StrEnum):
    PENDING = "pending"  # ready to buy
    PURCHASING = "purchasing"  # an attempt is in flight; never buy again from here
    PURCHASE_UNKNOWN = "purchase_unknown"  # the supplier may or may not have sold it: settle first
    PURCHASED = "purchased"  # trans_id known; polling for credentials
    PARTIAL = "partially_delivered"  # some credentials arrived and are written; polling for more
    DELIVERED = "delivered"  # credentials stored; waiting to be written into the note
    ANNOTATED = "annotated"  # done: credentials are in the Pancake note
    NEEDS_ATTENTION = "needs_attention"  # a person must act (unmapped, balance, stock, field)
    FAILED = "failed"  # gave up after repeated errors; see reason
    CANCELLED = "cancelled"  # the order was cancelled in Pancake before this line was bought


# No worker moves a line out of these by itself; only an operator's retry or resend does.
TERMINAL = frozenset(
    {
        FulfilmentState.ANNOTATED,
        FulfilmentState.NEEDS_ATTENTION,
        FulfilmentState.FAILED,
        FulfilmentState.CANCELLED,
    }
)
# What `bridge fulfilments retry` applies to.
RETRYABLE = frozenset({FulfilmentState.NEEDS_ATTENTION, FulfilmentState.FAILED})
# The supplier may have sold units for these lines that its catalogue does not show yet.
BUYING = frozenset({FulfilmentState.PURCHASING, FulfilmentState.PURCHASE_UNKNOWN})
# Bought: the supplier's order exists and its credentials are awaited.
AWAITING_DELIVERY = frozenset({FulfilmentState.PURCHASED, FulfilmentState.PARTIAL})
# Credentials are stored that the note may not show yet.
WRITABLE = frozenset({FulfilmentState.DELIVERED, FulfilmentState.PARTIAL})


class AttemptOutcome(StrEnum):
    IN_FLIGHT = "in_flight"  # recorded before the call; still so if the worker died mid-call
    BOUGHT = "bought"
    REFUSED = "refused"  # a definite refusal (4xx with a code, 429): nothing was bought
    NOT_SENT = "not_sent"  # the connection was never made: nothing was bought
    UNKNOWN = "unknown"  # timeout, dropped connection, 5xx, or a worker killed mid-call


class Settlement(StrEnum):
    ADOPTED = "adopted"  # the supplier's order list showed the order: it is ours
    NOT_FOUND = "not_found"  # nothing matched after the settling delay: safe to buy again
    # Two orders could be it, or one that cannot be proven ours: a person decides (never a
    # re-buy, never a guess).
    AMBIGUOUS = "ambiguous"


class DelayNotice(StrEnum):
    """The customer-safe "delivery is delayed" line of a fulfilment (None: not needed)."""

    PENDING = "pending"  # to be written into the note
    WRITTEN = "written"


# The values above in the words a person uses (English). The console shows them translated (its
# catalogue has the Vietnamese: bridge/web/console/labels.py), the CLI's show commands as they
# are; both read them from here.
LINE_STATE_WORDS: dict[str, str] = {
    FulfilmentState.PENDING: "Waiting to buy",
    FulfilmentState.PURCHASING: "Buying",
    FulfilmentState.PURCHASE_UNKNOWN: "Bought? Checking with the supplier",
    FulfilmentState.PURCHASED: "Bought, waiting for the codes",
    FulfilmentState.PARTIAL: "Some codes received",
    FulfilmentState.DELIVERED: "Codes received, writing the note",
    FulfilmentState.ANNOTATED: "Done: codes in the note",
    FulfilmentState.NEEDS_ATTENTION: "Needs a person",
    FulfilmentState.FAILED: "Failed: gave up",
    FulfilmentState.CANCELLED: "Cancelled",
}

ORDER_STATE_WORDS: dict[str, str] = {
    OrderState.PENDING: "Received, not read yet",
    OrderState.SYNCED: "Read from Pancake",
    OrderState.SKIPPED: "Not to fulfil (Pancake status)",
    OrderState.CANCELLED: "Cancelled",
    OrderState.FAILED: "Failed",
}

OUTCOME_WORDS: dict[str, str] = {
    AttemptOutcome.IN_FLIGHT: "Under way",
    AttemptOutcome.BOUGHT: "Bought",
    AttemptOutcome.REFUSED: "Refused by the supplier",
    AttemptOutcome.NOT_SENT: "Not sent",
    AttemptOutcome.UNKNOWN: "Unknown: being checked",
}
