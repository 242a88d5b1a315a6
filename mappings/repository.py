"""Reading the mappings: choices, whole mappings, what is disabled, what orders asked for but
nothing maps. Changes are in ``mappings.commands``; every function here only reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from bridge.errors import ConfigError, NotFound
from bridge.models import Fulfilment, PurchaseAttempt
from bridge.states import RETRYABLE, AttemptOutcome, FulfilmentState
from mappings.models import MappedVariation, MappingChoice
from mappings.targets import Target, TargetError, missing_choice, target_from
from mappings.values import Paid as Paid
from mappings.values import Unmapped as Unmapped
from mappings.values import amount_text as amount_text
from mappings.values import parse_amount as parse_amount


def parse_fields(text: str | None, what: str = "--fields") -> dict[str, Any] | None:
    """A field template from its JSON text; None for none. ``what`` names it in the error."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(
        isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value.values()
    ):
        raise ConfigError(
            f'{what} must be a JSON object of strings, e.g. {{"email": "{{order.bill_email}}"}}'
        )
    return value


@dataclass(frozen=True)
class ChoiceView:
    """A choice with what its variation as a whole says: its name, and whether it is enabled."""

    choice: MappingChoice
    name: str | None
    mapping_enabled: bool

    @property
    def active(self) -> bool:
        """Bought and synced: the choice and its mapping are both enabled."""
        return self.choice.enabled and self.mapping_enabled


@dataclass(frozen=True)
class MappingView:
    """A variation's mapping: its name, whether it is enabled, its choices best first."""

    shop_id: str
    variation_id: str
    name: str | None
    enabled: bool
    choices: list[MappingChoice] = field(default_factory=list)


def _ordered() -> tuple[Any, ...]:
    return (
        col(MappingChoice.shop_id),
        col(MappingChoice.variation_id),
        col(MappingChoice.priority),
        col(MappingChoice.id),
    )


def list_choices(
    session: Session,
    *,
    shop_id: str | None = None,
    supplier_name: str | None = None,
    variation_id: str | None = None,
    disabled: bool = False,
) -> list[ChoiceView]:
    """Choices by shop, variation and priority (the order they are tried in). ``disabled``:
    only those not in use, because the choice or its whole mapping is disabled."""
    statement = (
        select(MappingChoice, MappedVariation)
        .outerjoin(
            MappedVariation,
            and_(
                col(MappedVariation.shop_id) == col(MappingChoice.shop_id),
                col(MappedVariation.variation_id) == col(MappingChoice.variation_id),
            ),
        )
        .order_by(*_ordered())
    )
    if shop_id is not None:
        statement = statement.where(MappingChoice.shop_id == shop_id)
    if supplier_name is not None:
        statement = statement.where(MappingChoice.supplier_name == supplier_name)
    if variation_id is not None:
        statement = statement.where(MappingChoice.variation_id == variation_id)
    views = [
        ChoiceView(choice, header.name if header else None, header.enabled if header else True)
        for choice, header in session.exec(statement)
    ]
    return [view for view in views if not view.active] if disabled else views


def find_choice(session: Session, choice_id: int) -> MappingChoice | None:
    return session.get(MappingChoice, choice_id)


def get_choice(session: Session, choice_id: int) -> MappingChoice:
    choice = find_choice(session, choice_id)
    if choice is None:
        raise missing_choice(choice_id)
    return choice


def get_mapping(session: Session, shop_id: str, variation_id: str) -> MappingView:
    header = session.get(MappedVariation, (shop_id, variation_id))
    statement = (
        select(MappingChoice)
        .where(MappingChoice.shop_id == shop_id, MappingChoice.variation_id == variation_id)
        .order_by(*_ordered())
    )
    choices = list(session.exec(statement))
    if not choices:
        raise NotFound(f"variation {variation_id} of shop {shop_id} has no mapping")
    return MappingView(
        shop_id,
        variation_id,
        header.name if header else None,
        header.enabled if header else True,
        choices,
    )


