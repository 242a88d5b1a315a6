"""The mappings as a CSV file, for a spreadsheet: export, and import all or nothing.

One row per choice; the variation's own values (``name``, ``mapping_enabled``) repeat on each of
its rows. Export and import are exact inverses: importing an exported file changes nothing, and
exporting again gives the same bytes. Import accepts what spreadsheets write: a UTF-8 BOM, and
``;`` (or a tab) instead of ``,``. A cell a spreadsheet would run as a formula (a product name
``=HYPERLINK(…)``) is written with a ``'`` in front and read back without it
(``bridge.csv_cells``), so the round trip stays exact.

Import treats the file as the truth for every variation it names: a choice is added, edited or
kept by its (shop, variation, supplier, plan), and a choice of a named variation that the file
leaves out is removed. With ``prune`` the same holds for whole variations of the file's shops.
Every row is validated before anything is written; one bad row refuses the whole file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, select

from bridge.csv_cells import neutralise, restore
from bridge.errors import ConfigError
from bridge.pancake.models import PancakeShop
from bridge.supplier.catalogue import Catalogues
from bridge.supplier.models import Supplier
from mappings import commands, repository
from mappings.audit import Action
from mappings.models import MappingChoice
from mappings.verify import ShopVariations, verify_typed

COLUMNS = (
    "shop_id",
    "variation_id",
    "name",
    "mapping_enabled",
    "supplier",
    "plan_id",
    "units",
    "priority",
    "fields",
    "enabled",
    "stock_sync",
    "manual_stock",
    "max_cost",
)
REQUIRED = ("shop_id", "variation_id", "supplier", "plan_id")
YES, NO = "yes", "no"
TRUE_WORDS = {"yes", "y", "true", "1", "on"}
FALSE_WORDS = {"no", "n", "false", "0", "off"}
DELIMITERS = (",", ";", "\t")
BOM = "\ufeff"


def _flag(value: bool) -> str:
    return YES if value else NO


def _fields_text(template: dict[str, Any] | None) -> str:
    return json.dumps(template, ensure_ascii=False) if template else ""


def export_rows(session: Session, *, shop_id: str | None = None) -> list[dict[str, str]]:
    """Every choice (of one shop) as the file's cells, in the order they are tried."""
    return [
        {
            "shop_id": view.choice.shop_id,
            "variation_id": view.choice.variation_id,
            "name": view.name or "",
            "mapping_enabled": _flag(view.mapping_enabled),
            "supplier": view.choice.supplier_name,
            "plan_id": str(view.choice.plan_id),
            "units": str(view.choice.units),
            "priority": str(view.choice.priority),
            "fields": _fields_text(view.choice.fields_template),
            "enabled": _flag(view.choice.enabled),
            "stock_sync": _flag(view.choice.stock_sync),
            "manual_stock": ""
            if view.choice.manual_stock is None
            else str(view.choice.manual_stock),
            "max_cost": repository.amount_text(view.choice.max_cost),
        }
        for view in repository.list_choices(session, shop_id=shop_id)
    ]


