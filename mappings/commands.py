"""Changing the mappings: add, edit, remove, enable and disable a choice or a whole mapping.

Command functions for the command line and the web console alike. Each changes rows in the
caller's session, records the change in the audit trail (``mappings.audit``) in the same
transaction, and returns what it did; the caller commits. ``actor`` is "cli" or the console
user's name. An operator's mistake is a ``ConfigError`` (or ``NotFound``) whose message says
what to do; nothing here prints.

Nothing here calls Pancake or a supplier: ``catalogues`` (``bridge.supplier.catalogue.
read_catalogues``) and ``variations`` (the shop's Pancake variations), read before the
transaction, are what a choice is checked against (``mappings.verify``); None saves it unchecked.
The placeholders of a field template need no network and are always checked. A choice that
would lose money on every sale is refused unless ``allow_loss``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from bridge.db import utcnow
from bridge.errors import ConfigError
from bridge.pancake.models import PancakeShop
from bridge.supplier.catalogue import Catalogues, PlanInfo
from bridge.supplier.models import Supplier
from mappings import audit, repository
from mappings.audit import Action
from mappings.models import MappedVariation, MappingChoice
from mappings.verify import (
    ShopVariations,
    check_placeholders,
    verify_choice,
    verify_margin,
    verify_typed,
    verify_variation,
)

# Intake refuses longer ids, or ids with control characters, as no Pancake id looks like that.
MAX_ID_LENGTH = 128


def clean_id(value: str, what: str) -> str:
    text = value.strip()
    if not text:
        raise ConfigError(f"the {what} must not be empty")
    if len(text) > MAX_ID_LENGTH or not text.isprintable():
        raise ConfigError(f"the {what} must be at most {MAX_ID_LENGTH} printable characters")
    return text


def check_values(
    *, units: int | None = None, plan_id: int | None = None, max_cost: float | None = None
) -> None:
    if units is not None and units < 1:
        raise ConfigError("--units must be at least 1")
    if plan_id is not None and plan_id < 1:
        raise ConfigError("--plan must be a positive plan id")
    if max_cost is not None and not (max_cost > 0 and math.isfinite(max_cost)):
        raise ConfigError(
            f"the max cost must be a positive amount (what one POS item may cost at most), "
            f"not {max_cost}"
        )


def _checked(choice: MappingChoice, plan: PlanInfo | None) -> None:
    """The plan's price as the catalogue showed it on saving: what a price rise is told from."""
    if plan is not None:
        choice.checked_price = plan.final_price
        choice.checked_at = utcnow()


@dataclass(frozen=True)
class Added:
    choice: MappingChoice
    # False: the very same choice was there already and nothing changed.
    created: bool
    # The plan as the supplier's catalogue showed it; None when saved unchecked.
    plan: PlanInfo | None
    # The variation's mapping as a whole is disabled: the choice is not used until enabled.
    mapping_disabled: bool