def list_grouped(
    session: Session, search: str = "", labels: dict[tuple[str, str], str] | None = None
) -> list[MappingView]:
    """Whole mappings (shop, variation, its choices best first), those whose shop, variation,
    name, supplier or plan contains ``search`` (any case) when it is given. ``labels``: other
    names to search by, per (shop, variation), e.g. what Pancake calls the variation."""
    grouped: dict[tuple[str, str], MappingView] = {}
    for view in list_choices(session):
        choice = view.choice
        key = (choice.shop_id, choice.variation_id)
        if key not in grouped:
            grouped[key] = MappingView(*key, view.name, view.mapping_enabled)
        grouped[key].choices.append(choice)
    needle = search.strip().casefold()
    if not needle:
        return list(grouped.values())
    return [
        mapping
        for mapping in grouped.values()
        if any(
            needle in text.casefold()
            for text in (
                mapping.shop_id,
                mapping.variation_id,
                mapping.name or "",
                (labels or {}).get((mapping.shop_id, mapping.variation_id), ""),
                *(f"{c.supplier_name} {c.plan_id}" for c in mapping.choices),
            )
        )
    ]


def last_paid(session: Session, shop_id: str, variation_id: str) -> dict[tuple[str, int], Paid]:
    """(supplier, plan) -> the last purchase the variation's lines made with it."""
    latest = (
        select(func.max(PurchaseAttempt.id))
        .join(Fulfilment, col(Fulfilment.id) == col(PurchaseAttempt.fulfilment_id))
        .where(
            Fulfilment.shop_id == shop_id,
            Fulfilment.variation_id == variation_id,
            PurchaseAttempt.outcome == AttemptOutcome.BOUGHT,
            col(PurchaseAttempt.part_of).is_(None),
        )
        .group_by(col(PurchaseAttempt.supplier_name), col(PurchaseAttempt.plan_id))
    )
    found = list(
        session.exec(
            select(PurchaseAttempt, Fulfilment)
            .join(Fulfilment, col(Fulfilment.id) == col(PurchaseAttempt.fulfilment_id))
            .where(col(PurchaseAttempt.id).in_(latest))
        )
    )
    ids = [attempt.id for attempt, _ in found]
    parts: dict[int, list[float | None]] = {}
    for part_of, amount in session.exec(
        select(PurchaseAttempt.part_of, PurchaseAttempt.amount).where(
            col(PurchaseAttempt.part_of).in_(ids)
        )
    ):
        if part_of is not None:
            parts.setdefault(part_of, []).append(amount)
    paid: dict[tuple[str, int], Paid] = {}
    for attempt, line in found:
        assert attempt.id is not None
        paid[(attempt.supplier_name, attempt.plan_id)] = Paid.summed(
            [attempt.amount, *parts.get(attempt.id, [])],
            line.quantity,
            attempt.trans_id,
            attempt.finished_at or attempt.started_at,
        )
    return paid


def waiting_lines(session: Session, shop_id: str, variation_id: str) -> list[Fulfilment]:
    """Lines of the variation parked for an operator (e.g. ordered before it was mapped)."""
    statement = (
        select(Fulfilment)
        .where(
            Fulfilment.shop_id == shop_id,
            Fulfilment.variation_id == variation_id,
            col(Fulfilment.state).in_(list(RETRYABLE)),
        )
        .order_by(col(Fulfilment.id))
    )
    return list(session.exec(statement))


def shops_mapping(session: Session, variation_id: str) -> list[str]:
    """The shops with a mapping of ``variation_id``."""
    return list(
        session.exec(
            select(MappingChoice.shop_id)
            .where(MappingChoice.variation_id == variation_id)
            .distinct()
        )
    )


