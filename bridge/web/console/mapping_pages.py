"""The console's mapping pages: the mappings with search, one mapping with its choices and audit
trail, the editor whose pickers are filled from the live catalogues, and the variations orders
asked for that nothing maps.

Hand-written because a mapping is not one table row: it is a variation (named, enabled) with
its ordered choices, shown with what Pancake and the supplier say of them right now. Every
change goes through ``mappings.commands`` (as ``bridge mappings`` does), audited under the
console user's name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette_admin.flash import flash
from starlette_admin.i18n import gettext as _
from starlette_admin.i18n import lazy_gettext, ngettext
from starlette_admin.routing import route

from bridge.db import session_scope, utcnow
from bridge.errors import BridgeError, NotFound
from bridge.logs import event
from bridge.pancake.models import PancakeShop
from bridge.pancake.schemas import Variation
from bridge.supplier.catalogue import Catalogue, PlanInfo
from bridge.supplier.models import PlanShelf, Supplier
from bridge.supplier.shelf import shelves
from bridge.web.console.audit import AuditAction
from bridge.web.console.auth import client_address_for_audit, console_user
from bridge.web.console.catalogues import LiveCatalogues
from bridge.web.console.errors import back_with_error, error_text
from bridge.web.console.lines import redrive
from bridge.web.console.mapping_forms import SOURCE, ChoiceForm
from bridge.web.console.pages import Page
from bridge.web.console.readings import ago
from bridge.web.console.store import reading
from mappings import audit, commands, repository
from mappings.models import MappingChange, MappingChoice
from mappings.resolve import too_dear
from mappings.verify import ShopVariations, margin

Done = TypeVar("Done")
PAGE_SIZE = 25
# Suggested values for a plan's required fields, by what the field's key says it is.
SUGGESTIONS = {"mail": "{order.bill_email}", "phone": "{order.bill_phone_number}"}


@dataclass(frozen=True)
class LiveChoice:
    """A choice with what the live catalogues say of it now (None: not known)."""

    choice: MappingChoice
    plan: PlanInfo | None
    retail_price: int | None
    # What its last purchase cost (the supplier's final amount); None: never bought.
    paid: repository.Paid | None = None
    # The plan is not in what could be read of a catalogue read only in part: it may still be
    # sold (not "no longer in the catalogue").
    unread: bool = False
    # Why a purchase would pass it over now, by the catalogue read purchases are judged by
    # (``mappings.resolve.too_dear``); None: within its max cost, or not known.
    dear: str | None = None

    @property
    def cost(self) -> float | None:
        return None if self.plan is None else self.plan.final_price * self.choice.units

    @property
    def margin(self) -> float | None:
        return margin(
            self.retail_price,
            None if self.plan is None else self.plan.final_price,
            self.choice.units,
        )


def _options(engine: Engine) -> tuple[list[str], list[str]]:
    """The shops and the enabled suppliers a choice can name, for the editor's selects."""
    with reading(engine) as session:
        shops = list(session.exec(select(PancakeShop.shop_id).order_by(PancakeShop.shop_id)))
        suppliers = list(
            session.exec(
                select(Supplier.name)
                .where(col(Supplier.enabled).is_(True))
                .order_by(col(Supplier.name))
            )
        )
    return shops, suppliers


