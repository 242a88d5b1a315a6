"""Which supplier plan serves a variation, and the plan's ``fields`` filled from the order."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.logs import event
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.delivery import money
from bridge.supplier.models import PlanShelf, Supplier
from bridge.supplier.refusals import refusal_label, rules_out_choice
from bridge.supplier.shelf import shelves, short_of
from mappings.models import MappedVariation, MappingChoice

PLACEHOLDER = re.compile(r"\{order\.([A-Za-z0-9_.\-]+)\}")


class MissingField(ValueError):
    """A field template names an order value that the order does not have."""

    def __init__(self, field: str, path: str) -> None:
        super().__init__(f"missing field: {field} ({{order.{path}}} is empty in the order)")
        self.field = field
        self.path = path


def choices(session: Session, shop_id: str, variation_id: str) -> list[MappingChoice]:
    """The enabled (supplier, plan) choices for a variation, best first; none while its
    mapping as a whole is disabled."""
    header = session.get(MappedVariation, (shop_id, variation_id))
    if header is not None and not header.enabled:
        return []
    statement = (
        select(MappingChoice)
        .where(MappingChoice.shop_id == shop_id, MappingChoice.variation_id == variation_id)
        .where(col(MappingChoice.enabled).is_(True))
        .order_by(col(MappingChoice.priority), col(MappingChoice.id))
    )
    return list(session.exec(statement))


def render_fields(
    template: MappingABC[str, Any] | None, order: MappingABC[str, Any]
) -> dict[str, str] | None:
    """Fill ``{order.path}`` placeholders from the Pancake order; literals pass through."""
    if not template:
        return None
    rendered: dict[str, str] = {}
    for name, value in template.items():
        text = str(value)

        def substitute(match: re.Match[str], field: str = name) -> str:
            found = lookup(order, match.group(1))
            if found is None or found == "":
                raise MissingField(field, match.group(1))
            return str(found)

        rendered[name] = PLACEHOLDER.sub(substitute, text)
    return rendered


def lookup(document: MappingABC[str, Any], path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; None when any step is missing."""
    current: Any = document
    for part in path.split("."):
        if isinstance(current, MappingABC):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def placeholders(template: MappingABC[str, Any] | None) -> list[str]:
    """The order paths a template reads, for validating a mapping before it is saved."""
    return [
        m.group(1) for value in (template or {}).values() for m in PLACEHOLDER.finditer(str(value))
    ]


@dataclass(frozen=True)
class Chosen:
    mapping: MappingChoice
    supplier: Supplier
    fields: dict[str, str] | None


@dataclass(frozen=True)
class Wait:
    """Every usable choice is on a paused supplier: try again when the first pause ends."""

    until: datetime


@dataclass(frozen=True)
class NoChoice:
    reason: str
    mapped: bool  # False: the variation has no mapping at all


def unserved(session: Session, shop_id: str, variation_id: str) -> NoChoice:
    """Why a variation has no enabled choice: unmapped, its mapping disabled, or every choice."""
    if (
        session.exec(
            select(MappingChoice.id).where(
                MappingChoice.shop_id == shop_id, MappingChoice.variation_id == variation_id
            )
        ).first()
        is None
    ):
        return NoChoice(f"unmapped: variation {variation_id} has no mapping", mapped=False)
    header = session.get(MappedVariation, (shop_id, variation_id))
    if header is not None and not header.enabled:
        return NoChoice(
            f"disabled: the mapping of variation {variation_id} is disabled "
            "(`bridge mappings enable`)",
            mapped=True,
        )
    return NoChoice(
        f"disabled: every choice of variation {variation_id} is disabled "
        "(`bridge mappings enable --choice ID`)",
        mapped=True,
    )


def refused_choices(
    session: Session, fulfilment_id: int, since: datetime | None
) -> dict[tuple[str, int], str]:
    """(supplier, plan) -> the error code (``CART_ERROR (sold out)``) of single-line refusals
    that rule a choice out (``bridge.supplier.refusals.rules_out_choice``: the attempt keeps
    the supplier's message as its detail)."""
    statement = select(PurchaseAttempt).where(
        PurchaseAttempt.fulfilment_id == fulfilment_id,
        PurchaseAttempt.outcome == AttemptOutcome.REFUSED,
        col(PurchaseAttempt.batch_key).is_(None),
    )
    refused: dict[tuple[str, int], str] = {}
    for attempt in session.exec(statement):
        code = attempt.error_code
        if (
            code is not None
            and rules_out_choice(code, attempt.detail)
            and (since is None or attempt.started_at >= since)
        ):
            refused[(attempt.supplier_name, attempt.plan_id)] = refusal_label(code, attempt.detail)
    return refused


