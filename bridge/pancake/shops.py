"""The shops the bridge serves: their records (Pancake key, webhook secret digest, warehouse,
trigger statuses, the moment from which orders are theirs to fulfil). A shop's webhook in Pancake
is set up by ``bridge.pancake.connect``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlmodel import Session, col, func, select

from bridge.errors import ConfigError, Failed, NotFound, Refused, SecretKeyMismatch
from bridge.models import Fulfilment
from bridge.pancake.models import DEFAULT_TRIGGER_STATUSES, PancakeShop
from bridge.pancake.vocabulary import CANCELLING, NoteDelivery
from bridge.secrets import SecretBox
from bridge.states import TERMINAL, FulfilmentState

if TYPE_CHECKING:
    from bridge.pancake.client import PancakeClient

# Where a shop's API key is found in Pancake, for the sentences that ask for it.
KEY_PAGE = "Cấu hình → Cấu hình ứng dụng → API KEY"


@dataclass(frozen=True)
class SavedShop:
    """What ``add_shop`` did: the row, whether it is new, and whether its Pancake key changed
    (orders that failed on the old key can then be retried)."""

    shop: PancakeShop
    created: bool
    key_changed: bool


def add_shop(
    session: Session,
    box: SecretBox,
    shop_id: str,
    *,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    warehouse_id: str | None = None,
    trigger_statuses: Sequence[int] | None = None,
    fulfil_from: datetime | None = None,
    deliver_to: NoteDelivery | None = None,
) -> SavedShop:
    """Create a shop, or change what is given of an existing one.

    Whatever is None keeps its stored value, so rotating a key leaves the warehouse and the
    trigger statuses as they were; a new shop needs both secrets and starts with the default
    triggers and the first warehouse. ``warehouse_id=""`` goes back to the first warehouse.
    ``fulfil_from`` (an aware moment): orders created before it are not bought; a new shop's
    default is the moment it is added. ``deliver_to``: which of an order's notes gets the
    credentials (a new shop: the internal ``note``).
    """
    check_shop_values(
        api_key=api_key,
        webhook_secret=webhook_secret,
        trigger_statuses=trigger_statuses,
        fulfil_from=fulfil_from,
    )
    shop = session.get(PancakeShop, shop_id)
    created = shop is None
    if shop is None:
        if api_key is None or webhook_secret is None:
            raise ConfigError(
                f"shop {shop_id} is new: it needs its Pancake API key and its webhook secret"
            )
        shop = PancakeShop(
            shop_id=shop_id,
            api_key_enc="",
            webhook_secret_digest="",
            trigger_statuses=list(DEFAULT_TRIGGER_STATUSES),
        )
        shop.fulfil_from = shop.created_at
    key_changed = not created and api_key is not None and _stored_key(box, shop) != api_key
    if api_key is not None:
        shop.api_key_enc = box.encrypt(api_key)
    if webhook_secret is not None:
        shop.webhook_secret_digest = box.digest(webhook_secret)
    if warehouse_id is not None:
        shop.warehouse_id = warehouse_id or None
    if trigger_statuses:
        shop.trigger_statuses = list(trigger_statuses)
    if fulfil_from is not None:
        shop.fulfil_from = fulfil_from
    if deliver_to is not None:
        shop.deliver_to = NoteDelivery(deliver_to)
    session.add(shop)
    return SavedShop(shop, created=created, key_changed=key_changed)


def check_shop_values(
    *,
    api_key: str | None = None,
    webhook_secret: str | None = None,
    trigger_statuses: Sequence[int] | None = None,
    fulfil_from: datetime | None = None,
) -> None:
    """What ``add_shop`` refuses without looking anything up: a caller checks these first, so a
    typing mistake is told before a network read."""
    if fulfil_from is not None and fulfil_from.tzinfo is None:
        raise ConfigError("the moment orders are fulfilled from needs a time zone (UTC)")
    if webhook_secret is not None and len(webhook_secret) < 16:
        raise ConfigError("the webhook secret must be at least 16 characters")
    if api_key is not None and not api_key:
        raise ConfigError("the Pancake API key must not be empty")
    cancelling = sorted(set(trigger_statuses or ()) & CANCELLING)
    if cancelling:
        raise ConfigError(
            f"trigger statuses {cancelling} mean the sale is off (cancelled, deleted or "
            "returned): an order in them is never fulfilled"
        )


def shop_exists(session: Session, shop_id: str) -> bool:
    return session.get(PancakeShop, shop_id) is not None


def get_shop(session: Session, shop_id: str) -> PancakeShop:
    shop = session.get(PancakeShop, shop_id)
    if shop is None:
        raise NotFound(f"no shop {shop_id}: add it first (bridge shops add {shop_id})")
    return shop


def _stored_key(box: SecretBox, shop: PancakeShop) -> str | None:
    """The shop's stored Pancake key; None when it does not open (so any key is a change)."""
    try:
        return box.decrypt(shop.api_key_enc)
    except SecretKeyMismatch:
        return None