def add_choice(
    session: Session,
    *,
    actor: str,
    shop_id: str,
    variation_id: str,
    supplier_name: str,
    plan_id: int,
    units: int = 1,
    fields: dict[str, Any] | None = None,
    priority: int = 0,
    name: str | None = None,
    max_cost: float | None = None,
    catalogues: Catalogues | None = None,
    variations: ShopVariations | None = None,
    allow_loss: bool = False,
    source: str | None = None,
) -> Added:
    """Add a (supplier, plan) choice for a variation; the first one creates the mapping.

    Never changes an existing choice: the same (supplier, plan) again with the same values is
    no change (``created`` False), with other values it is refused, naming the choice to edit.
    ``max_cost``: the most one POS item may cost (None: its Pancake retail price). Checked
    before anything is written: the placeholders; the variation against ``variations``; the
    plan against ``catalogues``; with both, the margin (``allow_loss`` lets a loss through).
    """
    shop_id = clean_id(shop_id, "shop id")
    variation_id = clean_id(variation_id, "variation id")
    if session.get(PancakeShop, shop_id) is None:
        raise ConfigError(f"unknown shop {shop_id}: add it with `bridge shops add` first")
    if session.get(Supplier, supplier_name) is None:
        raise ConfigError(
            f"unknown supplier {supplier_name}: add it with `bridge suppliers add` first"
        )
    check_values(units=units, plan_id=plan_id, max_cost=max_cost)
    check_placeholders(fields)  # before the lookups below: a typing mistake is told first
    header = session.get(MappedVariation, (shop_id, variation_id))
    if name is not None and header is not None and header.name not in (None, name):
        raise ConfigError(
            f"variation {variation_id} is named {header.name!r}: rename it with "
            f"`bridge mappings edit --shop {shop_id} --variation {variation_id} --name …`"
        )
    siblings = [
        view.choice
        for view in repository.list_choices(session, shop_id=shop_id, variation_id=variation_id)
    ]
    existing = next(
        (c for c in siblings if c.supplier_name == supplier_name and c.plan_id == plan_id), None
    )
    if existing is not None:
        wanted = {
            "units": units,
            "fields_template": fields or None,
            "priority": priority,
            "max_cost": max_cost,
        }
        if all(getattr(existing, key) == value for key, value in wanted.items()):
            return Added(existing, False, None, not (header is None or header.enabled))
        raise ConfigError(
            f"variation {variation_id} already has choice {existing.id} for {supplier_name} "
            f"plan {plan_id} (units {existing.units}, priority {existing.priority}, fields "
            f"{_shown(existing.fields_template)}); `add` never changes it: use "
            f"`bridge mappings edit --choice {existing.id} …`"
        )
    plan = verify_typed(
        variation_id=variation_id,
        supplier_name=supplier_name,
        plan_id=plan_id,
        units=units,
        template=fields,
        catalogues=catalogues,
        variations=variations,
        allow_loss=allow_loss,
    )
    if header is None:
        header = MappedVariation(shop_id=shop_id, variation_id=variation_id, name=name)
        session.add(header)
        audit.record(
            session,
            actor=actor,
            action=Action.ADD,
            shop_id=shop_id,
            variation_id=variation_id,
            after=audit.variation_snapshot(header),
            source=source,
        )
    elif name is not None and header.name is None:
        _change_header(session, header, actor, source, name=name)
    # The stock policy is one per variation (workers.stock.policy): a new choice takes it on.
    policy = siblings[0] if siblings else None
    choice = MappingChoice(
        shop_id=shop_id,
        variation_id=variation_id,
        supplier_name=supplier_name,
        plan_id=plan_id,
        units=units,
        fields_template=fields or None,
        priority=priority,
        stock_sync=policy.stock_sync if policy else True,
        manual_stock=policy.manual_stock if policy else None,
        max_cost=max_cost,
    )
    _checked(choice, plan)
    session.add(choice)
    session.flush()
    audit.record_choice(
        session,
        choice,
        Action.ADD,
        actor=actor,
        after=audit.choice_snapshot(choice),
        source=source,
    )
    return Added(choice, True, plan, not header.enabled)


@dataclass(frozen=True)
class Changed:
    """What an edit, enable or disable did; ``changed`` False: it was so already."""

    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    plan: PlanInfo | None = None


