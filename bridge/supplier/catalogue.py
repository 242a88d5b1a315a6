"""What a supplier sells: each plan's name, price, stock and required ``fields``.

Reading a catalogue is a network call (``products/list``, every page) and is done before any
write transaction; the mapping commands then check a choice against what was read
(``mappings.verify``), so a console page and the command line verify the same way. Clients
come from the caller (``SupplierClients``), built with the key's shared budget like every other
request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bridge.supplier.models import Supplier

if TYPE_CHECKING:
    from bridge.supplier.client import SupplierClient

SupplierClients = Callable[[Supplier], "SupplierClient"]
# ``progress(phase, done, total)``: ``total`` None while the number of pages is not known.
Progress = Callable[[str, int, int | None], None]


def no_progress(phase: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True)
class RequiredField:
    key: str
    label: str


@dataclass(frozen=True)
class PlanInfo:
    plan_id: int
    name: str
    product_name: str
    final_price: float
    is_instant: bool
    stock_count: int
    in_stock: bool
    required: tuple[RequiredField, ...] = ()


# plan id -> what the supplier's catalogue says of it
Catalogue = dict[int, PlanInfo]


def read_catalogue(
    client: SupplierClient, *, name: str = "", progress: Progress = no_progress
) -> Catalogue:
    """The supplier's whole catalogue (``products/list``, every page)."""
    plans: Catalogue = {}
    for number, page in enumerate(client.iter_product_pages(limit=100), start=1):
        for product in page.products:
            for plan in product.plans:
                plans[plan.id] = PlanInfo(
                    plan_id=plan.id,
                    name=plan.name,
                    product_name=product.name,
                    final_price=plan.final_price,
                    is_instant=plan.is_instant,
                    stock_count=plan.stock_count,
                    in_stock=plan.in_stock,
                    required=tuple(
                        RequiredField(field.key, field.label)
                        for field in plan.fields
                        if field.required
                    ),
                )
        progress(f"reading {name or 'catalogue'}", number, None)
    return plans


@dataclass
class Catalogues:
    """The catalogues read for a command, and why any could not be read (supplier -> reason)."""

    plans: dict[str, Catalogue]
    unreadable: dict[str, str]
    # Requests each supplier was sent for it.
    calls: dict[str, int]


def read_catalogues(
    suppliers: Iterable[Supplier], clients: SupplierClients, *, progress: Progress = no_progress
) -> Catalogues:
    """Each supplier's catalogue once; one that cannot be read is named with the reason."""
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.errors import SupplierError

    found = Catalogues({}, {}, {})
    for supplier in suppliers:
        client = clients(supplier)
        before = client.calls
        try:
            found.plans[supplier.name] = read_catalogue(
                client, name=supplier.name, progress=progress
            )
        except (SupplierError, BudgetExhausted) as exc:
            found.unreadable[supplier.name] = f"{type(exc).__name__}: {exc}"
        found.calls[supplier.name] = client.calls - before
    return found
