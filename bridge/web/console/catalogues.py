"""The catalogues the mapping pickers are filled from: each Pancake shop's variations, read
live through the workers' clients and kept for a minute, and each supplier's plans as the
workers last read them (``bridge.web.console.readings``: a page view never calls a supplier;
a catalogue older than ``CATALOGUE_REFRESH_SECONDS`` is asked for, and the next view shows it).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from bridge.db import utcnow
from bridge.errors import NotFound
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import Variation
from bridge.supplier.breaker import is_paused
from bridge.supplier.catalogue import Catalogue, Catalogues
from bridge.supplier.models import Supplier
from bridge.web.console.fresh import Fresh, Reading
from bridge.web.console.readings import Shown, SupplierReadings
from bridge.web.console.store import reading
from mappings.check import read_variations
from workers.queue.context import Context
from workers.suppliers.models import ReadingKind
from workers.suppliers.readings import catalogue_of

CATALOGUE_SECONDS = 60.0
# A catalogue read may take many requests (a shop that ignores paging is read per category):
# asked for again only this long after the last one.
CATALOGUE_REFRESH_SECONDS = 300.0


class LiveCatalogues:
    """Variations by shop id, fresh within a minute; plans by supplier name, as stored."""

    def __init__(
        self, engine: Engine, ctx: Context | None, readings: SupplierReadings | None = None
    ) -> None:
        self._engine = engine
        self._ctx = ctx
        self._variations: Fresh[dict[str, Variation]] = Fresh(CATALOGUE_SECONDS)
        self._readings = readings or SupplierReadings(
            engine, None, refresh_seconds=CATALOGUE_REFRESH_SECONDS
        )

    def variations(self, shop_id: str) -> Reading[dict[str, Variation]]:
        """The shop's variations by id, as Pancake lists them."""
        return self._variations.get(shop_id, lambda: self._shop(shop_id))

    def plans(self, supplier_name: str) -> Shown[Catalogue]:
        """The supplier's plans by id, as the workers last read its catalogue."""
        now = utcnow()
        with reading(self._engine) as session:
            supplier = session.get(Supplier, supplier_name)
            if supplier is None:
                return Shown(None, None, f"no supplier {supplier_name}")
            refresh = [] if is_paused(supplier, now) else [supplier_name]
            found = self._readings.shown(
                session, ReadingKind.CATALOGUE, [supplier_name], now, catalogue_of, refresh=refresh
            )
        return found[supplier_name]

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