class MappingsPage(Page):
    """``/admin/mappings``: which supplier plans serve each Pancake variation."""

    def __init__(self, engine: Engine, live: LiveCatalogues) -> None:
        super().__init__(
            menu_label=lazy_gettext("Mappings"),
            icon="fa fa-diagram-project",
            path="/mappings",
            route_name="mappings",
        )
        self._engine = engine
        self._live = live

    # -- the list -----------------------------------------------------------------------------

    @route("")
    async def index(self, request: Request) -> Response:
        search = request.query_params.get("q", "")
        try:
            number = max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            number = 1

        def load() -> tuple[list[repository.MappingView], dict[tuple[str, str], str]]:
            with reading(self._engine) as session:
                shops = [shop.shop_id for shop in session.exec(select(PancakeShop))]
            # Pancake's names for the variations, so a mapping nobody named is recognisable.
            labels = {
                (shop_id, variation_id): variation.label
                for shop_id in shops
                for variation_id, variation in (self._live.variations(shop_id).value or {}).items()
            }
            with reading(self._engine) as session:
                return repository.list_grouped(session, search, labels), labels

        found, labels = await run_in_threadpool(load)
        pages = max(1, -(-len(found) // PAGE_SIZE))
        number = min(number, pages)
        shown = found[(number - 1) * PAGE_SIZE : number * PAGE_SIZE]
        return self.render(
            request,
            "console/mappings.html",
            {
                "title": _("Mappings"),
                "mappings": shown,
                "labels": labels,
                "total": len(found),
                "search": search,
                "page": number,
                "pages": pages,
                "page_url": lambda n: "?" + urlencode({"q": search, "page": n}),
            },
        )

    # -- one mapping --------------------------------------------------------------------------

    @route("/variation/{shop_id}/{variation_id}", name="mapping")
    async def mapping(self, request: Request) -> Response:
        shop_id: str = request.path_params["shop_id"]
        variation_id: str = request.path_params["variation_id"]

        def load() -> tuple[
            repository.MappingView,
            list[Any],
            list[MappingChange],
            dict[tuple[str, int], repository.Paid],
            dict[tuple[str, int], PlanShelf],
        ]:
            with reading(self._engine) as session:
                mapping = repository.get_mapping(session, shop_id, variation_id)
                waiting = repository.waiting_lines(session, shop_id, variation_id)
                trail = audit.history(session, shop_id=shop_id, variation_id=variation_id)
                paid = repository.last_paid(session, shop_id, variation_id)
                keys = {(c.supplier_name, c.plan_id) for c in mapping.choices}
                shelf = shelves(session, keys, utcnow())
            return mapping, waiting, trail, paid, shelf

        try:
            mapping, waiting, trail, paid, shelf = await run_in_threadpool(load)
        except NotFound:
            return self.render(
                request,
                "console/missing.html",
                {"what": _("There is no mapping of %(id)s.") % {"id": variation_id}},
                404,
            )
        listed, plans, unreadable = await run_in_threadpool(self._live_view, mapping)
        choices = [
            LiveChoice(
                choice,
                plans.get(choice.supplier_name, Catalogue()).get(choice.plan_id),
                listed.retail_price if listed else None,
                paid.get((choice.supplier_name, choice.plan_id)),
                plans.get(choice.supplier_name, Catalogue()).unread_plan(choice.plan_id),
                dear=too_dear(
                    choice,
                    shelf.get((choice.supplier_name, choice.plan_id)),
                    listed.retail_price if listed else None,
                ),
            )
            for choice in mapping.choices
        ]
        return self.render(
            request,
            "console/mapping.html",
            {
                "title": mapping.name or variation_id,
                "mapping": mapping,
                "variation": listed,
                "choices": choices,
                "unreadable": unreadable,
                "waiting": waiting,
                "trail": [(change, audit.differences(change)) for change in trail],
            },
        )

    def _live_view(
        self, mapping: repository.MappingView
    ) -> tuple[Variation | None, dict[str, Catalogue], list[str]]:
        """The variation as Pancake lists it, each choice's supplier catalogue, and what could
        not be read (named on the page: the figures it would give are missing)."""
        unreadable = []
        variations = self._live.variations(mapping.shop_id)
        if variations.error:
            unreadable.append(f"Pancake shop {mapping.shop_id}: {variations.error}")
        plans: dict[str, Catalogue] = {}
        for name in dict.fromkeys(choice.supplier_name for choice in mapping.choices):
            found = self._live.plans(name)
            plans[name] = found.value or Catalogue()
            if found.error:
                unreadable.append(f"{name}: {found.error}")
            elif not plans[name].complete:
                unreadable.append(f"{name}'s catalogue, in part: {plans[name].describe()}")
        return (variations.value or {}).get(mapping.variation_id), plans, unreadable

    def _typed_variations(self, typed: ChoiceForm) -> ShopVariations | None:
        """The shop's variations a typed choice is checked against (as `bridge mappings add`
        checks it); None when the operator asked to save without checking."""
        if typed.unchecked:
            return None
        found = self._live.variations(typed.shop_id)
        return ShopVariations(typed.shop_id, found.value, found.error)

    @route("/variation/{shop_id}/{variation_id}/{action}", methods=["POST"], name="mapping_action")
    async def mapping_action(self, request: Request) -> Response:
        shop_id: str = request.path_params["shop_id"]
        variation_id: str = request.path_params["variation_id"]
        action: str = request.path_params["action"]
        form = await request.form()
        actor = console_user(request)
        back = str(request.url_for("admin:mapping", shop_id=shop_id, variation_id=variation_id))

        def change(session: Session) -> str:
            if action in ("enable", "disable"):
                done = commands.set_mapping_enabled(
                    session, shop_id, variation_id, action == "enable", actor=actor, source=SOURCE
                )
                if action == "enable":
                    return _("The mapping is on.") if done.changed else _("It was on already.")
                return _("The mapping is off.") if done.changed else _("It was off already.")
            if action == "rename":
                name = str(form.get("name", ""))
                commands.edit_mapping(
                    session, shop_id, variation_id, actor=actor, name=name, source=SOURCE
                )
                return _("Renamed.") if name.strip() else _("The name is removed.")
            if action == "remove":
                commands.remove_mapping(session, shop_id, variation_id, actor=actor, source=SOURCE)
                return _("The mapping is removed; its audit trail is kept.")
            raise NotFound(f"no action {action!r}")

        if action == "retry":
            return await self._retry_waiting(request, shop_id, variation_id, back)
        try:
            said = await run_in_threadpool(self._write, change)
        except BridgeError as exc:
            return back_with_error(request, exc, back)
        event("console.mapping", logging.INFO, action=action, shop_id=shop_id)
        flash(request, said, "success")
        if action == "remove":
            back = str(request.url_for("admin:mappings"))
        return RedirectResponse(back, status_code=303)

    async def _retry_waiting(
        self, request: Request, shop_id: str, variation_id: str, back: str
    ) -> Response:
        """Retry the variation's parked lines (audited one by one, as the Retry button is)."""

        def retry() -> int:
            with reading(self._engine) as session:
                ids = [line.id for line in repository.waiting_lines(session, shop_id, variation_id)]
            moved = 0
            for line_id in ids:
                assert line_id is not None
                outcome = redrive(
                    self._engine,
                    AuditAction.RETRY,
                    line_id,
                    console_user(request),
                    client_address_for_audit(request),
                    utcnow(),
                )
                moved += outcome.changed
            return moved

        moved = await run_in_threadpool(retry)
        event("console.retry_waiting", logging.INFO, shop_id=shop_id, lines=moved)
        flash(
            request,
            ngettext(
                "%(num)d waiting line will be bought with this mapping.",
                "%(num)d waiting lines will be bought with this mapping.",
                moved,
            )
            % {"num": moved},
            "success",
        )
        return RedirectResponse(back, status_code=303)

    def _write(self, change: Callable[[Session], Done]) -> Done:
        """``change`` in one transaction: the change and its audit rows commit together."""
        with session_scope(self._engine) as session:
            return change(session)

    # -- one choice ---------------------------------------------------------------------------

    @route("/choice/{choice_id:int}/{action}", methods=["POST"], name="choice_action")
    async def choice_action(self, request: Request) -> Response:
        choice_id: int = request.path_params["choice_id"]
        action: str = request.path_params["action"]
        actor = console_user(request)

        def change(session: Session) -> tuple[str, str, str]:
            choice = repository.get_choice(session, choice_id)
            where = (choice.shop_id, choice.variation_id)
            if action in ("enable", "disable"):
                done = commands.set_choice_enabled(
                    session, choice_id, action == "enable", actor=actor, source=SOURCE
                )
                words = {
                    (True, True): _("Choice %(id)s is on."),
                    (True, False): _("Choice %(id)s was on already."),
                    (False, True): _("Choice %(id)s is off."),
                    (False, False): _("Choice %(id)s was off already."),
                }
                return *where, words[action == "enable", done.changed] % {"id": choice_id}
            if action == "remove":
                commands.remove_choice(session, choice_id, actor=actor, source=SOURCE)
                said = _("Choice %(id)s is removed; its audit trail is kept.")
                return *where, said % {"id": choice_id}
            raise NotFound(f"no action {action!r}")

        try:
            shop_id, variation_id, said = await run_in_threadpool(self._write, change)
        except NotFound as exc:
            return Response(str(exc), status_code=404)
        event("console.choice", logging.INFO, action=action, id=choice_id)
        flash(request, said, "success")
        return RedirectResponse(await self._mapping_or_list(request, shop_id, variation_id), 303)

    async def _mapping_or_list(self, request: Request, shop_id: str, variation_id: str) -> str:
        """The mapping's page, or the list when its last choice went."""

        def exists() -> bool:
            with reading(self._engine) as session:
                return bool(
                    repository.list_choices(session, shop_id=shop_id, variation_id=variation_id)
                )

        if await run_in_threadpool(exists):
            return str(request.url_for("admin:mapping", shop_id=shop_id, variation_id=variation_id))
        return str(request.url_for("admin:mappings"))

    @route("/choice/{choice_id:int}", methods=["GET", "POST"], name="choice")
    async def choice(self, request: Request) -> Response:
        choice_id: int = request.path_params["choice_id"]

        def load() -> ChoiceForm:
            with reading(self._engine) as session:
                choice = repository.get_choice(session, choice_id)
                return ChoiceForm.of(
                    choice,
                    repository.get_mapping(session, choice.shop_id, choice.variation_id).name,
                )

        try:
            stored = await run_in_threadpool(load)
        except NotFound:
            return self.render(
                request,
                "console/missing.html",
                {"what": _("There is no choice %(id)s.") % {"id": choice_id}},
                404,
            )
        if request.method == "GET":
            return await self._editor(request, stored, choice_id=choice_id)
        typed = ChoiceForm.read(await request.form(), posted=True)
        # Where the choice belongs is not the form's to change: a new variation is a new mapping.
        typed.shop_id, typed.variation_id = stored.shop_id, stored.variation_id
        catalogues = (
            None
            if typed.unchecked
            else await run_in_threadpool(self._live.catalogues, typed.supplier_name)
        )
        try:
            done = await run_in_threadpool(
                typed.edit,
                self._engine,
                choice_id,
                catalogues,
                console_user(request),
                await run_in_threadpool(self._typed_variations, typed),
            )
        except BridgeError as exc:
            return await self._editor(request, typed, choice_id=choice_id, error=str(exc))
        event("console.choice", logging.INFO, action="edit", id=choice_id, changed=done.changed)
        flash(
            request,
            _("Choice %(id)s is saved.") % {"id": choice_id}
            if done.changed
            else _("Nothing changed."),
            "success",
        )
        back = request.url_for(
            "admin:mapping", shop_id=stored.shop_id, variation_id=stored.variation_id
        )
        return RedirectResponse(str(back), status_code=303)

    # -- the editor ---------------------------------------------------------------------------

    @route("/new", methods=["GET", "POST"], name="mapping_new")
    async def new(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._editor(request, ChoiceForm.read(request.query_params, posted=False))
        typed = ChoiceForm.read(await request.form(), posted=True)
        catalogues = (
            None
            if typed.unchecked
            else await run_in_threadpool(self._live.catalogues, typed.supplier_name)
        )
        try:
            added = await run_in_threadpool(
                typed.add,
                self._engine,
                catalogues,
                console_user(request),
                await run_in_threadpool(self._typed_variations, typed),
            )
        except BridgeError as exc:
            return await self._editor(request, typed, error=str(exc))
        choice = added.choice
        event("console.choice", logging.INFO, action="add", id=choice.id, created=added.created)
        said = (
            _("Choice %(id)s is saved.") % {"id": choice.id}
            if added.created
            else _("That choice was there already.")
        )
        if added.mapping_disabled:
            said += " " + _("The mapping is off: turn it on to use the choice.")
        flash(request, said, "success")
        back = request.url_for(
            "admin:mapping", shop_id=choice.shop_id, variation_id=choice.variation_id
        )
        return RedirectResponse(str(back), status_code=303)

    async def _editor(
        self,
        request: Request,
        form: ChoiceForm,
        *,
        choice_id: int | None = None,
        error: str | None = None,
    ) -> Response:
        shops, suppliers = await run_in_threadpool(_options, self._engine)
        if not form.shop_id and len(shops) == 1:
            form.shop_id = shops[0]
        if not form.supplier_name and len(suppliers) == 1:
            form.supplier_name = suppliers[0]
        return self.render(
            request,
            "console/mapping_form.html",
            {
                "title": _("Edit choice %(id)s") % {"id": choice_id}
                if choice_id
                else _("New mapping"),
                "form": form,
                "choice_id": choice_id,
                "shops": shops,
                "suppliers": suppliers,
                "error": error_text(error) if error else None,
                "suggestions": SUGGESTIONS,
            },
            422 if error else 200,
        )

    # -- the pickers' data --------------------------------------------------------------------

    @route("/catalogue/variations", name="catalogue_variations")
    async def catalogue_variations(self, request: Request) -> Response:
        """The shop's variations, as Pancake lists them now."""
        found = await run_in_threadpool(
            self._live.variations, request.query_params.get("shop_id", "")
        )
        rows = sorted((found.value or {}).values(), key=lambda v: v.label.casefold())
        return JSONResponse({"variations": [_variation(v) for v in rows], "error": found.error})

    @route("/catalogue/plans", name="catalogue_plans")
    async def catalogue_plans(self, request: Request) -> Response:
        """The supplier's plans, with price, stock and required fields, as the workers last
        read them."""
        found = await run_in_threadpool(
            self._live.plans, request.query_params.get("supplier_name", "")
        )
        plans = sorted(
            (found.value or {}).values(), key=lambda p: (p.product_name.casefold(), p.plan_id)
        )
        # As the workers last read it: how long ago, and whether they are reading it now.
        age = ago((utcnow() - found.read_at).total_seconds()) if found.read_at else None
        return JSONResponse(
            {
                "plans": [_plan(p) for p in plans],
                "error": found.error,
                "age": age,
                "pending": found.pending,
            }
        )


def _variation(variation: Variation) -> dict[str, Any]:
    return {
        "id": str(variation.id),
        "label": variation.label,
        "retail_price": variation.retail_price,
    }


def _plan(plan: PlanInfo) -> dict[str, Any]:
    return {
        "plan_id": plan.plan_id,
        "name": plan.name,
        "product_name": plan.product_name,
        "final_price": plan.final_price,
        "is_instant": plan.is_instant,
        # Manual plans report no stock count: there is none to show.
        "stock": plan.stock_count if plan.is_instant else None,
        "in_stock": plan.in_stock,
        "required": [{"key": f.key, "label": f.label} for f in plan.required],
    }


class UnmappedPage(Page):
    """``/admin/unmapped``: variations orders asked for that no mapping serves, each with a link
    that opens the editor on it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(
            menu_label=lazy_gettext("Unmapped"),
            icon="fa fa-circle-question",
            path="/unmapped",
            route_name="unmapped",
        )
        self._engine = engine

    @route("")
    async def index(self, request: Request) -> Response:
        def load() -> list[repository.Unmapped]:
            with reading(self._engine) as session:
                return repository.unmapped(session)

        rows = await run_in_threadpool(load)
        new = str(request.url_for("admin:mapping_new"))
        return self.render(
            request,
            "console/unmapped.html",
            {
                "title": _("Unmapped variations"),
                "rows": rows,
                "map_url": lambda row: (
                    new
                    + "?"
                    + urlencode(
                        {
                            "shop_id": row.shop_id,
                            "variation_id": row.variation_id,
                            "name": row.item_name or "",
                        }
                    )
                ),
            },
        )