def choose(
    session: Session, line: Fulfilment, order: MappingABC[str, Any], now: datetime
) -> Chosen | Wait | NoChoice:
    """The best choice that can serve ``line`` now, in priority order.

    A choice the stock sync's last catalogue read showed sold out (or short of the units the
    line needs) is passed over for the next one that can be bought, without a request. When
    every choice that can be bought read sold out, the first of them is tried all the same:
    the reading may be stale, and only the supplier's refusal (``CART_ERROR``) proves it; the
    next run then passes over that one for good. A paused supplier's choices are not waited for
    while a sold-out reading can be tried.

    A choice the same reading prices above its max cost (``too_dear``) is never tried: a price
    is no stale hint but money, and the line needs a person when no other choice is left.
    """
    assert line.id is not None
    options = choices(session, line.shop_id, line.variation_id or "")
    if not options:
        return unserved(session, line.shop_id, line.variation_id or "")
    refused = refused_choices(session, line.id, line.retry_from)
    shelf = shelves(session, {(o.supplier_name, o.plan_id) for o in options}, now)
    retail = retail_price(order, line.variation_id or "")
    reasons: list[str] = []
    pause_ends: list[datetime] = []
    read_sold_out: list[Chosen] = []
    for option in options:
        where = f"supplier {option.supplier_name} plan {option.plan_id}"
        code = refused.get((option.supplier_name, option.plan_id))
        if code is not None:
            reasons.append(f"{code}: {where}")
            continue
        supplier = session.get(Supplier, option.supplier_name)
        if supplier is None or not supplier.enabled:
            reasons.append(f"{where}: supplier disabled")
            continue
        dear = too_dear(option, shelf.get((option.supplier_name, option.plan_id)), retail)
        if dear is not None:
            event("mapping.choice.too_dear", logging.WARNING, id=line.id, choice=option.id)
            reasons.append(f"{where}: {dear}")
            continue
        if supplier.paused_until is not None and supplier.paused_until > now:
            pause_ends.append(supplier.paused_until)
            reasons.append(f"{where}: supplier paused")
            continue
        try:
            fields = render_fields(option.fields_template, order)
        except MissingField as exc:
            reasons.append(str(exc))
            continue
        short = short_of(shelf.get((option.supplier_name, option.plan_id)), _units(line, option))
        if short is not None:
            reasons.append(f"{where}: {short}")
            read_sold_out.append(Chosen(option, supplier, fields))
            continue
        if read_sold_out:
            event("mapping.choice.passed_over", id=line.id, reasons="; ".join(reasons)[:300])
        return Chosen(option, supplier, fields)
    if read_sold_out:
        event("mapping.choice.tried_though_sold_out", id=line.id, reasons="; ".join(reasons)[:300])
        return read_sold_out[0]
    if pause_ends:
        return Wait(min(pause_ends))
    return NoChoice("; ".join(reasons), mapped=True)


# Half a cent: prices are decimal strings read as floats, and equal to the limit is within it.
_PRICE_SLACK = 0.005


def retail_price(order: MappingABC[str, Any], variation_id: str) -> float | None:
    """The Pancake retail price of one item of the variation, as the order shows it (its item's
    ``variation_info.retail_price``, the price when the order was read); None when the order
    does not say, or says 0 (a price nobody set is no limit)."""
    items = order.get("items")
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, MappingABC) or str(item.get("variation_id")) != variation_id:
            continue
        info = item.get("variation_info")
        price = info.get("retail_price") if isinstance(info, MappingABC) else None
        if isinstance(price, int | float) and not isinstance(price, bool) and price > 0:
            return float(price)
    return None


def too_dear(choice: MappingChoice, reading: PlanShelf | None, retail: float | None) -> str | None:
    """Why one POS item bought with ``choice`` would cost more than its max cost now, by the
    stock sync's last catalogue read (``reading``, never older than the shelf keeps); None when
    it would not, or the price or the limit is not known.

    The limit is the choice's ``max_cost``, else ``retail`` (the item's Pancake retail price):
    by default the bridge never buys at a loss. The reason names the price the choice was saved
    at (``checked_price``), so "price rose from 75,000 to 120,000".
    """
    if reading is None or reading.final_price is None:
        return None
    limit = choice.max_cost if choice.max_cost is not None else retail
    cost = reading.final_price * choice.units
    if limit is None or cost <= limit + _PRICE_SLACK:
        return None
    was, now = choice.checked_price, reading.final_price
    said = (
        f"price rose from {money(was)} to {money(now)}"
        if was is not None and now > was
        else f"price {money(now)}"
    )
    if choice.units != 1:
        said += f" (x {choice.units} units: {money(cost)})"
    whose = "" if choice.max_cost is not None else " (the Pancake retail price)"
    when = reading.read_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{said} at the catalogue read of {when}, above the max cost {money(limit)}{whose}; "
        f"to buy at it: `bridge mappings edit --choice {choice.id} --max-cost AMOUNT`"
    )


def _units(line: Fulfilment, option: MappingChoice) -> int:
    """The supplier units the line buys with ``option``."""
    return line.quantity * option.units