def edit_choice(
    session: Session,
    choice_id: int,
    *,
    actor: str,
    supplier_name: str | None = None,
    plan_id: int | None = None,
    units: int | None = None,
    fields: dict[str, Any] | None = None,
    clear_fields: bool = False,
    priority: int | None = None,
    stock_sync: bool | None = None,
    manual_stock: int | None = None,
    clear_manual_stock: bool = False,
    max_cost: float | None = None,
    clear_max_cost: bool = False,
    catalogues: Catalogues | None = None,
    variations: ShopVariations | None = None,
    allow_loss: bool = False,
    source: str | None = None,
) -> Changed:
    """Change what is given of one choice; the rest keeps its value.

    A new field template's placeholders are always checked. A new supplier, plan, units, field
    template or max cost is checked against ``catalogues`` (when given): the plan must exist and
    its required fields be covered; its price then becomes the one a later rise is told from.
    With ``variations`` too, the variation must still exist and a new supplier, plan or units
    must not sell at a loss (unless ``allow_loss``). ``clear_max_cost``: back to the Pancake
    retail price.
    """
    if fields is not None and clear_fields:
        raise ConfigError("give --fields or --no-fields, not both")
    if manual_stock is not None and manual_stock < 0:
        raise ConfigError("the manual stock must not be negative")
    if max_cost is not None and clear_max_cost:
        raise ConfigError("give --max-cost or --no-max-cost, not both")
    check_values(units=units, plan_id=plan_id, max_cost=max_cost)
    choice = repository.get_choice(session, choice_id)
    wanted: dict[str, Any] = {
        "supplier_name": supplier_name,
        "plan_id": plan_id,
        "units": units,
        "fields_template": fields,
        "priority": priority,
        "stock_sync": stock_sync,
        "manual_stock": manual_stock,
        "max_cost": max_cost,
    }
    wanted = {key: value for key, value in wanted.items() if value is not None}
    if clear_fields:
        wanted["fields_template"] = None
    if clear_manual_stock:
        wanted["manual_stock"] = None
    if clear_max_cost:
        wanted["max_cost"] = None
    if not wanted:
        raise ConfigError("nothing to change: give what to change, e.g. --units 2")
    if supplier_name is not None and session.get(Supplier, supplier_name) is None:
        raise ConfigError(
            f"unknown supplier {supplier_name}: add it with `bridge suppliers add` first"
        )
    before = audit.choice_snapshot(choice)
    after = before | wanted
    if after == before:
        return Changed(False, before, after)
    if after["fields_template"] != before["fields_template"]:
        check_placeholders(after["fields_template"])
    moved = (after["supplier_name"], after["plan_id"]) != (choice.supplier_name, choice.plan_id)
    if moved:
        for sibling in repository.get_mapping(session, choice.shop_id, choice.variation_id).choices:
            if (sibling.supplier_name, sibling.plan_id) == (
                after["supplier_name"],
                after["plan_id"],
            ):
                raise ConfigError(
                    f"choice {sibling.id} already maps variation {choice.variation_id} to "
                    f"{sibling.supplier_name} plan {sibling.plan_id}: edit or remove that one"
                )
    plan = None
    repriced = after["max_cost"] != before["max_cost"]
    # What a sale earns depends on these: an edit of them is checked for a loss.
    resold = moved or after["units"] != before["units"]
    if catalogues is not None and (moved or "fields_template" in wanted or repriced or resold):
        plan = verify_choice(
            catalogues, after["supplier_name"], after["plan_id"], after["fields_template"]
        )
    if variations is not None:
        variation = verify_variation(variations, choice.variation_id)
        if plan is not None and resold:
            verify_margin(variation, plan, after["units"], allow_loss=allow_loss)
    for key, value in wanted.items():
        setattr(choice, key, value)
    if moved:
        # The old plan's price says nothing of the new one's.
        choice.checked_price = choice.checked_at = None
    _checked(choice, plan)
    session.add(choice)
    audit.record_choice(
        session,
        choice,
        Action.EDIT,
        actor=actor,
        before=before,
        after=after,
        source=source,
    )
    return Changed(True, before, after, plan)


def edit_mapping(
    session: Session,
    shop_id: str,
    variation_id: str,
    *,
    actor: str,
    name: str | None,
    source: str | None = None,
) -> Changed:
    """Rename a mapping (``name`` "" removes the name)."""
    repository.get_mapping(session, shop_id, variation_id)  # NotFound for an unmapped one
    header = _header(session, shop_id, variation_id)
    before = audit.variation_snapshot(header)
    if name is None:
        raise ConfigError("nothing to change: give --name")
    changed = _change_header(session, header, actor, source, name=name.strip() or None)
    return Changed(changed, before, audit.variation_snapshot(header))


