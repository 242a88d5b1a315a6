"""``bridge mappings``: which supplier plan serves a Pancake variation, in which order.

A *mapping* is a Pancake variation of one shop (``--shop S --variation V``); its *choices*
(``--choice ID``, the ids `list` shows) are the supplier plans tried for it, lowest priority
first. The commands only format: what they do is in ``mappings.commands``, ``mappings.targets``
and ``mappings.repository``, which the web console calls too. Every change is recorded in the
audit trail under the actor "cli". CSV transfer and the check against the live catalogues are
``bridge/cli/mapping_transfer.py``, in the same group.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bridge.cli import app
from bridge.cli.output import (
    JsonOption,
    note,
    print_json,
    print_table,
    say,
    when,
)
from bridge.cli.support import (
    open_engine,
    read_connection,
    reading,
    secret_box,
    settings,
    writing,
)

if TYPE_CHECKING:
    from sqlmodel import Session

    from bridge.cli.reads import AnyRow, ChoiceRead, MappingRead
    from bridge.settings import Settings
    from bridge.supplier.catalogue import Catalogues
    from mappings.targets import Target
    from mappings.values import Paid
    from mappings.verify import ShopVariations

ACTOR = "cli"

mappings = typer.Typer(
    help=(
        "Which supplier plans serve a Pancake variation.\n\n"
        "A variation's mapping has one or more choices (supplier plans), tried lowest "
        "priority first. A mapping or a single choice can be disabled without being deleted; "
        "every change is kept in the audit trail (`history`).\n\n"
        "\b\nExample:\n  pancake-bridge mappings add --shop 4 --variation v-1 "
        "--supplier caoshop --plan 319"
    ),
    no_args_is_help=True,
)
app.add_typer(mappings, name="mappings")

ShopOption = Annotated[
    str | None,
    typer.Option(
        "--shop", help="The Pancake shop id (may be left out when one shop maps the variation)."
    ),
]
VariationOption = Annotated[
    str | None, typer.Option("--variation", help="The Pancake variation id: the whole mapping.")
]
ChoiceOption = Annotated[
    int | None, typer.Option("--choice", metavar="ID", help="One choice, by its id (see `list`).")
]
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Save without checking the variation in Pancake and the plan against the "
        "supplier's catalogue (e.g. while one is down); placeholders are still checked.",
    ),
]
AllowLossOption = Annotated[
    bool,
    typer.Option(
        "--allow-loss",
        help="Save a choice even though the plan costs more than Pancake sells the item for.",
    ),
]
MaxCostOption = Annotated[
    float | None,
    typer.Option(
        "--max-cost",
        metavar="AMOUNT",
        help="The most one POS item may cost bought with this choice (the plan's price x "
        "units); dearer at the last catalogue read, it is not bought. Default: the Pancake "
        "retail price of the item.",
    ),
]
FieldsOption = Annotated[
    str | None,
    typer.Option(
        "--fields",
        metavar="JSON",
        help="Order fields the supplier needs, a JSON object of literals and placeholders, "
        'e.g. {"email": "{order.bill_email}"}.',
    ),
]


def _target(
    session: Session, shop: str | None, variation: str | None, choice: int | None
) -> Target:
    from mappings.repository import resolve_target
    from mappings.targets import TargetError

    try:
        return resolve_target(session, shop, variation, choice)
    except TargetError as exc:
        raise typer.BadParameter(str(exc), param_hint=exc.param) from None


@contextmanager
def supplier_clients(current: Settings) -> Iterator[Any]:
    """``Context.supplier`` of the workers: clients on each key's shared budget."""
    from bridge.supplier.budget import Budgets
    from workers.queue.context import Context

    box = secret_box(current)
    ctx = Context(current, open_engine(current), box, Budgets.from_settings(current))
    try:
        yield ctx
    finally:
        ctx.close()
        ctx.engine.dispose()


def catalogues_of(current: Settings, names: Sequence[str]) -> Catalogues:
    """The catalogues of the named (known) suppliers, read before any write transaction."""
    from sqlmodel import col, select

    from bridge.supplier.catalogue import read_catalogues
    from bridge.supplier.models import Supplier

    with reading(current) as session:
        suppliers = list(session.exec(select(Supplier).where(col(Supplier.name).in_(names))))
        session.expunge_all()
    with supplier_clients(current) as ctx:
        return read_catalogues(suppliers, ctx.supplier)


