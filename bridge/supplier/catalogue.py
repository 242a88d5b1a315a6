"""What a supplier sells: each plan's name, price, stock and required ``fields``, read whole or
with its gap said.

Reading a catalogue is a network call and is done before any write transaction; the mapping
commands then check a choice against what was read (``mappings.verify``), so a console page and
the command line verify the same way. Clients come from the caller (``SupplierClients``), built
with the key's shared budget like every other request.

``products/list`` is read page after page. Some shops ignore paging (shopkey's and cloneviammo's
docs list only ``category_id`` and ``search``; the platform's own server serves its first ten
products whatever is asked, while its ``pagination`` counts them all), and the listing guard
(``bridge.supplier.paging``) then raises ``ListingIncomplete``. The catalogue is then read
around the gap, each step only while something is still missing and while the read has spent
fewer than ``max_calls`` requests:

1. per category: the categories ``categories/list`` names and those the products read so far
   are listed under (the real server answers ``categories/list`` empty while its products
   have categories), each read with ``products/list?category_id=``, whose products may name
   more;
2. by ``search``: first the product names of the plans looked for (``wanted``) as an earlier
   read of this client found them, then single characters (rare letters first), each of
   which finds every product whose name holds it once its listing is whole, and two
   characters after one whose listing was cut short.

The result says how much was read (``Catalogue.complete``): a plan not in a complete catalogue
is no longer sold; a plan not in an incomplete one "could not be read" (``Catalogue.unread``
names those of ``wanted``), which is not the same thing. What is "missing" is "every product
the unfiltered listing's ``total`` counts" when no plan is ``wanted``, else the wanted plans.
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter, deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

from bridge.supplier.errors import ListingIncomplete
from bridge.supplier.models import Supplier

if TYPE_CHECKING:
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.client import SupplierClient
    from bridge.supplier.errors import SupplierError
    from bridge.supplier.schemas import Product

SupplierClients = Callable[[Supplier], "SupplierClient"]
# ``progress(phase, done, total)``: ``total`` None while the number of pages is not known.
Progress = Callable[[str, int, int | None], None]

PAGE_SIZE = 100
# The most requests one catalogue read may spend (the first listing included): half a minute
# of the documented 60 a minute, so purchases sharing the key's budget are never starved.
MAX_CALLS = 30
# Single-character searches, the letters likely to match few product names first (digits last:
# few names hold one): a search whose listing is whole has found every product whose name holds
# its character. Measured on a 35-product catalogue that shows its first ten, 16 calls read it
# whole (26 with the digits first).
SWEEP = "qzjxwfkvybpdglrscmuehotina0123456789"


def no_progress(phase: str, done: int, total: int | None) -> None:
    return None


@dataclass(frozen=True, slots=True)
class RequiredField:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class PlanInfo:
    plan_id: int
    name: str
    product_name: str
    final_price: float
    is_instant: bool
    stock_count: int
    in_stock: bool
    required: tuple[RequiredField, ...] = ()


class Route(StrEnum):
    """How a catalogue was read."""

    PAGES = "pages"  # products/list, page after page
    CATEGORIES = "categories"  # products/list?category_id= for each category
    SEARCH = "search"  # products/list?search=


class Catalogue(dict[int, PlanInfo]):
    """Plan id -> what the supplier's catalogue says of it, and how much of it was read.

    ``complete``: every product the supplier lists was read, so a plan not in it is not sold.
    Otherwise ``gap`` says in one sentence what could not be read and why, and ``unread``
    names the plans looked for (``wanted``) that were not found: they may still be sold.
    ``listed`` is the number of products the supplier says it has (None: not told),
    ``products`` how many were read, ``calls`` the requests the read spent.
    """

    def __init__(
        self,
        plans: Mapping[int, PlanInfo] | None = None,
        *,
        complete: bool = True,
        listed: int | None = None,
        products: int = 0,
        routes: tuple[Route, ...] = (Route.PAGES,),
        calls: int = 0,
        gap: str = "",
        unread: frozenset[int] = frozenset(),
    ) -> None:
        super().__init__(plans or {})
        self.complete = complete
        self.listed = listed
        self.products = products
        self.routes = routes
        self.calls = calls
        self.gap = gap
        self.unread = unread

    def unread_plan(self, plan_id: int) -> bool:
        """The plan is not in what could be read of the catalogue, which is not whole: it may
        still be sold (not "vanished")."""
        return plan_id not in self and not self.complete

    def describe(self) -> str:
        """How the catalogue was read, for a report: "35 products, per category (...)"."""
        read = (
            f"{self.products} products"
            if self.complete or self.listed is None
            else f"{self.products} of {self.listed} products"
        )
        how = " and ".join(route.value for route in self.routes if route is not Route.PAGES)
        text = f"{read}, by {how}" if how else read
        return f"{text}; {self.calls} calls" + ("" if self.complete else f": {self.gap}")


def read_catalogue(
    client: SupplierClient,
    *,
    name: str = "",
    wanted: Collection[int] = (),
    max_calls: int = MAX_CALLS,
    progress: Progress = no_progress,
) -> Catalogue:
    """The supplier's catalogue: whole when ``products/list`` pages, else as much as the
    categories and searches find (see the module doc) of what is missing: the ``wanted``
    plans, or (none wanted) every product. Errors of the first listing are raised (nothing
    could be read); an error after it ends the read, and the gap names it."""
    reader = _Reader(client, frozenset(wanted), max_calls, name or "catalogue", progress)
    try:
        for page in client.iter_product_pages(limit=PAGE_SIZE):
            reader.add(page.products, page.total)
        reader.paged = True
        return reader.result()
    except ListingIncomplete:
        reader.notes.append(f"products/list ignores paging ({reader.read} products listed)")
    reader.around_the_gap()
    return reader.result()


class _Read(NamedTuple):
    """What a read keeps of one product as its page arrives, in place of the parsed model: a
    100,000-plan catalogue held as pydantic models cost the stock sync ~50 MB per supplier."""

    name: str
    category_ids: tuple[int, ...]
    plans: tuple[PlanInfo, ...]


def _kept(product: Product) -> _Read:
    return _Read(
        product.name,
        product.category_ids,
        tuple(
            PlanInfo(
                plan_id=plan.id,
                name=plan.name,
                product_name=product.name,
                final_price=plan.final_price,
                is_instant=plan.is_instant,
                stock_count=plan.stock_count,
                in_stock=plan.in_stock,
                required=tuple(
                    RequiredField(field.key, field.label) for field in plan.fields if field.required
                ),
            )
            for plan in product.plans
        ),
    )


@dataclass
class _Listing:
    """One filtered listing: its products, and whether they are all it holds."""

    products: list[Product]
    whole: bool


@dataclass
class _Reader:
    client: SupplierClient
    wanted: frozenset[int]
    max_calls: int
    name: str
    progress: Progress
    products: dict[int, _Read] = field(default_factory=dict)
    listed: int | None = None
    routes: list[Route] = field(default_factory=lambda: [Route.PAGES])
    notes: list[str] = field(default_factory=list)
    # The plain listing was read to its end: the catalogue is whole (as far as it tells).
    paged: bool = False
    start: int = 0

    def __post_init__(self) -> None:
        self.start = self.client.calls

    @property
    def read(self) -> int:
        return len(self.products)

    @property
    def spent(self) -> int:
        return self.client.calls - self.start

    def add(self, products: Iterable[Product], total: int | None = None) -> None:
        self.products.update((product.id, _kept(product)) for product in products)
        if total is not None:
            self.listed = total
        self.progress(f"reading {self.name}", self.spent, None)

    def found(self) -> set[int]:
        return {plan.plan_id for product in self.products.values() for plan in product.plans}

    def whole(self) -> bool:
        return self.listed is not None and self.read >= self.listed

    def enough(self) -> bool:
        return self.whole() or (bool(self.wanted) and self.wanted <= self.found())

    def around_the_gap(self) -> None:
        """Per category, then by search, while something is missing and calls are left; an
        error ends the read (what was read is kept, the gap names it)."""
        from bridge.supplier.budget import BudgetExhausted
        from bridge.supplier.errors import SupplierError

        try:
            for step in (self.by_category, self.by_search):
                if self.enough() or self.spent >= self.max_calls:
                    return
                step()
        except (SupplierError, BudgetExhausted) as exc:
            self.notes.append(_stopped(exc))

    def listing(self, *, category_id: int | None = None, search: str | None = None) -> _Listing:
        """One request: the first page of a filtered listing. The shop ignores paging, so a
        second page would only repeat it; the listing is whole when the page holds its total
        (or, not told one, says no more follow)."""
        page = self.client.list_products(limit=PAGE_SIZE, category_id=category_id, search=search)
        self.add(page.products)
        shown = len({product.id for product in page.products})
        whole = shown >= page.total if page.total is not None else not page.has_more
        return _Listing(page.products, whole)

    def by_category(self) -> None:
        from bridge.supplier.errors import SupplierRefused

        try:
            named = [category.id for category in self.client.categories()]
        except SupplierRefused as exc:  # a shop without the endpoint
            named = []
            self.notes.append(f"categories/list refused ({exc.error_code or exc.status})")
        else:
            self.notes.append(
                f"categories/list names {len(named)}" if named else "categories/list is empty"
            )
        queue = dict.fromkeys(named)
        for product in self.products.values():
            queue.update(dict.fromkeys(product.category_ids))
        done: set[int] = set()
        capped = 0
        while not self.enough() and self.spent < self.max_calls:
            # The category with the fewest products already read is the likeliest to hold
            # unread ones.
            read = Counter(c for product in self.products.values() for c in product.category_ids)
            pending = [c for c in queue if c not in done]
            if not pending:
                break
            category = min(pending, key=lambda c: read[c])
            done.add(category)
            listing = self.listing(category_id=category)
            capped += not listing.whole
            for listed in listing.products:
                queue.update(dict.fromkeys(listed.category_ids))
        if done:
            self.routes.append(Route.CATEGORIES)
            self.notes.append(
                f"{len(done)} categories read" + (f", {capped} of them in part" if capped else "")
            )

    def by_search(self) -> None:
        self.routes.append(Route.SEARCH)
        missing = self.wanted - self.found()
        known = remembered(self.client)
        names = dict.fromkeys(known[plan] for plan in sorted(missing) if plan in known)
        # Names first: each is one call for a plan an earlier read found. Characters then, each
        # refined with a second character when its listing was cut short, while calls last.
        terms: deque[tuple[str, bool]] = deque((term, False) for term in names)
        terms.extend((character, True) for character in SWEEP)
        searched: set[str] = set()
        while terms and not self.enough() and self.spent < self.max_calls:
            term, refine = terms.popleft()
            if term.casefold() in searched:
                continue
            searched.add(term.casefold())
            if not self.listing(search=term).whole and refine:
                terms.extend((term + character, True) for character in SWEEP)
        self.notes.append(f"{len(searched)} searches")

    def result(self) -> Catalogue:
        complete = self.paged or self.whole()
        plans = {plan.plan_id: plan for product in self.products.values() for plan in product.plans}
        remember(self.client, {plan_id: plan.product_name for plan_id, plan in plans.items()})
        gap = ""
        if not complete:
            if self.spent >= self.max_calls:
                self.notes.append(f"stopped at {self.max_calls} calls, the most one read spends")
            gap = "; ".join(self.notes)
        return Catalogue(
            plans,
            complete=complete,
            listed=self.listed,
            products=self.read,
            routes=tuple(self.routes),
            calls=self.spent,
            gap=gap,
            unread=frozenset() if complete else self.wanted - set(plans),
        )


def _stopped(exc: SupplierError | BudgetExhausted) -> str:
    return f"stopped by {type(exc).__name__}: {exc}"


# The product name of each plan a client's reads found: what a later read searches for a plan
# the listing does not show. Kept per client (a worker keeps its clients), never stored.
_names: weakref.WeakKeyDictionary[SupplierClient, dict[int, str]] = weakref.WeakKeyDictionary()
_names_lock = threading.Lock()


def remembered(client: SupplierClient) -> dict[int, str]:
    with _names_lock:
        return dict(_names.get(client, {}))


def remember(client: SupplierClient, names: Mapping[int, str]) -> None:
    with _names_lock:
        _names.setdefault(client, {}).update(names)


@dataclass
class Catalogues:
    """The catalogues read for a command, and why any could not be read (supplier -> reason)."""

    plans: dict[str, Catalogue]
    unreadable: dict[str, str]
    # Requests each supplier was sent for it.
    calls: dict[str, int]


def read_catalogues(
    suppliers: Iterable[Supplier],
    clients: SupplierClients,
    *,
    wanted: Mapping[str, Collection[int]] | None = None,
    progress: Progress = no_progress,
) -> Catalogues:
    """Each supplier's catalogue once (``wanted``: the plans looked for, by supplier name); one
    that cannot be read at all is named with the reason."""
    from bridge.supplier.budget import BudgetExhausted
    from bridge.supplier.errors import SupplierError

    found = Catalogues({}, {}, {})
    for supplier in suppliers:
        client = clients(supplier)
        before = client.calls
        try:
            found.plans[supplier.name] = read_catalogue(
                client,
                name=supplier.name,
                wanted=(wanted or {}).get(supplier.name, ()),
                progress=progress,
            )
        except (SupplierError, BudgetExhausted) as exc:
            found.unreadable[supplier.name] = f"{type(exc).__name__}: {exc}"
        found.calls[supplier.name] = client.calls - before
    return found
