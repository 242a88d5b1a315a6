"""Which supplier plan serves a variation, and the plan's ``fields`` filled from the order."""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import AttemptOutcome
from bridge.supplier.models import Supplier
from bridge.supplier.vocabulary import FALLBACK_CODES
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
    """(supplier, plan) -> error code of single-line refusals that rule a choice out."""
    statement = select(PurchaseAttempt).where(
        PurchaseAttempt.fulfilment_id == fulfilment_id,
        PurchaseAttempt.outcome == AttemptOutcome.REFUSED,
        col(PurchaseAttempt.batch_key).is_(None),
    )
    refused: dict[tuple[str, int], str] = {}
    for attempt in session.exec(statement):
        if attempt.error_code in FALLBACK_CODES and (since is None or attempt.started_at >= since):
            refused[(attempt.supplier_name, attempt.plan_id)] = attempt.error_code
    return refused


def choose(
    session: Session, line: Fulfilment, order: MappingABC[str, Any], now: datetime
) -> Chosen | Wait | NoChoice:
    """The best choice that can serve ``line`` now, in priority order."""
    assert line.id is not None
    options = choices(session, line.shop_id, line.variation_id or "")
    if not options:
        return unserved(session, line.shop_id, line.variation_id or "")
    refused = refused_choices(session, line.id, line.retry_from)
    reasons: list[str] = []
    pause_ends: list[datetime] = []
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
        if supplier.paused_until is not None and supplier.paused_until > now:
            pause_ends.append(supplier.paused_until)
            reasons.append(f"{where}: supplier paused")
            continue
        try:
            fields = render_fields(option.fields_template, order)
        except MissingField as exc:
            reasons.append(str(exc))
            continue
        return Chosen(option, supplier, fields)
    if pause_ends:
        return Wait(min(pause_ends))
    return NoChoice("; ".join(reasons), mapped=True)