def variations_of(current: Settings, shop_ids: Sequence[str]) -> dict[str, ShopVariations]:
    """Each named (known) shop's variations as Pancake lists them, read with the shop's key
    before any write transaction; a shop that cannot be read carries why."""
    from bridge.cli.shops import pancake_client
    from bridge.errors import SecretKeyMismatch
    from bridge.pancake.errors import PancakeError
    from bridge.pancake.models import PancakeShop
    from mappings.check import read_variations
    from mappings.verify import ShopVariations

    box = secret_box(current)
    found: dict[str, ShopVariations] = {}
    for shop_id in dict.fromkeys(shop_ids):
        with reading(current) as session:
            shop = session.get(PancakeShop, shop_id)
            key_enc = shop.api_key_enc if shop is not None else None
        if key_enc is None:
            continue  # the command's own check names the unknown shop
        try:
            with pancake_client(current, box.decrypt(key_enc)) as client:
                found[shop_id] = ShopVariations(shop_id, read_variations(client, shop_id))
        except (PancakeError, SecretKeyMismatch) as exc:
            found[shop_id] = ShopVariations(shop_id, None, str(exc))
    return found


def _known(current: Settings, shop: str | None, supplier: str | None) -> bool:
    """Both exist: worth reading the catalogue (else the command's own check says which not)."""
    from bridge.pancake.models import PancakeShop
    from bridge.supplier.models import Supplier

    with reading(current) as session:
        return (shop is None or session.get(PancakeShop, shop.strip()) is not None) and (
            supplier is None or session.get(Supplier, supplier) is not None
        )


def _priced(plan: Any) -> str:
    if plan is None:
        return "not checked: --offline"
    return f"checked: {plan.name}, {plan.final_price:,.0f}"


@mappings.command("add")
def add(
    shop: Annotated[str, typer.Option("--shop", help="The Pancake shop id.")],
    variation: Annotated[str, typer.Option("--variation", help="The Pancake variation id.")],
    supplier: Annotated[str, typer.Option("--supplier", help="The supplier's name.")],
    plan: Annotated[int, typer.Option("--plan", help="The supplier's plan id.")],
    units: Annotated[int, typer.Option("--units", help="Supplier units per POS item.")] = 1,
    fields: FieldsOption = None,
    priority: Annotated[int, typer.Option("--priority", help="Lower is tried first.")] = 0,
    name: Annotated[
        str | None, typer.Option("--name", help="A name for the mapping, as ops know it.")
    ] = None,
    max_cost: MaxCostOption = None,
    offline: OfflineOption = False,
    allow_loss: AllowLossOption = False,
) -> None:
    """Add a supplier plan as a choice for a Pancake variation.

    Checked first, and nothing is saved if one fails: every {order.…} placeholder of --fields
    names a field a Pancake order has; the variation exists in the shop in Pancake; the plan
    exists in the supplier's catalogue and its required fields are in --fields; and a sale
    does not lose money (Pancake's retail price below the plan's price x units: refused unless
    --allow-loss). --offline skips what needs Pancake or the supplier (not the placeholders).
    A choice that exists is never changed: the same values again change nothing, other values
    are refused (use `edit`).

    A purchase whose price at the last catalogue read exceeds the choice's max cost (default:
    the item's Pancake retail price) is not made: the next choice is tried, or the line waits
    for a person.

    \b
    Example:
      pancake-bridge mappings add --shop 4 --variation v-1 --supplier caoshop --plan 320 \\
          --fields '{"email": "{order.bill_email}"}' --priority 1 --max-cost 95000
    """
    from mappings import commands, repository
    from mappings.verify import check_placeholders

    template = repository.parse_fields(fields)
    check_placeholders(template)  # a typing mistake is told before any network read
    current = settings()
    catalogues = variations = None
    if not offline and _known(current, shop, supplier):
        variations = variations_of(current, [shop.strip()]).get(shop.strip())
        catalogues = catalogues_of(current, [supplier])
    with writing(current) as session:
        added = commands.add_choice(
            session,
            actor=ACTOR,
            shop_id=shop,
            variation_id=variation,
            supplier_name=supplier,
            plan_id=plan,
            units=units,
            fields=template,
            priority=priority,
            name=name,
            max_cost=max_cost,
            catalogues=catalogues,
            variations=variations,
            allow_loss=allow_loss,
        )
        choice = added.choice
        if not added.created:
            message = f"choice {choice.id} is already saved as given: nothing changed"
        else:
            message = (
                f"choice {choice.id} added: shop {choice.shop_id} variation "
                f"{choice.variation_id} -> {choice.supplier_name} plan {choice.plan_id} "
                f"({_priced(added.plan)})"
            )
        where = f"--shop {choice.shop_id} --variation {choice.variation_id}"
    say(message)
    if added.mapping_disabled:
        note(
            "note: the mapping is disabled, so the choice is not used until "
            f"`bridge mappings enable {where}`"
        )