def disabled_variations(session: Session) -> set[tuple[str, str]]:
    """(shop, variation) of every mapping disabled as a whole."""
    statement = select(MappedVariation.shop_id, MappedVariation.variation_id).where(
        col(MappedVariation.enabled).is_(False)
    )
    return {(shop_id, variation_id) for shop_id, variation_id in session.exec(statement)}


def _walk(session: Session, column: Any, *where: Any) -> list[str]:
    """The distinct values of ``column`` among the lines matching ``where``, in one statement
    that seeks ix_fulfilments_variation once per value (a recursive ``min(x) WHERE x > last``: a
    loose index scan, which neither SQLite nor PostgreSQL does by itself for a DISTINCT), so a
    year of lines over a few hundred variations costs a few hundred seeks, not a read of every
    line."""
    first = core_select(func.min(column).label("value")).where(column.is_not(None), *where)
    walk = first.cte("walk", recursive=True)
    following = core_select(func.min(column)).where(column > walk.c.value, *where)
    walk = walk.union_all(core_select(following.scalar_subquery()).where(walk.c.value.is_not(None)))
    found = session.connection().execute(core_select(walk.c.value).where(walk.c.value.is_not(None)))
    return [value for (value,) in found]


def unmapped(session: Session, shop_id: str | None = None) -> list[Unmapped]:
    """Variations of order lines that have no mapping at all, most recently seen first.

    Order lines are the record: intake makes one per line, mapped or not (an unmapped one waits
    in ``needs_attention``). A line without a variation id cannot be mapped and is left out.
    """
    shop_col, variation_col = col(Fulfilment.shop_id), col(Fulfilment.variation_id)
    mapped = {
        (choice_shop, variation)
        for choice_shop, variation in session.exec(
            select(MappingChoice.shop_id, MappingChoice.variation_id)
        )
    }
    waiting = func.sum(case((col(Fulfilment.state) == FulfilmentState.NEEDS_ATTENTION, 1), else_=0))
    shops = [shop_id] if shop_id is not None else _walk(session, shop_col)
    found = []
    for shop in shops:
        # The shop's variations (a walk of the index), then only the unmapped ones' lines.
        variations = [
            variation
            for variation in _walk(session, variation_col, shop_col == shop)
            if (shop, variation) not in mapped
        ]
        if not variations:
            continue
        # Seven columns: more than sqlmodel's typed select() spells, so SQLAlchemy's own.
        rows = session.connection().execute(
            core_select(
                variation_col,
                func.max(col(Fulfilment.item_name)),
                func.count(func.distinct(col(Fulfilment.order_id))),
                func.count(),
                waiting,
                func.max(col(Fulfilment.created_at)),
            )
            .where(shop_col == shop, variation_col.in_(variations))
            .group_by(variation_col)
        )
        found += [
            Unmapped(shop, variation, name, orders, lines, int(parked or 0), last)
            for variation, name, orders, lines, parked, last in rows
        ]
    return sorted(found, key=lambda row: (row.last_seen, row.shop_id), reverse=True)


def resolve_target(
    session: Session, shop: str | None, variation: str | None, choice: int | None
) -> Target:
    """``targets.target_from``, read with the ORM."""

    def place_of_choice(choice_id: int) -> tuple[str, str] | None:
        found = find_choice(session, choice_id)
        return None if found is None else (found.shop_id, found.variation_id)

    return target_from(
        shop,
        variation,
        choice,
        place_of_choice=place_of_choice,
        shops_mapping=lambda variation_id: shops_mapping(session, variation_id),
    )


def edited_choice(session: Session, target: Target) -> int:
    """The choice an edit of choice values means: the one named, or a mapping's only choice."""
    if target.choice_id is not None:
        return target.choice_id
    mapping = get_mapping(session, target.shop_id, target.variation_id)
    ids = [c.id for c in mapping.choices if c.id is not None]
    if len(ids) > 1:
        raise TargetError(
            f"the mapping has choices {', '.join(map(str, ids))}: say which with --choice",
            "'--choice'",
        )
    return ids[0]
