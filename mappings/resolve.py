"""Which supplier plan serves a variation, and the plan's ``fields`` filled from the order."""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from typing import Any

from sqlmodel import Session, col, select

from mappings.models import Mapping

PLACEHOLDER = re.compile(r"\{order\.([A-Za-z0-9_.\-]+)\}")


class MissingField(ValueError):
    """A field template names an order value that the order does not have."""

    def __init__(self, field: str, path: str) -> None:
        super().__init__(f"missing field: {field} ({{order.{path}}} is empty in the order)")
        self.field = field
        self.path = path


def choices(session: Session, shop_id: str, variation_id: str) -> list[Mapping]:
    """The enabled (supplier, plan) choices for a variation, best first."""
    statement = (
        select(Mapping)
        .where(Mapping.shop_id == shop_id, Mapping.variation_id == variation_id)
        .where(col(Mapping.enabled).is_(True))
        .order_by(col(Mapping.priority), col(Mapping.id))
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
