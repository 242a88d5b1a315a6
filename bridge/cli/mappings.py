"""``bridge mappings``: which supplier plan serves a Pancake variation, in which order."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bridge.cli import app
from bridge.cli.output import JsonOption, print_json, print_table, say
from bridge.cli.support import reading, settings, writing

mappings = typer.Typer(
    help=(
        "Which supplier plans serve a Pancake variation.\n\n"
        "A variation may have several choices; the lowest priority is tried first.\n\n"
        "\b\nExample:\n  pancake-bridge mappings add --shop 4 --variation v-1 "
        "--supplier caoshop --plan 319"
    ),
    no_args_is_help=True,
)
app.add_typer(mappings, name="mappings")


@mappings.command("add")
def add(
    shop: Annotated[str, typer.Option("--shop", help="The Pancake shop id.")],
    variation: Annotated[str, typer.Option("--variation", help="The Pancake variation id.")],
    supplier: Annotated[str, typer.Option("--supplier", help="The supplier's name.")],
    plan: Annotated[int, typer.Option("--plan", help="The supplier's plan id.")],
    units: Annotated[int, typer.Option("--units", help="Supplier units per POS item.")] = 1,
    fields: Annotated[
        str | None,
        typer.Option(
            "--fields",
            metavar="JSON",
            help="Order fields the supplier needs, a JSON object, "
            'e.g. {"email": "{order.bill_email}"}.',
        ),
    ] = None,
    priority: Annotated[int, typer.Option("--priority", help="Lower is tried first.")] = 0,
) -> None:
    """Map a Pancake variation to a supplier plan.

    Adding the same (shop, variation, supplier, plan) again updates that choice.

    \b
    Example:
      pancake-bridge mappings add --shop 4 --variation v-1 --supplier caoshop --plan 319 \\
          --fields '{"email": "{order.bill_email}"}'
    """
    from mappings import repository

    template = repository.parse_fields(fields)
    with writing(settings()) as session:
        mapping = repository.add_mapping(
            session,
            shop_id=shop,
            variation_id=variation,
            supplier_name=supplier,
            plan_id=plan,
            units=units,
            fields=template,
            priority=priority,
        )
        session.flush()
        say(f"mapping {mapping.id} saved")


@mappings.command("list")
def list_(
    shop: Annotated[str | None, typer.Option("--shop", help="Only this shop's mappings.")] = None,
    as_json: JsonOption = False,
) -> None:
    """List the mappings.

    Sorted by shop, variation and priority (the order choices are tried in).

    \b
    Example:
      pancake-bridge mappings list --shop 4
    """
    from mappings import repository

    with reading(settings()) as session:
        records = [m.model_dump() for m in repository.list_mappings(session, shop)]
    if as_json:
        print_json(records)
        return
    print_table(
        ["id", "shop", "variation", "supplier", "plan", "units", "priority", "fields"],
        [
            [
                r["id"],
                r["shop_id"],
                r["variation_id"],
                r["supplier_name"],
                r["plan_id"],
                r["units"],
                r["priority"],
                json.dumps(r["fields_template"], ensure_ascii=False)
                if r["fields_template"]
                else "-",
            ]
            for r in records
        ],
    )
