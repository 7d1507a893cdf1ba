"""RewriteTable: every rewrite of a run in one sortable, searchable, filterable table.

The browser draws the grid (Tabulator, in its remote pagination mode) and asks the kernel for
one page at a time through anywidget custom messages (``contract.PageRequestMessage``); the
kernel filters, searches and sorts the whole explanation table with pandas
(``core.table_query``) and answers with that page and the number of matching rows
(``contract.PageReply``). Only a page of rows ever travels, so a 100,000-row table opens as
fast as a 100-row one. Every request is validated: a malformed one is answered with an error
line, never an exception inside the comm.

A table's own columns follow the fixed ones: each ``slice.<field>`` of the input (domain,
source, human label; ``core.slices``) and each ``objective.<name>.delta`` of a multi-objective
RM (``core.objectives``), sortable, searchable (text) or range-filterable (numbers) and
exported like the rest; ``columns`` lists them per table.

``linked_filters`` is the filter bar's Attribute and Side, synced both ways: set from Python, the
bar shows it and asks for page 1 again (and :meth:`filtered` and Export follow at once); picked in
the bar, it lands here, where the Explorer links it to the chart's bar and the ComparisonView's
filters. The bar's other filters, its search and the sort travel only in page requests.

``slice_filter`` (kernel-side only) keeps one slice of the input's rows, ``("slice.domain",
"math")`` (``None``: the rows missing the field; ``()`` every row): the Explorer sets it from a
bar of its chart split by that slice. The table then holds only that slice (``n_rows``, the
pages, :meth:`filtered` and Export); row ids stay those of the whole table.

Selecting a row sets ``selected_row`` (the Explorer opens that rewrite in its ComparisonView);
:meth:`export` writes the filtered slice to CSV or Parquet and the Export buttons write it under
``export_dir`` with the next free name, so no earlier export is overwritten.
"""

from __future__ import annotations

import dataclasses
import html
import traceback
from pathlib import Path
from typing import Any, cast

import anywidget
import ipywidgets as w
import pandas as pd
import traitlets
from traitlets import TraitType

from rmx_widgets.core import objectives, slices
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.table_query import (
    COLUMNS,
    MAX_ATTRIBUTE_CHARS,
    SIDES,
    ColumnKind,
    Page,
    QueryError,
    TableIndex,
    TableQuery,
    export_format,
    export_rows,
    parse_page,
    table_columns,
)
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets._convert import clean, ordered_unique
from rmx_widgets.widgets.annotator_export import free_export_path
from rmx_widgets.widgets.contract import LinkedFilters, PageReply, TableColumn, TableRow

#: a cell shows at most this many characters of a rewrite (the detail view shows it whole)
MAX_CELL_CHARS = 240
TITLES = {
    "comparison_id": "Comparison",
    "attribute": "Attribute",
    "side": "Side",
    "direction": "Direction",
    "outcome": "Outcome",
    "margin_before": "Margin before",
    "margin_after": "Margin after",
    "margin_change": "Margin change",
    "syntactic_distance": "Edit distance",
    "semantic_distance": "Semantic distance",
    "length_change": "Length change (words)",
    "valid": "Valid",
    "perturber": "Made by",
    "perturbed": "Rewrite",
    "failure_reason": "Failure",
}
NO_ROWS_TEXT = "No rewrites yet: run an explanation to fill the table."
NO_LINKED_FILTER = LinkedFilters(attribute="", side="all")


def column_title(column: str) -> str:
    """A column's header: the fixed ones' :data:`TITLES`, a slice by its field (``domain``),
    an objective's change as ``Δ <name>``."""
    if column in TITLES:
        return TITLES[column]
    if column.startswith(objectives.PREFIX) and column.endswith(objectives.SUFFIX):
        return f"Δ {column[len(objectives.PREFIX) : -len(objectives.SUFFIX)]}"
    return column.removeprefix(slices.PREFIX)