def set_choice_enabled(
    session: Session, choice_id: int, enabled: bool, *, actor: str, source: str | None = None
) -> Changed:
    """Enable or disable one choice: a disabled one is neither bought from nor synced."""
    choice = repository.get_choice(session, choice_id)
    before = audit.choice_snapshot(choice)
    if choice.enabled == enabled:
        return Changed(False, before, before)
    choice.enabled = enabled
    session.add(choice)
    after = audit.choice_snapshot(choice)
    audit.record_choice(
        session,
        choice,
        Action.ENABLE if enabled else Action.DISABLE,
        actor=actor,
        before=before,
        after=after,
        source=source,
    )
    return Changed(True, before, after)


def set_mapping_enabled(
    session: Session,
    shop_id: str,
    variation_id: str,
    enabled: bool,
    *,
    actor: str,
    source: str | None = None,
) -> Changed:
    """Enable or disable a whole mapping: disabled, none of its choices is bought or synced
    (each keeps its own enabled flag for when the mapping is enabled again)."""
    repository.get_mapping(session, shop_id, variation_id)
    header = _header(session, shop_id, variation_id)
    before = audit.variation_snapshot(header)
    changed = _change_header(session, header, actor, source, enabled=enabled)
    return Changed(changed, before, audit.variation_snapshot(header))


def remove_choice(
    session: Session, choice_id: int, *, actor: str, source: str | None = None
) -> MappingChoice:
    """Remove one choice (its values stay in the audit trail); the last one removes the
    mapping. Returns the removed row."""
    choice = repository.get_choice(session, choice_id)
    _remove(session, choice, actor, source)
    if not repository.list_choices(
        session, shop_id=choice.shop_id, variation_id=choice.variation_id
    ):
        _remove_header(session, choice.shop_id, choice.variation_id, actor, source)
    return choice


def remove_mapping(
    session: Session, shop_id: str, variation_id: str, *, actor: str, source: str | None = None
) -> repository.MappingView:
    """Remove a mapping with all its choices; returns it as it was."""
    mapping = repository.get_mapping(session, shop_id, variation_id)
    for choice in mapping.choices:
        _remove(session, choice, actor, source)
    _remove_header(session, shop_id, variation_id, actor, source)
    return mapping


def _remove(session: Session, choice: MappingChoice, actor: str, source: str | None) -> None:
    audit.record_choice(
        session,
        choice,
        Action.REMOVE,
        actor=actor,
        before=audit.choice_snapshot(choice),
        source=source,
    )
    session.delete(choice)
    session.flush()


def _remove_header(
    session: Session, shop_id: str, variation_id: str, actor: str, source: str | None
) -> None:
    header = session.get(MappedVariation, (shop_id, variation_id))
    audit.record(
        session,
        actor=actor,
        action=Action.REMOVE,
        shop_id=shop_id,
        variation_id=variation_id,
        before=audit.variation_snapshot(header),
        source=source,
    )
    if header is not None:
        session.delete(header)
        session.flush()


def _header(session: Session, shop_id: str, variation_id: str) -> MappedVariation:
    """The variation's own row, made (enabled, unnamed) for a mapping from before it existed."""
    header = session.get(MappedVariation, (shop_id, variation_id))
    if header is None:
        header = MappedVariation(shop_id=shop_id, variation_id=variation_id)
        session.add(header)
    return header


def _change_header(
    session: Session, header: MappedVariation, actor: str, source: str | None, **values: Any
) -> bool:
    before = audit.variation_snapshot(header)
    after = before | values
    if after == before:
        return False
    action = Action.EDIT
    if "enabled" in values:
        action = Action.ENABLE if values["enabled"] else Action.DISABLE
    for key, value in values.items():
        setattr(header, key, value)
    header.updated_at = utcnow()
    session.add(header)
    audit.record(
        session,
        actor=actor,
        action=action,
        shop_id=header.shop_id,
        variation_id=header.variation_id,
        before=before,
        after=after,
        source=source,
    )
    return True


def _shown(template: dict[str, Any] | None) -> str:
    return json.dumps(template, ensure_ascii=False) if template else "none"
