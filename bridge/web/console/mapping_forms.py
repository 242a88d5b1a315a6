"""The mapping editor's form: what an operator typed, read back into a change through the same
command functions as ``bridge mappings add`` and ``edit`` (``mappings.commands``).

A form that cannot be saved comes back with every value as typed and one message saying what
to fix: nothing the operator entered is lost.
"""

from __future__ import annotations

from collections.abc import Mapping as Fields
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from bridge.db import session_scope
from bridge.errors import ConfigError
from bridge.supplier.catalogue import Catalogues
from mappings import commands, repository
from mappings.commands import Added, Changed
from mappings.models import MappingChoice
from mappings.verify import ShopVariations

SOURCE = "console"
FIELD_PREFIX = "field."


def _whole(text: str, what: str, *, least: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(f"{what} must be a whole number, not {text.strip()!r}") from None
    if value < least:
        raise ConfigError(f"{what} must be at least {least}")
    return value


@dataclass
class ChoiceForm:
    """The editor's values as text, exactly as typed (what a refused form shows again)."""

    shop_id: str = ""
    variation_id: str = ""
    name: str = ""
    supplier_name: str = ""
    plan_id: str = ""
    units: str = "1"
    priority: str = "0"
    fields: dict[str, str] = field(default_factory=dict)
    stock_sync: bool = True
    manual_stock: str = ""
    # Empty: the Pancake retail price of the item.
    max_cost: str = ""
    unchecked: bool = False
    # Save a choice that sells at a loss (`bridge mappings add --allow-loss`).
    allow_loss: bool = False

    @classmethod
    def read(cls, values: Fields[str, Any], *, posted: bool) -> ChoiceForm:
        """From a posted form, or from a link's query (``/new?shop_id=…&variation_id=…``).

        A checkbox left unticked is absent from a posted form: there it reads as False.
        """

        def text(key: str, default: str = "") -> str:
            value = values.get(key)
            return str(value).strip() if value is not None else default

        fields = {
            key.removeprefix(FIELD_PREFIX): str(value).strip()
            for key, value in values.items()
            if key.startswith(FIELD_PREFIX) and key != FIELD_PREFIX
        }
        return cls(
            shop_id=text("shop_id"),
            variation_id=text("variation_id"),
            name=text("name"),
            supplier_name=text("supplier_name"),
            plan_id=text("plan_id"),
            units=text("units", "1"),
            priority=text("priority", "0"),
            fields={key: value for key, value in fields.items() if value},
            stock_sync=("stock_sync" in values) if posted else True,
            manual_stock=text("manual_stock"),
            max_cost=text("max_cost"),
            unchecked="unchecked" in values,
            allow_loss="allow_loss" in values,
        )

    @classmethod
    def of(cls, choice: MappingChoice, name: str | None) -> ChoiceForm:
        """An existing choice, for its edit form."""
        return cls(
            shop_id=choice.shop_id,
            variation_id=choice.variation_id,
            name=name or "",
            supplier_name=choice.supplier_name,
            plan_id=str(choice.plan_id),
            units=str(choice.units),
            priority=str(choice.priority),
            fields={key: str(value) for key, value in (choice.fields_template or {}).items()},
            stock_sync=choice.stock_sync,
            manual_stock="" if choice.manual_stock is None else str(choice.manual_stock),
            max_cost=repository.amount_text(choice.max_cost),
        )

    def _plan(self) -> int:
        if not self.supplier_name:
            raise ConfigError("choose the supplier")
        if not self.plan_id:
            raise ConfigError("choose the supplier's plan")
        return _whole(self.plan_id, "The plan id", least=1)

    def _numbers(self) -> tuple[int, int]:
        return _whole(self.units, "Units", least=1), _whole(self.priority, "Priority", least=0)

    def add(
        self,
        engine: Engine,
        catalogues: Catalogues | None,
        actor: str,
        variations: ShopVariations | None = None,
    ) -> Added:
        """Save as a new choice (the first one makes the mapping), checked as `bridge mappings
        add` checks it. ``catalogues`` and ``variations`` None: the operator asked to save
        without checking."""
        plan_id = self._plan()
        units, priority = self._numbers()
        max_cost = repository.parse_amount(self.max_cost, "The max cost")
        with session_scope(engine) as session:
            return commands.add_choice(
                session,
                actor=actor,
                shop_id=self.shop_id,
                variation_id=self.variation_id,
                supplier_name=self.supplier_name,
                plan_id=plan_id,
                units=units,
                fields=self.fields or None,
                priority=priority,
                name=self.name or None,
                max_cost=max_cost,
                catalogues=catalogues,
                variations=variations,
                allow_loss=self.allow_loss,
                source=SOURCE,
            )

    def edit(
        self,
        engine: Engine,
        choice_id: int,
        catalogues: Catalogues | None,
        actor: str,
        variations: ShopVariations | None = None,
    ) -> Changed:
        """Save over choice ``choice_id``; only what differs from it is a change (so an edit of
        the units alone needs no catalogue)."""
        plan_id = self._plan()
        units, priority = self._numbers()
        manual = (
            _whole(self.manual_stock, "The manual stock", least=0) if self.manual_stock else None
        )
        max_cost = repository.parse_amount(self.max_cost, "The max cost")
        with session_scope(engine) as session:
            current = repository.get_choice(session, choice_id)
            given = self.fields or None
            fields_changed = given != (current.fields_template or None)
            return commands.edit_choice(
                session,
                choice_id,
                actor=actor,
                supplier_name=self.supplier_name,
                plan_id=plan_id,
                units=units,
                fields=given if fields_changed and given else None,
                clear_fields=fields_changed and not given,
                priority=priority,
                stock_sync=self.stock_sync,
                manual_stock=manual,
                clear_manual_stock=manual is None and current.manual_stock is not None,
                max_cost=max_cost,
                clear_max_cost=max_cost is None and current.max_cost is not None,
                catalogues=catalogues,
                variations=variations,
                allow_loss=self.allow_loss,
                source=SOURCE,
            )