def table_columns_payload(columns: dict[str, ColumnKind]) -> list[TableColumn]:
    """The ``columns`` trait for a table's columns (``TableIndex.columns``)."""
    return [TableColumn(field=c, title=column_title(c), kind=k) for c, k in columns.items()]


def _cell_text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= MAX_CELL_CHARS else value[: MAX_CELL_CHARS - 1] + "…"


def table_rows(rows: pd.DataFrame, columns: dict[str, ColumnKind] | None = None) -> list[TableRow]:
    """One ``TableRow`` per row of a page (its index is the row id); the table's own columns
    (``columns`` beyond :data:`COLUMNS`; default: those of ``rows``) in ``extra_text`` and
    ``extra_numbers``."""
    columns = table_columns(rows) if columns is None else columns
    extra_text = [c for c, k in columns.items() if c not in COLUMNS and k == "text"]
    extra_numbers = [c for c, k in columns.items() if c not in COLUMNS and k == "number"]
    out: list[TableRow] = []
    for row_id, r in zip(rows.index, rows.to_dict(orient="records")):
        valid = r.get("valid")
        record = {c: clean(r.get(c)) for c in COLUMNS}
        record["valid"] = None if valid is None or valid is pd.NA else bool(valid)
        record["perturbed"] = _cell_text(r.get("perturbed"))
        record["failure_reason"] = _cell_text(r.get("failure_reason"))
        record["comparison_id"] = str(r.get("comparison_id", ""))
        record["attribute"] = str(r.get("attribute", ""))
        record["extra_text"] = {c: _cell_text(r.get(c)) for c in extra_text}
        record["extra_numbers"] = {c: clean(r.get(c)) for c in extra_numbers}
        out.append(cast(TableRow, {"row_id": int(row_id), **record}))
    return out


def _flat(row: TableRow) -> dict[str, Any]:
    """A row with its own columns beside the fixed ones (what the browser's grid reads)."""
    return {**row, **row["extra_text"], **row["extra_numbers"]}


def _static_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return static_view.clip(value)


def _reply(
    request_id: int,
    page: Page | None,
    error: str = "",
    columns: dict[str, ColumnKind] | None = None,
) -> PageReply:
    if page is None:
        return PageReply(
            type="page",
            request_id=request_id,
            page=1,
            page_size=1,
            last_page=1,
            total=0,
            rows=[],
            error=error,
        )
    return PageReply(
        type="page",
        request_id=request_id,
        page=page.page,
        page_size=page.page_size,
        last_page=page.last_page,
        total=page.total,
        rows=table_rows(page.rows, columns),
        error=error,
    )


