"""The audit trail of the mappings: every change, who made it, when, before and after.

Command functions call ``record`` in the same transaction as the change itself, so a change
and its trail commit (or roll back) together. ``actor`` is "cli" for the command line, or the
console user's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

# The models (and bridge.db, with SQLAlchemy) are imported where a change is written or the
# trail read with a session: `bridge mappings history` and `show` read the trail through the
# driver (bridge/cli/reads.py) and only call ``differences``.
if TYPE_CHECKING:
    from sqlmodel import Session

    from mappings.models import MappedVariation, MappingChange, MappingChoice

# Code that is neither the command line nor the console (the demo's sandbox, tests' worlds).
SYSTEM = "system"


class Action(StrEnum):
    ADD = "add"
    EDIT = "edit"
    REMOVE = "remove"
    ENABLE = "enable"
    DISABLE = "disable"


# What a choice's snapshot holds, in the order a diff lists it.
CHOICE_FIELDS = (
    "supplier_name",
    "plan_id",
    "units",
    "fields_template",
    "priority",
    "enabled",
    "stock_sync",
    "manual_stock",
    "max_cost",
)
VARIATION_FIELDS = ("name", "enabled")


def choice_snapshot(choice: MappingChoice) -> dict[str, Any]:
    return {name: getattr(choice, name) for name in CHOICE_FIELDS}


def variation_snapshot(variation: MappedVariation | None) -> dict[str, Any]:
    """A variation without its own row is enabled and unnamed."""
    if variation is None:
        return {"name": None, "enabled": True}
    return {name: getattr(variation, name) for name in VARIATION_FIELDS}


def record(
    session: Session,
    *,
    actor: str,
    action: Action,
    shop_id: str,
    variation_id: str,
    choice_id: int | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    source: str | None = None,
) -> MappingChange:
    from bridge.db import utcnow
    from mappings.models import MappingChange

    if not actor.strip():
        raise ValueError("a change needs an actor: 'cli' or the console user's name")
    change = MappingChange(
        at=utcnow(),
        actor=actor,
        action=action,
        shop_id=shop_id,
        variation_id=variation_id,
        choice_id=choice_id,
        before=before,
        after=after,
        source=source,
    )
    session.add(change)
    return change


def record_choice(
    session: Session,
    choice: MappingChoice,
    action: Action,
    *,
    actor: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    source: str | None = None,
) -> MappingChange:
    """``record`` for a change to one choice."""
    return record(
        session,
        actor=actor,
        action=action,
        shop_id=choice.shop_id,
        variation_id=choice.variation_id,
        choice_id=choice.id,
        before=before,
        after=after,
        source=source,
    )


@dataclass(frozen=True)
class Difference:
    field: str
    before: Any
    after: Any


class Change(Protocol):
    """What ``differences`` reads of a change: a model, or a row read without the models."""

    @property
    def before(self) -> dict[str, Any] | None: ...
    @property
    def after(self) -> dict[str, Any] | None: ...


def differences(change: Change) -> list[Difference]:
    """What the change altered, field by field (every field of an addition or a removal)."""
    before, after = change.before or {}, change.after or {}
    names = [
        name for name in (*CHOICE_FIELDS, *VARIATION_FIELDS) if name in before or name in after
    ]
    return [
        Difference(name, before.get(name), after.get(name))
        for name in dict.fromkeys(names)
        if change.before is None or change.after is None or before.get(name) != after.get(name)
    ]


def history(
    session: Session,
    *,
    shop_id: str | None = None,
    variation_id: str | None = None,
    choice_id: int | None = None,
    actor: str | None = None,
    limit: int | None = 50,
) -> list[MappingChange]:
    """The trail, newest first, narrowed by what is given."""
    from sqlmodel import col, select

    from mappings.models import MappingChange

    statement = select(MappingChange).order_by(col(MappingChange.id).desc())
    if shop_id is not None:
        statement = statement.where(MappingChange.shop_id == shop_id)
    if variation_id is not None:
        statement = statement.where(MappingChange.variation_id == variation_id)
    if choice_id is not None:
        statement = statement.where(MappingChange.choice_id == choice_id)
    if actor is not None:
        statement = statement.where(MappingChange.actor == actor)
    if limit is not None:
        statement = statement.limit(limit)
    return list(session.exec(statement))
