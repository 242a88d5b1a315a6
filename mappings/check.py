"""``check``: every mapping against the live catalogues, before a customer finds what is wrong.

For each choice: does the variation still exist in Pancake (``GET /shops/<id>/products/
variations``, every page), does the plan still exist at the supplier (``products/list``, every
page, or per category and by search where the shop ignores paging: ``bridge.supplier.
catalogue``), are the plan's required ``fields`` covered by the template, and what is the margin
(Pancake's retail price minus the supplier's final price times the units per POS item). A plan
the catalogue no longer lists has vanished; one that is not in what could be read of a catalogue
that could not be read whole is "unread": it may still be sold, and nothing proves it either way.

Each shop and each supplier is read once, through the clients the caller gives (built with
the key's shared budget, as every request is). Nothing is written. Problems of a disabled
choice (or mapping) are reported but do not fail the check: nothing is bought from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlmodel import Session, select

from bridge.pancake.models import PancakeShop
from bridge.supplier.catalogue import (
    Catalogues,
    PlanInfo,
    Progress,
    SupplierClients,
    no_progress,
    read_catalogues,
)
from bridge.supplier.models import Supplier
from mappings import repository
from mappings.verify import margin, placeholder_problems, uncovered

if TYPE_CHECKING:
    from bridge.pancake.client import PancakeClient
    from bridge.pancake.schemas import Variation

PancakeClients = Callable[[PancakeShop], "PancakeClient"]
VARIATION_PAGE_SIZE = 100
# A guard, as for the supplier listings: 1,000 pages are 100,000 variations.
MAX_VARIATION_PAGES = 1000


class Problem(StrEnum):
    VARIATION_MISSING = "variation_missing"  # Pancake has no such variation (now, or ever)
    PLAN_VANISHED = "plan_vanished"  # the supplier's catalogue no longer lists the plan
    # Not in what could be read of a catalogue that could not be read whole: not verified.
    PLAN_UNREAD = "plan_unread"
    FIELDS_UNCOVERED = "fields_uncovered"  # the plan requires fields the template lacks
    # A placeholder of the template that no order can fill ({order.bill_emial}).
    BAD_PLACEHOLDER = "bad_placeholder"
    NEGATIVE_MARGIN = "negative_margin"  # the supplier costs more than Pancake sells it for
    UNREADABLE = "unreadable"  # the shop or the supplier could not be read: not verified


@dataclass
class CheckedChoice:
    choice_id: int
    shop_id: str
    variation_id: str
    name: str | None  # the mapping's own name
    supplier_name: str
    plan_id: int
    units: int
    active: bool  # the choice and its mapping are enabled
    variation_name: str | None = None  # as Pancake lists it
    retail_price: int | None = None
    plan_name: str | None = None
    final_price: float | None = None
    is_instant: bool | None = None
    stock: int | None = None
    in_stock: bool | None = None
    problems: list[Problem] = field(default_factory=list)
    details: list[str] = field(default_factory=list)  # the problems, one phrase each

    @property
    def cost(self) -> float | None:
        return None if self.final_price is None else self.final_price * self.units

    @property
    def margin(self) -> float | None:
        return margin(self.retail_price, self.final_price, self.units)

    @property
    def failing(self) -> bool:
        return self.active and bool(self.problems)

    def flag(self, problem: Problem, detail: str) -> None:
        self.problems.append(problem)
        self.details.append(detail)


@dataclass
class CheckReport:
    rows: list[CheckedChoice]
    unreadable: dict[str, str]  # "shop 4" / "supplier caoshop" -> why
    supplier_calls: dict[str, int]
    pancake_calls: int
    # Suppliers whose catalogue could be read only in part -> how much, and why.
    gaps: dict[str, str] = field(default_factory=dict)

    @property
    def failing(self) -> list[CheckedChoice]:
        return [row for row in self.rows if row.failing]

    @property
    def unread(self) -> list[CheckedChoice]:
        """Choices whose plan is not in what could be read of their catalogue."""
        return [row for row in self.rows if Problem.PLAN_UNREAD in row.problems]

    def count(self, problem: Problem) -> int:
        return sum(1 for row in self.failing if problem in row.problems)


@dataclass(frozen=True)
class CheckInput:
    """What a check reads from the database, before any network call."""

    choices: list[repository.ChoiceView]
    shops: list[PancakeShop]
    suppliers: list[Supplier]


def load(
    session: Session, *, shop_id: str | None = None, supplier_name: str | None = None
) -> CheckInput:
    choices = repository.list_choices(session, shop_id=shop_id, supplier_name=supplier_name)
    shop_ids = {view.choice.shop_id for view in choices}
    names = {view.choice.supplier_name for view in choices}
    shops = [s for s in session.exec(select(PancakeShop)) if s.shop_id in shop_ids]
    suppliers = [s for s in session.exec(select(Supplier)) if s.name in names]
    return CheckInput(choices, shops, suppliers)


def check(
    given: CheckInput,
    *,
    supplier_clients: SupplierClients,
    pancake_clients: PancakeClients,
    progress: Progress = no_progress,
) -> CheckReport:
    """Check every choice of ``given`` against Pancake and the suppliers (network; no writes)."""
    variations, unreadable, pancake_calls = _read_shops(given.shops, pancake_clients, progress)
    wanted: dict[str, set[int]] = {}
    for view in given.choices:
        wanted.setdefault(view.choice.supplier_name, set()).add(view.choice.plan_id)
    catalogues = read_catalogues(
        given.suppliers, supplier_clients, wanted=wanted, progress=progress
    )
    for name, reason in catalogues.unreadable.items():
        unreadable[f"supplier {name}"] = reason
    gaps = {
        name: catalogue.describe()
        for name, catalogue in catalogues.plans.items()
        if not catalogue.complete
    }
    rows = []
    total = len(given.choices)
    for done, view in enumerate(given.choices, start=1):
        rows.append(_check_one(view, variations, catalogues))
        progress("checking", done, total)
    return CheckReport(rows, unreadable, dict(catalogues.calls), pancake_calls, gaps)


def _read_shops(
    shops: Iterable[PancakeShop], clients: PancakeClients, progress: Progress
) -> tuple[dict[str, dict[str, Variation]], dict[str, str], int]:
    from bridge.pancake.errors import PancakeError

    found: dict[str, dict[str, Variation]] = {}
    unreadable: dict[str, str] = {}
    calls = 0
    for shop in shops:
        client = clients(shop)
        before = client.calls
        try:
            found[shop.shop_id] = read_variations(client, shop.shop_id, progress)
        except PancakeError as exc:
            unreadable[f"shop {shop.shop_id}"] = f"{type(exc).__name__}: {exc}"
        calls += client.calls - before
    return found, unreadable, calls


def read_variations(
    client: PancakeClient, shop_id: str, progress: Progress = no_progress
) -> dict[str, Variation]:
    """Every variation of the shop, page after page; a page that repeats one already read
    (a server ignoring ``page_number``) ends the listing rather than looping."""
    found: dict[str, Variation] = {}
    seen: set[tuple[str, ...]] = set()
    for number in range(1, MAX_VARIATION_PAGES + 1):
        page = client.list_variations(shop_id, page_number=number, page_size=VARIATION_PAGE_SIZE)
        ids = tuple(str(variation.id) for variation in page.variations)
        if not ids or ids in seen:
            break
        seen.add(ids)
        found.update((str(variation.id), variation) for variation in page.variations)
        progress(f"reading Pancake shop {shop_id}", number, page.total_pages)
        if not page.has_more:
            break
    return found


def _check_one(
    view: repository.ChoiceView,
    variations: dict[str, dict[str, Variation]],
    catalogues: Catalogues,
) -> CheckedChoice:
    choice = view.choice
    assert choice.id is not None
    row = CheckedChoice(
        choice.id,
        choice.shop_id,
        choice.variation_id,
        view.name,
        choice.supplier_name,
        choice.plan_id,
        choice.units,
        view.active,
    )
    listed = variations.get(choice.shop_id)
    if listed is None:
        row.flag(Problem.UNREADABLE, f"shop {choice.shop_id} could not be read")
    else:
        variation = listed.get(choice.variation_id)
        if variation is None:
            # Whether it ever did is not known here: say what is.
            row.flag(Problem.VARIATION_MISSING, "Pancake has no such variation")
        else:
            row.variation_name, row.retail_price = variation.name, variation.retail_price
    for problem in placeholder_problems(choice.fields_template):
        row.flag(Problem.BAD_PLACEHOLDER, problem)
    plans = catalogues.plans.get(choice.supplier_name)
    if plans is None:
        row.flag(Problem.UNREADABLE, f"supplier {choice.supplier_name} could not be read")
        return row
    plan = plans.get(choice.plan_id)
    if plan is None and plans.unread_plan(choice.plan_id):
        read = f"{plans.products} of {plans.listed}" if plans.listed else str(plans.products)
        row.flag(
            Problem.PLAN_UNREAD,
            f"plan {choice.plan_id} is not in what could be read of the catalogue ({read} "
            "products read): not verified",
        )
        return row
    if plan is None:
        row.flag(Problem.PLAN_VANISHED, f"plan {choice.plan_id} is no longer in the catalogue")
        return row
    _describe(row, plan)
    missing = uncovered(plan, choice.fields_template)
    if missing:
        row.flag(
            Problem.FIELDS_UNCOVERED,
            "required fields not in the template: " + ", ".join(f.key for f in missing),
        )
    margin = row.margin
    if margin is not None and margin < 0:
        row.flag(Problem.NEGATIVE_MARGIN, f"margin {margin:,.0f}")
    return row


def _describe(row: CheckedChoice, plan: PlanInfo) -> None:
    row.plan_name, row.final_price = plan.name, plan.final_price
    row.is_instant, row.in_stock = plan.is_instant, plan.in_stock
    # Manual plans report no stock count (0 while in stock): there is none to show.
    row.stock = plan.stock_count if plan.is_instant else None
