"""A mapping's choice checked against a catalogue already read: does the plan exist, and does
the field template cover what it requires. The console and the command line verify the same way."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.errors import ConfigError, Refused
from bridge.supplier.catalogue import Catalogues, PlanInfo, RequiredField


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