def _enabled(view: ChoiceRead) -> str:
    if view.active:
        return "yes"
    both = not view.choice.enabled and not view.mapping_enabled
    return "no (both)" if both else ("no" if not view.choice.enabled else "no (mapping)")


def _fields(template: dict[str, Any] | None) -> str:
    return json.dumps(template, ensure_ascii=False) if template else "-"


def _choice_record(view: ChoiceRead, fields: dict[str, Any]) -> dict[str, Any]:
    """A choice's ``fields`` (its columns) with what its mapping says, for ``--json``."""
    return fields | {
        "name": view.name,
        "mapping_enabled": view.mapping_enabled,
        "active": view.active,
    }


@mappings.command("list")
def list_(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's mappings.")] = None,
    supplier: Annotated[
        str | None, typer.Option("--supplier", help="Only the choices of this supplier.")
    ] = None,
    disabled: Annotated[
        bool,
        typer.Option(
            "--disabled", help="Only choices not in use (they or their mapping are disabled)."
        ),
    ] = False,
    unmapped_: Annotated[
        bool,
        typer.Option(
            "--unmapped", help="Variations orders asked for that have no mapping (as `unmapped`)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List the mappings' choices.

    Sorted by shop, variation and priority (the order choices are tried in). "enabled" says
    whether a choice is used: "no" (the choice is disabled), "no (mapping)" (its whole mapping
    is).

    \b
    Example:
      pancake-bridge mappings list --shop 4 --disabled
    """
    from bridge.cli import reads

    if unmapped_:
        if supplier is not None or disabled:
            raise typer.BadParameter(
                "--unmapped lists variations without a mapping: it takes only --shop",
                param_hint="'--unmapped'",
            )
        _print_unmapped(shop, as_json)
        return
    with read_connection(settings()) as conn:
        views = reads.choices(conn, shop_id=shop, supplier_name=supplier, disabled=disabled)
        records = [_choice_record(view, reads.record(view.choice)) for view in views]
    if as_json:
        print_json(records)
        return
    _print_choices(views)


def _print_choices(views: Sequence[ChoiceRead]) -> None:
    print_table(
        ["id", "shop", "variation", "supplier", "plan", "units", "priority", "fields"]
        + ["enabled", "stock sync", "name", "max cost"],
        [
            [
                v.choice.id,
                v.choice.shop_id,
                v.choice.variation_id,
                v.choice.supplier_name,
                v.choice.plan_id,
                v.choice.units,
                v.choice.priority,
                _fields(v.choice.fields_template),
                _enabled(v),
                _stock_policy(v.choice),
                v.name or "-",
                _max_cost(v.choice),
            ]
            for v in views
        ],
    )


def _amount(value: float | None) -> str:
    from bridge.supplier.delivery import money

    return "-" if value is None else money(value)


def _max_cost(choice: AnyRow) -> str:
    return "retail price" if choice.max_cost is None else _amount(choice.max_cost)


def _paid_text(paid: Paid | None) -> str:
    if paid is None:
        return "never bought"
    items = f"{paid.items} item" + ("" if paid.items == 1 else "s")
    amount = "amount not said" if paid.amount is None else _amount(paid.amount)
    return f"{amount} for {items} ({paid.trans_id or '-'}, {when(paid.at)})"


def _print_prices(views: Sequence[ChoiceRead], paid: dict[tuple[str, int], Paid]) -> None:
    print_table(
        ["choice", "supplier", "plan", "max cost", "price when saved", "last paid"],
        [
            [
                v.choice.id,
                v.choice.supplier_name,
                v.choice.plan_id,
                _max_cost(v.choice),
                f"{_amount(v.choice.checked_price)} ({when(v.choice.checked_at)})"
                if v.choice.checked_price is not None
                else "not checked",
                _paid_text(paid.get((v.choice.supplier_name, v.choice.plan_id))),
            ]
            for v in views
        ],
    )


def _stock_policy(choice: AnyRow) -> str:
    if not choice.stock_sync:
        return "off"
    return "on" if choice.manual_stock is None else f"on, manual {choice.manual_stock}"


@mappings.command("show")
def show(
    shop: ShopOption = None,
    variation: VariationOption = None,
    choice: ChoiceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a mapping (or one choice), its prices and changes.

    Per choice: the max cost, the plan's price when the choice was saved, and what its last
    purchase cost (the supplier's final amount).

    \b
    Example:
      pancake-bridge mappings show --shop 4 --variation v-1
    """
    from bridge.cli import reads
    from mappings.targets import TargetError

    with read_connection(settings()) as conn:
        try:
            target = reads.mapping_target(conn, shop, variation, choice)
        except TargetError as exc:
            raise typer.BadParameter(str(exc), param_hint=exc.param) from None
        mapping = reads.mapping(conn, target.shop_id, target.variation_id)
        views = [
            v
            for v in mapping.choices
            if target.choice_id is None or v.choice.id == target.choice_id
        ]
        changes = reads.mapping_changes(
            conn,
            shop_id=target.shop_id,
            variation_id=target.variation_id,
            choice_id=target.choice_id,
            limit=10,
        )
        paid = reads.last_paid(conn, target.shop_id, target.variation_id)
        record = _mapping_record(mapping, views, changes, paid)
    if as_json:
        print_json(record if target.choice_id is None else record["choices"][0])
        return
    name = f' "{mapping.name}"' if mapping.name else ""
    state = "enabled" if mapping.enabled else "DISABLED: none of its choices is used"
    say(f"shop {mapping.shop_id} variation {mapping.variation_id}{name}: {state}")
    _print_choices(views)
    say("\nprices (a choice dearer than its max cost at the last catalogue read is not bought):")
    _print_prices(views, paid)
    say("\nrecent changes:")
    _print_history(changes)


def _mapping_record(
    mapping: MappingRead,
    views: Sequence[ChoiceRead],
    changes: Sequence[AnyRow],
    paid: dict[tuple[str, int], Paid],
) -> dict[str, Any]:
    from bridge.cli.reads import record

    history = [record(c) for c in changes]
    return {
        "shop_id": mapping.shop_id,
        "variation_id": mapping.variation_id,
        "name": mapping.name,
        "enabled": mapping.enabled,
        "choices": [
            _choice_record(v, record(v.choice))
            | {
                "last_paid": _paid_record(paid.get((v.choice.supplier_name, v.choice.plan_id))),
                "history": [h for h in history if h["choice_id"] == v.choice.id],
            }
            for v in views
        ],
        "history": history,
    }


def _paid_record(paid: Paid | None) -> dict[str, Any] | None:
    if paid is None:
        return None
    return {
        "amount": paid.amount,
        "items": paid.items,
        "per_item": paid.per_item,
        "trans_id": paid.trans_id,
        "at": paid.at,
    }


@mappings.command("history")
def history(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop.")] = None,
    variation: Annotated[
        str | None, typer.Option("--variation", help="Only this variation.")
    ] = None,
    choice: Annotated[
        int | None, typer.Option("--choice", metavar="ID", help="Only this choice.")
    ] = None,
    actor: Annotated[
        str | None, typer.Option("--actor", help='Only changes by "cli" or a console user.')
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many, newest first.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """Show the audit trail of mapping changes.

    Who changed which mapping or choice, when, and what it was before and after.

    Removed choices stay in it, so a removal can be read back and undone by hand.

    \b
    Example:
      pancake-bridge mappings history --variation v-1 --limit 20
    """
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        changes = reads.mapping_changes(
            conn, shop_id=shop, variation_id=variation, choice_id=choice, actor=actor, limit=limit
        )
        records = [reads.record(change) for change in changes]
    if as_json:
        print_json(records)
        return
    _print_history(changes)


def _print_history(changes: Sequence[AnyRow]) -> None:
    from mappings.audit import differences

    print_table(
        ["at", "actor", "action", "target", "change", "source"],
        [
            [
                when(change.at),
                change.actor,
                change.action,
                (f"choice {change.choice_id}" if change.choice_id is not None else "mapping")
                + f" {change.shop_id}/{change.variation_id}",
                "; ".join(
                    f"{d.field}: {value_text(d.before)} -> {value_text(d.after)}"
                    for d in differences(change)
                ),
                change.source or "-",
            ]
            for change in changes
        ],
    )


def value_text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float):
        from mappings.values import amount_text

        return amount_text(value)  # 125000, not 125000.0
    return str(value)


@mappings.command("edit")
def edit(
    shop: ShopOption = None,
    variation: VariationOption = None,
    choice: ChoiceOption = None,
    name: Annotated[
        str | None, typer.Option("--name", help='Rename the mapping ("" removes the name).')
    ] = None,
    supplier: Annotated[
        str | None, typer.Option("--supplier", help="Buy from this supplier instead.")
    ] = None,
    plan: Annotated[int | None, typer.Option("--plan", help="Buy this plan instead.")] = None,
    units: Annotated[
        int | None, typer.Option("--units", help="Supplier units per POS item.")
    ] = None,
    fields: FieldsOption = None,
    no_fields: Annotated[
        bool, typer.Option("--no-fields", help="Send no fields (remove the template).")
    ] = False,
    priority: Annotated[
        int | None, typer.Option("--priority", help="Lower is tried first.")
    ] = None,
    max_cost: MaxCostOption = None,
    no_max_cost: Annotated[
        bool,
        typer.Option("--no-max-cost", help="Back to the default max cost: the retail price."),
    ] = False,
    offline: OfflineOption = False,
    allow_loss: AllowLossOption = False,
) -> None:
    """Change a choice, or a mapping's name.

    What is not given keeps its value. A new field template's placeholders are checked. A new
    supplier, plan, units, field template or max cost is checked against the supplier's
    catalogue and the variation in Pancake first (--offline skips this), as `add` checks: a
    new supplier, plan or units that sells at a loss is refused unless --allow-loss. The
    plan's price read then is the one a later price rise is told from. Choice options on a
    whole mapping apply to its choice when it has only one.

    \b
    Example:
      pancake-bridge mappings edit --choice 12 --fields '{"email": "{order.bill_email}"}'
      pancake-bridge mappings edit --choice 12 --max-cost 120000
      pancake-bridge mappings edit --shop 4 --variation v-1 --name "Netflix 1 tháng"
    """
    from mappings import commands, repository
    from mappings.targets import TargetError
    from mappings.verify import check_placeholders

    template = repository.parse_fields(fields)
    check_placeholders(template)  # a typing mistake is told before any network read
    wants_choice = any(v is not None for v in (supplier, plan, units, template, priority, max_cost))
    wants_choice = wants_choice or no_fields or no_max_cost
    if not wants_choice and name is None:
        raise typer.BadParameter(
            "nothing to change: give --name, or what to change of a choice (e.g. --units 2)"
        )
    current = settings()
    with reading(current) as session:
        target = _target(session, shop, variation, choice)
        choice_id = target.choice_id
        if wants_choice and choice_id is None:
            try:
                choice_id = repository.edited_choice(session, target)
            except TargetError as exc:
                raise typer.BadParameter(str(exc), param_hint=exc.param) from None
        if name is not None and target.choice_id is not None:
            raise typer.BadParameter(
                "--name belongs to the whole mapping: give --variation", param_hint="'--name'"
            )
        looked_up = repository.get_choice(session, choice_id) if choice_id is not None else None
        checked_supplier = supplier or (looked_up.supplier_name if looked_up else None)
    replanned = supplier is not None or plan is not None or template is not None or no_fields
    replanned = replanned or max_cost is not None or no_max_cost or units is not None
    catalogues = variations = None
    if choice_id is not None and replanned and not offline and checked_supplier is not None:
        if _known(current, None, checked_supplier):
            variations = variations_of(current, [target.shop_id]).get(target.shop_id)
            catalogues = catalogues_of(current, [checked_supplier])
    with writing(current) as session:
        if name is not None:
            renamed = commands.edit_mapping(
                session, target.shop_id, target.variation_id, actor=ACTOR, name=name
            )
            say(
                f"mapping {target.shop_id}/{target.variation_id}: "
                + (f"name {value_text(renamed.after['name'])}" if renamed.changed else "unchanged")
            )
        if choice_id is None:
            return
        changed = commands.edit_choice(
            session,
            choice_id,
            actor=ACTOR,
            supplier_name=supplier,
            plan_id=plan,
            units=units,
            fields=template,
            clear_fields=no_fields,
            priority=priority,
            max_cost=max_cost,
            clear_max_cost=no_max_cost,
            catalogues=catalogues,
            variations=variations,
            allow_loss=allow_loss,
        )
        if not changed.changed:
            say(f"choice {choice_id}: unchanged (it has these values already)")
            return
        what = "; ".join(
            f"{key}: {value_text(changed.before[key])} -> {value_text(value)}"
            for key, value in changed.after.items()
            if changed.before[key] != value
        )
        checked = f" ({_priced(changed.plan)})" if replanned else ""
        say(f"choice {choice_id} changed: {what}{checked}")


@mappings.command("remove")
def remove(
    shop: ShopOption = None,
    variation: VariationOption = None,
    choice: ChoiceOption = None,
) -> None:
    """Remove a mapping with all its choices, or one choice.

    The removed values stay in the audit trail (`history`). To stop using a choice for a
    while, `disable` it instead.

    \b
    Example:
      pancake-bridge mappings remove --choice 12
    """
    from mappings import commands

    with writing(settings()) as session:
        target = _target(session, shop, variation, choice)
        if target.choice_id is not None:
            removed = commands.remove_choice(session, target.choice_id, actor=ACTOR)
            say(
                f"choice {target.choice_id} removed ({removed.supplier_name} plan "
                f"{removed.plan_id} of shop {removed.shop_id} variation {removed.variation_id})"
            )
            return
        mapping = commands.remove_mapping(session, target.shop_id, target.variation_id, actor=ACTOR)
        say(
            f"mapping of shop {mapping.shop_id} variation {mapping.variation_id} removed, with "
            f"{len(mapping.choices)} choice(s): "
            + ", ".join(f"{c.id} ({c.supplier_name} plan {c.plan_id})" for c in mapping.choices)
        )


def _switch(shop: str | None, variation: str | None, choice: int | None, enabled: bool) -> None:
    from mappings import commands

    with writing(settings()) as session:
        target = _target(session, shop, variation, choice)
        if target.choice_id is not None:
            changed = commands.set_choice_enabled(session, target.choice_id, enabled, actor=ACTOR)
        else:
            changed = commands.set_mapping_enabled(
                session, target.shop_id, target.variation_id, enabled, actor=ACTOR
            )
    state = "enabled" if enabled else "disabled"
    say(
        f"{target.describe()}: {state}"
        if changed.changed
        else f"{target.describe()}: already {state}"
    )


@mappings.command("enable")
def enable(
    shop: ShopOption = None,
    variation: VariationOption = None,
    choice: ChoiceOption = None,
) -> None:
    """Use a disabled mapping or choice again.

    Enabling a mapping brings back its choices as each was (a choice disabled on its own
    stays disabled). Lines that waited meanwhile: `bridge fulfilments retry ID`.

    \b
    Example:
      pancake-bridge mappings enable --shop 4 --variation v-1
    """
    _switch(shop, variation, choice, True)


@mappings.command("disable")
def disable(
    shop: ShopOption = None,
    variation: VariationOption = None,
    choice: ChoiceOption = None,
) -> None:
    """Stop using a mapping or one choice, without deleting it.

    A disabled choice is never bought from and does not count for stock sync; a disabled
    mapping is neither bought nor synced (order lines for it wait in needs_attention, and
    Pancake's stock of it is left to staff).

    \b
    Example:
      pancake-bridge mappings disable --choice 12
    """
    _switch(shop, variation, choice, False)


@mappings.command("unmapped")
def unmapped(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List variations ordered that have no mapping.

    With the number of orders and lines, the lines waiting in needs_attention, and when one
    was last seen. Map one with `add`, then `bridge fulfilments retry ID` its waiting lines.

    \b
    Example:
      pancake-bridge mappings unmapped --shop 4
    """
    _print_unmapped(shop, as_json)


def _print_unmapped(shop: str | None, as_json: bool) -> None:
    from bridge.cli import reads

    with read_connection(settings()) as conn:
        rows = reads.unmapped(conn, shop)
    if as_json:
        print_json(rows)
        return
    print_table(
        ["shop", "variation", "item", "orders", "lines", "waiting", "last seen"],
        [
            [r.shop_id, r.variation_id, r.item_name or "-", r.orders, r.lines, r.waiting]
            + [when(r.last_seen)]
            for r in rows
        ],
    )
