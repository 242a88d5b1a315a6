"""The live catalogues the mapping pickers are filled from: each Pancake shop's variations and
each supplier's plans, read through the workers' clients (so every supplier request spends the
key's shared budget) and kept for a minute, so an operator moving between pickers costs one
reading per catalogue, not one per click.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bridge.errors import NotFound
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import Variation
from bridge.supplier.catalogue import Catalogue, Catalogues, read_catalogue
from bridge.supplier.models import Supplier
from bridge.web.console.fresh import Fresh, Reading
from bridge.web.console.store import reading
from mappings.check import read_variations
from workers.queue.context import Context

CATALOGUE_SECONDS = 60.0


class LiveCatalogues:
    """Variations by shop id and plans by supplier name, fresh within a minute."""

    def __init__(self, engine: Engine, ctx: Context | None) -> None:
        self._engine = engine
        self._ctx = ctx
        self._variations: Fresh[dict[str, Variation]] = Fresh(CATALOGUE_SECONDS)
        self._plans: Fresh[Catalogue] = Fresh(CATALOGUE_SECONDS)

    def variations(self, shop_id: str) -> Reading[dict[str, Variation]]:
        """The shop's variations by id, as Pancake lists them."""
        return self._variations.get(shop_id, lambda: self._shop(shop_id))

    def plans(self, supplier_name: str) -> Reading[Catalogue]:
        """The supplier's plans by id, as its catalogue lists them."""
        return self._plans.get(supplier_name, lambda: self._supplier(supplier_name))

    def catalogues(self, supplier_name: str) -> Catalogues:
        """One supplier's catalogue as ``mappings.commands`` checks a choice against it."""
        found = self.plans(supplier_name)
        if found.value is None:
            return Catalogues({}, {supplier_name: found.error or "not read"}, {})
        return Catalogues({supplier_name: found.value}, {}, {})

    def _context(self) -> Context:
        if self._ctx is None:
            raise NotFound("this console runs without the workers' clients: no live catalogue")
        return self._ctx

    def _shop(self, shop_id: str) -> dict[str, Variation]:
        ctx = self._context()
        with reading(self._engine) as session:
            shop = session.get(PancakeShop, shop_id)
        if shop is None:
            raise NotFound(f"no shop {shop_id}")
        # The context's clients are shared with the workers: used, never closed here.
        return read_variations(ctx.pancake(shop), shop_id)

    def _supplier(self, name: str) -> Catalogue:
        ctx = self._context()
        with reading(self._engine) as session:
            supplier = session.get(Supplier, name)
        if supplier is None:
            raise NotFound(f"no supplier {name}")
        return read_catalogue(ctx.supplier(supplier), name=name)