def to_csv(rows: Iterable[dict[str, str]], *, bom: bool = False) -> str:
    """The file's text (``bom``: with the mark some spreadsheets need to read UTF-8)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows({name: neutralise(cell) for name, cell in row.items()} for row in rows)
    return (BOM if bom else "") + out.getvalue()


@dataclass(frozen=True)
class RowError:
    line: int  # in the file, 1 being the header
    reason: str


class ImportRejected(ConfigError):
    """The file has bad rows; nothing was changed. ``errors`` names each with its line."""

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__(f"{len(errors)} bad row(s) in the file: nothing was imported")
        self.errors = list(errors)


@dataclass(frozen=True)
class Row:
    """One choice as the file gives it, checked for form (not yet against the database)."""

    line: int
    shop_id: str
    variation_id: str
    name: str | None
    mapping_enabled: bool
    supplier: str
    plan_id: int
    units: int
    priority: int
    fields: dict[str, Any] | None
    enabled: bool
    stock_sync: bool
    manual_stock: int | None
    max_cost: float | None  # None: the Pancake retail price

    @property
    def variation(self) -> tuple[str, str]:
        return (self.shop_id, self.variation_id)

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.shop_id, self.variation_id, self.supplier, self.plan_id)


def read_csv(text: str) -> tuple[list[Row], list[RowError]]:
    """The file's rows and the errors of form found in it (every one, not just the first)."""
    text = text.removeprefix(BOM)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise ImportRejected([RowError(1, "the file is empty: it needs a header row")])
    delimiter = _delimiter(lines[0])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [cell.strip() for cell in next(reader)]
    unknown = [name for name in header if name not in COLUMNS]
    missing = [name for name in REQUIRED if name not in header]
    if unknown or missing or len(set(header)) != len(header):
        problems = []
        if missing:
            problems.append("missing " + ", ".join(missing))
        if unknown:
            problems.append("unknown " + ", ".join(repr(name) for name in unknown))
        if len(set(header)) != len(header):
            problems.append("a column is named twice")
        raise ImportRejected(
            [RowError(1, f"header: {'; '.join(problems)} (columns: {', '.join(COLUMNS)})")]
        )
    rows: list[Row] = []
    errors: list[RowError] = []
    line = reader.line_num
    for cells in reader:
        start, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line, as spreadsheets leave at the end
        if len(cells) != len(header):
            errors.append(RowError(start, f"{len(cells)} cells, the header has {len(header)}"))
            continue
        try:
            cleaned = (restore(cell.strip()) for cell in cells)
            rows.append(_row(start, dict(zip(header, cleaned, strict=True))))
        except ConfigError as exc:
            errors.append(RowError(start, str(exc)))
    return rows, errors


def _delimiter(header: str) -> str:
    """The separator that splits the header into column names (a spreadsheet may use ``;``)."""
    for delimiter in DELIMITERS:
        if {cell.strip() for cell in header.split(delimiter)} >= set(REQUIRED):
            return delimiter
    return ","


def _row(line: int, cells: dict[str, str]) -> Row:
    for name in REQUIRED:
        if not cells.get(name):
            raise ConfigError(f"{name} is empty")
    max_cost = repository.parse_amount(cells.get("max_cost"), "max_cost")
    commands.check_values(max_cost=max_cost)
    return Row(
        line=line,
        shop_id=commands.clean_id(cells["shop_id"], "shop id"),
        variation_id=commands.clean_id(cells["variation_id"], "variation id"),
        name=cells.get("name") or None,
        mapping_enabled=_bool(cells, "mapping_enabled"),
        supplier=cells["supplier"],
        plan_id=_int(cells, "plan_id", minimum=1),
        units=_int(cells, "units", default=1, minimum=1),
        priority=_int(cells, "priority", default=0),
        fields=repository.parse_fields(cells.get("fields"), "fields"),
        enabled=_bool(cells, "enabled"),
        stock_sync=_bool(cells, "stock_sync"),
        manual_stock=(
            _int(cells, "manual_stock", minimum=0) if cells.get("manual_stock") else None
        ),
        max_cost=max_cost,
    )


def _int(
    cells: dict[str, str], name: str, *, default: int | None = None, minimum: int | None = None
) -> int:
    text = cells.get(name, "")
    if not text and default is not None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"{name} {text!r} is not a whole number") from None
    if minimum is not None and value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, not {value}")
    return value


def _bool(cells: dict[str, str], name: str) -> bool:
    """yes/no (true/false, 1/0); empty is yes, as a new row is meant to be used."""
    text = cells.get(name, "").lower()
    if not text or text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ConfigError(f"{name} must be yes or no, not {cells[name]!r}")


@dataclass(frozen=True)
class Planned:
    """One change an import makes (or, in a dry run, would make)."""

    action: Action
    shop_id: str
    variation_id: str
    line: int | None  # the file's line that asks for it; None for a removal
    choice_id: int | None = None
    supplier: str | None = None
    plan_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    name: str | None = None  # a new mapping's name


