"""Adding and listing mappings, validated before they are saved."""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from bridge.errors import ConfigError
from bridge.models import PancakeShop, Supplier
from mappings.models import Mapping


def parse_fields(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--fields is not valid JSON: {exc.msg}") from None
    if not isinstance(value, dict) or not all(
        isinstance(v, (str, int, float)) for v in value.values()
    ):
        raise ConfigError(
            '--fields must be a JSON object of strings, e.g. {"email": "{order.bill_email}"}'
        )
    return value


def add_mapping(
    session: Session,
    *,
    shop_id: str,
    variation_id: str,
    supplier_name: str,
    plan_id: int,
    units: int = 1,
    fields: dict[str, Any] | None = None,
    priority: int = 0,
) -> Mapping:
    """Add a (supplier, plan) choice for a variation, or update the same choice in place."""
    if session.get(PancakeShop, shop_id) is None:
        raise ConfigError(f"unknown shop {shop_id}: add it with `bridge shops add` first")
    if session.get(Supplier, supplier_name) is None:
        raise ConfigError(
            f"unknown supplier {supplier_name}: add it with `bridge suppliers add` first"
        )
    if units < 1:
        raise ConfigError("--units must be at least 1")
    existing = session.exec(
        select(Mapping).where(
            Mapping.shop_id == shop_id,
            Mapping.variation_id == variation_id,
            Mapping.supplier_name == supplier_name,
            Mapping.plan_id == plan_id,
        )
    ).first()
    mapping = existing or Mapping(
        shop_id=shop_id, variation_id=variation_id, supplier_name=supplier_name, plan_id=plan_id
    )
    mapping.units = units
    mapping.fields_template = fields
    mapping.priority = priority
    mapping.enabled = True
    session.add(mapping)
    return mapping


def list_mappings(session: Session, shop_id: str | None = None) -> list[Mapping]:
    statement = select(Mapping).order_by(
        col(Mapping.shop_id), col(Mapping.variation_id), col(Mapping.priority), col(Mapping.id)
    )
    if shop_id is not None:
        statement = statement.where(Mapping.shop_id == shop_id)
    return list(session.exec(statement))
