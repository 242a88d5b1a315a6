"""What the console adds to the admin library's lists: CSV files a spreadsheet opens safely,
every row of the filter on request, and pages, ids and sizes out of range answered as such.

The library's CSV export writes UTF-8 without a BOM (Excel then reads "tháng" as "thÃ¡ng"),
leaves formulas live (its ``escape_formulas`` is off) and offers the selected rows or the current
page; ``SpreadsheetCsv`` starts the file with a BOM and writes every cell through
``bridge.csv_cells`` (the ``mappings export`` file does the same), and ``ListGuards`` adds the
scope "every row of the filter" (the export form's third choice, up to the library's
``ExportConfig.max_rows``, 100,000).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError
from starlette.requests import Request
from starlette.responses import Response
from starlette_admin.exceptions import ActionFailed
from starlette_admin.export import CsvExporter, ExportConfig
from starlette_admin.i18n import gettext as _
from starlette_admin.types import ListParams
from starlette_admin.views import BaseModelView

from bridge.csv_cells import neutralise

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams
    from starlette_admin.actions import ActionSelection
    from starlette_admin.fields import BaseField

BOM = "\ufeff"
# The export form's scope for every row the list's search and filter match.
EVERY_ROW = "all"
# No list has this many rows: a page beyond it is past the end, and its offset still fits the
# 64-bit integer both databases take.
LAST_ROW = 2**62
# What the library's key conversion and the databases raise for a key no row can have: none,
# ``abc`` for a number, a number beyond 64 bits.
CANNOT_BE_KEYS = (TypeError, ValueError, OverflowError, DBAPIError)


class SpreadsheetCsv(CsvExporter):
    """CSV as spreadsheets open it: a UTF-8 BOM, and no cell a spreadsheet would run."""

    def __init__(self) -> None:
        super().__init__(escape_formulas=False, lineterminator="\r\n")

    async def generate(self, fields: list[BaseField], rows: list[dict[str, Any]]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, **self.fmtparams)
        writer.writerow([_cell(f.label or f.name) for f in fields])
        for row in rows:
            writer.writerow([_cell(row.get(f.name, "")) for f in fields])
        return (BOM + out.getvalue()).encode("utf-8")


def _cell(value: Any) -> Any:
    return neutralise(str(value)) if isinstance(value, str) else value


class ListGuards(BaseModelView):
    """Mixed into the console's model views, before the library's own view class."""

    exporters = [SpreadsheetCsv()]

    def _parse_list_params(
        self, request: Request, query_params: QueryParams | None = None
    ) -> ListParams:
        params = super()._parse_list_params(request, query_params)
        size = max(params.page_size, 1)
        params.page = min(params.page, LAST_ROW // size)
        return params

    async def find_by_pk(self, request: Request, pk: Any) -> Any:
        """None for a key that cannot be one (none, ``abc`` for a number, beyond 64 bits)."""
        try:
            return await super().find_by_pk(request, pk)  # type: ignore[safe-super]
        except CANNOT_BE_KEYS:
            return None

    async def find_by_pks(self, request: Request, pks: list[Any]) -> Sequence[Any]:
        """Nothing for keys that cannot be ones."""
        try:
            return await super().find_by_pks(request, pks)  # type: ignore[safe-super]
        except CANNOT_BE_KEYS:
            return []

    async def handle_row_action(self, request: Request, pk: Any, name: str) -> Response | None:
        if await self.find_by_pk(request, pk) is None:
            raise ActionFailed(_("There is no row %(pk)s.") % {"pk": pk})
        return await super().handle_row_action(request, pk, name)

    async def _export_resolve_items(
        self,
        request: Request,
        selection: ActionSelection,
        scope: str,
        list_params: ListParams,
        export_config: ExportConfig,
    ) -> Sequence[Any]:
        if scope != EVERY_ROW:
            return await super()._export_resolve_items(
                request, selection, scope, list_params, export_config
            )
        total = await self.count(request, q=list_params.q, filters=list_params.filters)
        self._export_check_max_rows(total, export_config.max_rows)
        return await self.find_all(
            request=request,
            skip=0,
            limit=-1,
            q=list_params.q,
            sorts=list_params.sorts,
            filters=list_params.filters,
        )