@dataclass
class ImportPlan:
    changes: list[Planned] = field(default_factory=list)
    rows: int = 0

    def count(self, action: Action) -> int:
        return sum(1 for change in self.changes if change.action == action)


def plan_import(
    session: Session,
    rows: Sequence[Row],
    form_errors: Sequence[RowError] = (),
    *,
    catalogues: Catalogues | None = None,
    prune: bool = False,
    variations: Mapping[str, ShopVariations] | None = None,
    allow_loss: bool = False,
) -> ImportPlan:
    """What importing ``rows`` changes; ``ImportRejected`` with every bad row (those of form
    given in ``form_errors`` too) if any is. New or re-planned choices are checked as typed
    ones are (``mappings.verify.verify_typed``: placeholders always; against ``catalogues`` and
    each shop's ``variations`` when given; a loss refused unless ``allow_loss``)."""
    errors = list(form_errors)
    shops = set(session.exec(select(PancakeShop.shop_id)))
    suppliers = set(session.exec(select(Supplier.name)))
    seen: dict[tuple[str, str, str, int], int] = {}
    headers: dict[tuple[str, str], Row] = {}
    valid: list[Row] = []
    for row in rows:
        problem = None
        first = headers.get(row.variation)
        if row.shop_id not in shops:
            problem = f"unknown shop {row.shop_id}: add it with `bridge shops add` first"
        elif row.supplier not in suppliers:
            problem = f"unknown supplier {row.supplier}: add it with `bridge suppliers add` first"
        elif row.key in seen:
            problem = f"repeats line {seen[row.key]}: the same supplier plan for this variation"
        elif first is not None and (first.name, first.mapping_enabled) != (
            row.name,
            row.mapping_enabled,
        ):
            problem = (
                f"name and mapping_enabled differ from line {first.line} of the same variation: "
                "they belong to the variation and must be the same on each of its rows"
            )
        if problem is not None:
            errors.append(RowError(row.line, problem))
            continue
        seen[row.key] = row.line
        headers.setdefault(row.variation, row)
        valid.append(row)
    plan = ImportPlan(rows=len(rows))
    current = {
        (v.choice.shop_id, v.choice.variation_id, v.choice.supplier_name, v.choice.plan_id): v
        for v in repository.list_choices(session)
    }
    for row in valid:
        view = current.get(row.key)
        after = _snapshot(row)
        before = None if view is None else _choice_values(view.choice)
        if before == after:
            continue
        replanned = before is None or before["fields_template"] != after["fields_template"]
        if replanned or (before is not None and before["units"] != after["units"]):
            try:
                verify_typed(
                    variation_id=row.variation_id,
                    supplier_name=row.supplier,
                    plan_id=row.plan_id,
                    units=row.units,
                    template=row.fields,
                    catalogues=catalogues,
                    variations=None if variations is None else variations.get(row.shop_id),
                    allow_loss=allow_loss,
                )
            except ConfigError as exc:
                errors.append(RowError(row.line, str(exc)))
                continue
        plan.changes.append(
            Planned(
                Action.ADD if view is None else Action.EDIT,
                row.shop_id,
                row.variation_id,
                row.line,
                None if view is None else view.choice.id,
                row.supplier,
                row.plan_id,
                before,
                after,
                row.name,
            )
        )
    if errors:
        raise ImportRejected(sorted(errors, key=lambda error: error.line))
    named_shops = {row.shop_id for row in valid}
    for key, view in current.items():
        variation = key[:2]
        if key in seen or not (variation in headers or (prune and key[0] in named_shops)):
            continue
        plan.changes.append(
            Planned(
                Action.REMOVE,
                key[0],
                key[1],
                None,
                view.choice.id,
                view.choice.supplier_name,
                view.choice.plan_id,
                _choice_values(view.choice),
            )
        )
    mapped = {
        (v.choice.shop_id, v.choice.variation_id): {"name": v.name, "enabled": v.mapping_enabled}
        for v in current.values()
    }
    for variation, row in headers.items():
        new = {"name": row.name, "enabled": row.mapping_enabled}
        # A new mapping gets its name when it is added.
        old = mapped.get(variation, {"name": row.name, "enabled": True})
        if old != new:
            action = Action.EDIT
            if old["enabled"] != new["enabled"]:
                action = Action.ENABLE if new["enabled"] else Action.DISABLE
            plan.changes.append(Planned(action, *variation, row.line, before=old, after=new))
    return plan