class RewriteTable(anywidget.AnyWidget):
    """``RewriteTable(table)``. Synced traits: ``contract.RewriteTableState``; pages travel
    as ``PageRequestMessage`` / ``PageReply`` custom messages."""

    _esm = bundle("rewrite_table.js")
    _css = bundle("rewrite_table.css")

    columns: traitlets.List[TableColumn] = traitlets.List(
        [TableColumn(field=c, title=TITLES[c], kind=k) for c, k in COLUMNS.items()]
    ).tag(sync=True)
    attribute_options: traitlets.List[str] = traitlets.List().tag(sync=True)
    n_rows = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(50).tag(sync=True)
    selected_row = traitlets.Int(-1).tag(sync=True)
    #: bumped when the row already selected is picked again (a click or Enter): its value
    #: does not change then, so this is how the Explorer hears it and reopens that rewrite
    reselections = traitlets.Int(0).tag(sync=True)
    data_version = traitlets.Int(0).tag(sync=True)
    export_status = traitlets.Unicode("").tag(sync=True)
    empty = traitlets.Unicode(NO_ROWS_TEXT).tag(sync=True)
    #: the filter bar's Attribute ("" every one) and Side ("all", "chosen", "rejected"),
    #: synced both ways: what the Explorer links to the chart and the ComparisonView
    linked_filters = cast(
        "TraitType[LinkedFilters, LinkedFilters]",
        traitlets.Dict(default_value=dict(NO_LINKED_FILTER)).tag(sync=True),
    )
    #: () every row, or (slice column, value): only that slice's rows (not synced: the
    #: browser pages what the kernel holds; the Explorer shows the choice)
    slice_filter: traitlets.Tuple = traitlets.Tuple()

    def __init__(
        self,
        table: pd.DataFrame | None = None,
        *,
        page_size: int = 50,
        export_dir: str | Path = ".",
        **kwargs: Any,
    ) -> None:
        parse_page(1, page_size)  # the same bound the browser's requests meet
        # as wide as its container and no wider: inside a flex box or a grid column (the
        # Explorer's table_slot) the grid's fixed column widths would otherwise set the
        # widget's minimum width and push it out of the column; the grid scrolls sideways
        kwargs.setdefault("layout", w.Layout(width="100%", min_width="0"))
        #: the last query the browser asked for, with the ``linked_filters`` set since (what
        #: :meth:`filtered` and Export use); first, before a ``linked_filters=`` argument lands
        self.query = TableQuery()
        super().__init__(page_size=page_size, **kwargs)
        self.export_dir = Path(export_dir)
        self.last_traceback: str | None = None
        self._index = TableIndex(pd.DataFrame())
        self._whole = pd.DataFrame()
        self.set_table(table if table is not None else pd.DataFrame())
        self.on_msg(self._on_msg)

    @traitlets.validate("linked_filters")
    def _valid_linked(self, proposal: dict) -> LinkedFilters:
        """Exactly an attribute and a side (missing keys read as "every"); anything else is
        refused with one line naming what is accepted."""
        value = proposal["value"]
        extra = set(value) - set(NO_LINKED_FILTER)
        if extra:
            raise traitlets.TraitError(
                f"linked_filters has attribute and side only, not {', '.join(sorted(extra))}."
            )
        attribute, side = value.get("attribute", ""), value.get("side", "all")
        if not isinstance(attribute, str) or len(attribute) > MAX_ATTRIBUTE_CHARS:
            raise traitlets.TraitError(
                f"linked_filters attribute must be text of at most {MAX_ATTRIBUTE_CHARS} "
                f"characters, got {attribute!r:.60}."
            )
        if side not in SIDES:
            raise traitlets.TraitError(
                f"linked_filters side must be one of {', '.join(SIDES)}; got {side!r:.60}."
            )
        return LinkedFilters(attribute=attribute, side=side)

    @traitlets.validate("slice_filter")
    def _valid_slice(self, proposal: dict) -> tuple:
        """() or (a ``slice.`` column, its text or None); anything else is refused."""
        value = tuple(proposal["value"])
        if value == ():
            return value
        ok = len(value) == 2 and isinstance(value[0], str) and value[0].startswith(slices.PREFIX)
        if not ok or not (value[1] is None or isinstance(value[1], str)):
            raise traitlets.TraitError(
                f"slice_filter is () or (slice column, value), got {value!r:.80}."
            )
        return value

    @traitlets.observe("slice_filter")
    def _on_slice(self, change: dict) -> None:
        """The table holds the new slice's rows at once; the browser asks for its page again."""
        self.set_table(self._whole)

    @traitlets.observe("linked_filters")
    def _on_linked(self, change: dict) -> None:
        """The query follows at once, so :meth:`filtered` and Export agree with the bar even
        before (or without) a browser asking for a page."""
        f = change["new"]
        self.query = dataclasses.replace(self.query, attribute=f["attribute"], side=f["side"])

    # -- data ------------------------------------------------------------------------------
    def set_table(self, table: pd.DataFrame) -> None:
        """Show ``table`` (an explanation table; the Explorer calls this as batches land); the
        browser then asks again for the page it shows. With a ``slice_filter``, only that
        slice's rows are held (none when ``table`` lacks its column)."""
        self._whole = table
        if self.slice_filter:
            column, value = self.slice_filter
            table = slices.slice_rows(table, column, value) if column in table else table.iloc[0:0]
        self._index = TableIndex(table)
        attrs = ordered_unique(table["attribute"]) if "attribute" in table else []
        columns = table_columns_payload(self._index.columns)
        with self.hold_sync():
            if columns != self.columns:  # the browser rebuilds its columns only on a change
                self.columns = columns
            self.attribute_options = [str(a) for a in attrs]
            self.n_rows = len(table)
            if self.selected_row not in table.index:
                self.selected_row = -1
            self.data_version += 1

    @property
    def table(self) -> pd.DataFrame:
        """The whole table the widget pages (with the derived ``margin_change``)."""
        return self._index.table

    def filtered(self, query: TableQuery | None = None) -> pd.DataFrame:
        """The rows ``query`` (default: the browser's current one) keeps, in its order."""
        return self._index.matching(self.query if query is None else query)

    def export(self, path: str | Path, format: str | None = None, *, force: bool = False) -> Path:
        """Write the filtered slice (every column, texts whole) to ``path``, CSV or Parquet
        by its suffix or ``format``; an existing file is replaced only with ``force``."""
        return export_rows(self.filtered(), path, format, force=force)

    def static_html(self) -> str:
        """The first rows of the current query (at most ``static_view.MAX_ROWS``), escaped, for
        outputs without a widget manager (nbconvert, GitHub)."""
        if not len(self._index):
            return f"<p>{html.escape(self.empty)}</p>"
        page = self._index.page(self.query, 1, static_view.MAX_ROWS)
        columns = self._index.columns
        head = "".join(f"<th>{html.escape(column_title(c))}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{_static_cell(r.get(c))}</td>" for c in columns) + "</tr>"
            for r in map(_flat, table_rows(page.rows, columns))
        )
        return (
            f"<p>{page.total:,} of {len(self._index):,} rewrites</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            + static_view.more_rows(page.total - len(page.rows))
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        """The live view plus :meth:`static_html` (see static_view)."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page([self.static_html()], "Rewrite table"),
            f"RewriteTable: {self.n_rows:,} rewrite(s) (first rows in the static HTML view)",
        )

    # -- messages --------------------------------------------------------------------------
    def answer(self, content: Any) -> PageReply:
        """The reply to one ``PageRequestMessage`` (what the browser is sent); a refused
        request gets a reply whose ``error`` says why, and the current query is kept."""
        request_id = content.get("request_id") if isinstance(content, dict) else None
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            request_id = -1
        try:
            if not isinstance(content, dict):
                raise QueryError("the request must be an object.")
            page, page_size = parse_page(content.get("page"), content.get("page_size"))
            query = self._index.parse(
                {k: content[k] for k in ("sort", "search", "filters") if k in content}
            )
            result = self._index.page(query, page, page_size)
        except QueryError as e:
            return _reply(request_id, None, f"Request refused: {e}")
        except Exception as e:  # answered in the table instead of killing the comm
            self.last_traceback = traceback.format_exc()
            return _reply(request_id, None, f"{type(e).__name__}: {e}")
        self.query = query
        return _reply(request_id, result, columns=self._index.columns)

    def _export_click(self, fmt: str) -> None:
        fmt = export_format(Path("rewrites"), fmt)
        path = self.export(free_export_path(self.export_dir, "rewrites", fmt), fmt)
        self.export_status = f"exported {len(self.filtered())} rows to {path}"

    def _on_msg(self, widget: Any, content: Any, buffers: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        try:
            if kind == "page":
                self.send(self.answer(content))
            elif kind == "export":
                self._export_click(str(content.get("format", "csv")))
        except RMXError as e:
            self.export_status = f"Export failed: {e}"
        except Exception as e:  # shown in the widget instead of killing the comm
            self.last_traceback = traceback.format_exc()
            self.export_status = f"Export failed: {type(e).__name__}: {e}"