def list_shops(session: Session) -> list[PancakeShop]:
    return list(session.exec(select(PancakeShop).order_by(PancakeShop.shop_id)))


def read_shop(client: PancakeClient, shop_id: str) -> int:
    """Prove that ``client``'s key opens shop ``shop_id`` in Pancake, before anything is saved:
    one read of the shop's warehouses (``GET /shops/<id>/warehouses``, cheap, and what the stock
    sync needs anyway). Returns how many warehouses it has.

    A refusal becomes a ``ConfigError`` saying which: when the read is refused, ``GET /shops``
    (the shops the key opens) tells a wrong key (refused too) from a shop id the key does not
    open. Pancake not answering is ``Failed``: nothing is wrong with what was typed.
    """
    from bridge.pancake.errors import PancakeRequestError, PancakeUnavailable

    try:
        return len(client.list_warehouses(shop_id))
    except PancakeUnavailable as exc:
        raise Failed(
            f"Pancake did not answer ({exc}): nothing was saved; try again, or save it unchecked "
            "with --offline"
        ) from None
    except PancakeRequestError as exc:
        refused = exc
    try:
        opened = client.list_shops()
    except PancakeUnavailable as exc:
        raise Failed(
            f"Pancake did not answer ({exc}): nothing was saved; try again, or save it unchecked "
            "with --offline"
        ) from None
    except PancakeRequestError:
        raise ConfigError(
            f"Pancake refused the API key (HTTP {refused.status}): nothing was saved, the "
            f"stored key (if any) is kept; copy shop {shop_id}'s key from Pancake ({KEY_PAGE})"
        ) from None
    others = sorted({i for shop in opened for i in ([shop.id] if shop.id else shop.page_shop_ids)})
    listed = f"it opens shop {', '.join(others)}" if others else "it opens other shops"
    if shop_id in others:
        # The key opens the shop, yet its warehouses were refused: say what Pancake said.
        raise ConfigError(f"Pancake refused to show shop {shop_id} ({refused}): nothing was saved")
    raise ConfigError(
        f"Pancake has no shop {shop_id} for this key ({listed}): nothing was saved; check the "
        "shop id (the number in the shop's Pancake address) and that the key is that shop's"
    )


@dataclass(frozen=True)
class Switched:
    """What ``set_shop_enabled`` did; ``changed`` False: it was so already. ``disabled_at``: when
    the shop was disabled (before an enable: the moment its held orders date from)."""

    changed: bool
    disabled_at: datetime | None


def set_shop_enabled(session: Session, shop_id: str, enabled: bool, now: datetime) -> Switched:
    """Enable or disable a shop. Disabled, its orders are recorded and skipped, not bought, and
    the catch-up and stock sync leave it alone; lines taken in before stay on their way (they
    were accepted, some bought: their credentials still go into the note)."""
    shop = get_shop(session, shop_id)
    since = shop.disabled_at
    if shop.enabled == enabled:
        return Switched(False, since)
    shop.enabled = enabled
    shop.disabled_at = None if enabled else now
    session.add(shop)
    return Switched(True, since)


def lines_in_flight(session: Session, shop_id: str) -> int:
    """The shop's lines a worker still moves (bought or being bought, credentials on their
    way): only the shop's key can write their credentials into its orders."""
    # Named as the states it is in (not "not terminal"): ix_fulfilments_shop_state then reads
    # the few moving lines instead of every line the shop ever had.
    moving = sorted(set(FulfilmentState) - TERMINAL)
    statement = select(func.count()).where(
        Fulfilment.shop_id == shop_id, col(Fulfilment.state).in_(moving)
    )
    return int(session.exec(statement).one())


def remove_shop(session: Session, shop_id: str) -> PancakeShop:
    """Remove a shop: its key, secret and settings go; its orders, lines, purchase records,
    webhooks and mappings stay (a shop added again finds its mappings).

    Refused while lines are in flight: a line bought or being bought needs the shop's key to
    write its credentials into the order, and a removed shop has none. There is no forcing it:
    disable the shop (nothing new is bought, those lines finish) and remove it once they have.
    """
    shop = get_shop(session, shop_id)
    moving = lines_in_flight(session, shop_id)
    if moving:
        raise Refused(
            f"shop {shop_id} has {moving} line(s) in flight (bought or being bought, credentials "
            "on their way): only its key can write them into the orders, so it is not removed; "
            f"`bridge shops disable {shop_id}` stops new purchases now; remove it once they are "
            "done (`bridge shops list` counts them)"
        )
    session.delete(shop)
    return shop