def apply_import(session: Session, plan: ImportPlan, *, actor: str, source: str) -> None:
    """Make the planned changes, each recorded in the audit trail under ``actor`` and
    ``source`` (e.g. "import mappings.csv"). Additions first: a variation named in the file
    never loses its mapping (and its name) on the way."""
    order = {Action.ADD: 0, Action.EDIT: 1, Action.REMOVE: 2}
    choices = sorted(
        (c for c in plan.changes if c.choice_id is not None or c.action == Action.ADD),
        key=lambda c: order[c.action],
    )
    for change in choices:
        if change.action == Action.REMOVE:
            assert change.choice_id is not None
            commands.remove_choice(session, change.choice_id, actor=actor, source=source)
            continue
        assert change.after is not None
        assert change.supplier is not None
        assert change.plan_id is not None
        values = change.after
        choice_id = change.choice_id
        if change.action == Action.ADD:
            added = commands.add_choice(
                session,
                actor=actor,
                shop_id=change.shop_id,
                variation_id=change.variation_id,
                supplier_name=change.supplier,
                plan_id=change.plan_id,
                units=values["units"],
                fields=values["fields_template"],
                priority=values["priority"],
                name=change.name,
                max_cost=values["max_cost"],
                source=source,
            )
            choice_id = added.choice.id
        assert choice_id is not None
        _settle(session, choice_id, values, actor, source)
    for change in plan.changes:
        if change.choice_id is None and change.action != Action.ADD:
            assert change.after is not None
            commands.edit_mapping(
                session,
                change.shop_id,
                change.variation_id,
                actor=actor,
                name=change.after["name"] or "",
                source=source,
            )
            commands.set_mapping_enabled(
                session,
                change.shop_id,
                change.variation_id,
                change.after["enabled"],
                actor=actor,
                source=source,
            )


def _settle(
    session: Session, choice_id: int, values: dict[str, Any], actor: str, source: str
) -> None:
    """Bring a choice to the file's values (after an addition: what ``add`` does not set)."""
    choice = repository.get_choice(session, choice_id)
    edits = {
        key: value
        for key, value in values.items()
        if key != "enabled" and getattr(choice, key) != value
    }
    if edits:
        commands.edit_choice(
            session,
            choice_id,
            actor=actor,
            units=edits.get("units"),
            fields=edits.get("fields_template"),
            clear_fields="fields_template" in edits and edits["fields_template"] is None,
            priority=edits.get("priority"),
            stock_sync=edits.get("stock_sync"),
            manual_stock=edits.get("manual_stock"),
            clear_manual_stock="manual_stock" in edits and edits["manual_stock"] is None,
            max_cost=edits.get("max_cost"),
            clear_max_cost="max_cost" in edits and edits["max_cost"] is None,
            source=source,
        )
    commands.set_choice_enabled(session, choice_id, values["enabled"], actor=actor, source=source)


def _snapshot(row: Row) -> dict[str, Any]:
    return {
        "units": row.units,
        "priority": row.priority,
        "fields_template": row.fields,
        "enabled": row.enabled,
        "stock_sync": row.stock_sync,
        "manual_stock": row.manual_stock,
        "max_cost": row.max_cost,
    }


# What a row sets of a choice besides its identity (shop, variation, supplier, plan).
ROW_VALUES = (
    "units",
    "priority",
    "fields_template",
    "enabled",
    "stock_sync",
    "manual_stock",
    "max_cost",
)


def _choice_values(choice: MappingChoice) -> dict[str, Any]:
    return {key: getattr(choice, key) for key in ROW_VALUES}
