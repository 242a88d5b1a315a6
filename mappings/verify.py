"""A mapping's choice checked where it is typed, the same way by the command line, the console
and the CSV import: every ``{order.…}`` placeholder names a field an order has (no network); and,
against what was read before the transaction, the variation exists in Pancake, the plan in the
supplier's catalogue, its required fields are covered, and the sale does not lose money.
``mappings check`` judges stored choices with the same functions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bridge.errors import ConfigError, Refused
from bridge.pancake.order_fields import unknown_field
from bridge.supplier.catalogue import Catalogues, PlanInfo, RequiredField
from bridge.supplier.delivery import money
from mappings.resolve import PLACEHOLDER

if TYPE_CHECKING:
    from bridge.pancake.schemas import Variation

# Anything in braces that reads like a name: meant as a placeholder if it is not one.
_BRACED = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_.\-]*)\s*\}")


def placeholder_problems(template: Mapping[str, Any] | None) -> list[str]:
    """Each placeholder of the template that no order can fill, one phrase each (empty: all
    good): a field an order does not have, a list read without an index, or braces that look
    like a placeholder but are not ``{order.<field>}`` (sent to the supplier as typed)."""
    problems: list[str] = []
    for key, value in (template or {}).items():
        text = str(value)
        for braced in _BRACED.finditer(text):
            if PLACEHOLDER.fullmatch(braced.group(0)):
                continue
            name = braced.group(1)
            rest = name.partition(".")[2] if "." in name else name
            problems.append(
                f"{key}: {braced.group(0)} is not a placeholder (they read "
                f"{{order.<field>}}, e.g. {{order.{rest}}})"
            )
        for path in (m.group(1) for m in PLACEHOLDER.finditer(text)):
            unknown = unknown_field(path)
            if unknown is not None:
                guess = (
                    f" (did you mean {{order.{unknown.suggestion}}}?)" if unknown.suggestion else ""
                )
                problems.append(f"{key}: {{order.{path}}}: {unknown.reason}{guess}")
    return problems


def check_placeholders(template: Mapping[str, Any] | None) -> None:
    """A ``ConfigError`` naming every placeholder no order can fill (nothing is looked up)."""
    problems = placeholder_problems(template)
    if problems:
        raise ConfigError(
            "the fields template reads what no order has: "
            + "; ".join(problems)
            + " (a placeholder is {order.<field of the Pancake order>}, e.g. {order.bill_email})"
        )


def margin(retail_price: float | None, final_price: float | None, units: int) -> float | None:
    """What one POS item earns: Pancake's retail price less the plan's price times the units per
    item; None when either price is not known. The one place the margin is worked out."""
    if retail_price is None or final_price is None:
        return None
    return retail_price - final_price * units


@dataclass(frozen=True)
class ShopVariations:
    """A shop's variations as Pancake listed them before the transaction (``listed``), or why
    they could not be read (``error``)."""

    shop_id: str
    listed: Mapping[str, Variation] | None
    error: str | None = None


def verify_variation(found: ShopVariations, variation_id: str) -> Variation:
    """The variation as Pancake lists it, or a ``ConfigError``: Pancake has no such variation,
    or the shop's variations could not be read."""
    if found.listed is None:
        raise ConfigError(
            f"cannot read shop {found.shop_id}'s variations from Pancake to check variation "
            f"{variation_id} ({found.error or 'not read'}): try again, or save it unchecked "
            "with --offline"
        )
    variation = found.listed.get(variation_id)
    if variation is None:
        raise ConfigError(
            f"Pancake has no variation {variation_id} in shop {found.shop_id} "
            f"({len(found.listed)} listed): check the id (the console's variation picker lists "
            "them), or save it unchecked with --offline"
        )
    return variation


def verify_margin(variation: Variation, plan: PlanInfo, units: int, *, allow_loss: bool) -> None:
    """A ``ConfigError`` when every sale of the variation through this plan loses money, unless
    ``allow_loss``."""
    earned = margin(variation.retail_price, plan.final_price, units)
    if allow_loss or earned is None or earned >= 0:
        return
    times = f" x {units}" if units != 1 else ""
    raise ConfigError(
        f"this choice loses {money(-earned)} on every sale: Pancake sells {variation.label} for "
        f"{money(variation.retail_price or 0)}, plan {plan.plan_id} ({plan.name}) costs "
        f"{money(plan.final_price)}{times}; raise the price in Pancake, choose a cheaper plan, "
        "or save it anyway with --allow-loss"
    )


def uncovered(plan: PlanInfo, template: Mapping[str, Any] | None) -> list[RequiredField]:
    """The plan's required fields that the template gives no (non-blank) value for."""
    given = template or {}
    return [field for field in plan.required if not str(given.get(field.key, "")).strip()]


def verify_choice(
    catalogues: Catalogues, supplier_name: str, plan_id: int, template: Mapping[str, Any] | None
) -> PlanInfo:
    """The plan as the catalogue shows it, or a ``ConfigError`` saying what is wrong: a plan the
    supplier does not sell, required fields the template does not cover, a catalogue that could
    not be read (``Refused`` when the budget is spent: try later)."""
    reason = catalogues.unreadable.get(supplier_name)
    if reason is not None:
        busy = reason.startswith(("BudgetExhausted", "SupplierRateLimited"))
        raise (Refused if busy else ConfigError)(
            f"cannot read {supplier_name}'s catalogue to check plan {plan_id} ({reason}): try "
            "again, or save it unchecked with --offline"
        )
    plans = catalogues.plans.get(supplier_name)
    if plans is None:
        raise ConfigError(f"{supplier_name}'s catalogue was not read")  # a caller's mistake
    plan = plans.get(plan_id)
    if plan is None and plans.unread_plan(plan_id):
        raise ConfigError(
            f"plan {plan_id} is not in what could be read of {supplier_name}'s catalogue "
            f"({plans.describe()}): check the plan id, or save it unchecked with --offline"
        )
    if plan is None:
        raise ConfigError(
            f"plan {plan_id} is not in {supplier_name}'s catalogue ({len(plans)} plans listed): "
            "check the plan id, or save it unchecked with --offline"
        )
    missing = uncovered(plan, template)
    if missing:
        raise ConfigError(
            f"plan {plan_id} ({plan.name}) requires the fields "
            + ", ".join(f"{field.key} ({field.label})" for field in missing)
            + ", which the template does not give: add them with --fields, each a literal or "
            'an order placeholder, e.g. {"email": "{order.bill_email}"}'
        )
    return plan


def verify_typed(
    *,
    variation_id: str,
    supplier_name: str,
    plan_id: int,
    units: int,
    template: Mapping[str, Any] | None,
    catalogues: Catalogues | None,
    variations: ShopVariations | None,
    allow_loss: bool = False,
) -> PlanInfo | None:
    """Everything a new (or re-planned) choice is checked for, in one call for the commands and
    the CSV import alike: the placeholders always; the variation against ``variations``, the
    plan against ``catalogues``, and with both the margin. Returns the plan as the catalogue
    shows it (None when not checked); a ``ConfigError`` (or ``Refused``) says what is wrong."""
    check_placeholders(template)
    variation = None if variations is None else verify_variation(variations, variation_id)
    plan = (
        None if catalogues is None else verify_choice(catalogues, supplier_name, plan_id, template)
    )
    if variation is not None and plan is not None:
        verify_margin(variation, plan, units, allow_loss=allow_loss)
    return plan
