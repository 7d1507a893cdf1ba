"""ComparisonView: one comparison, its rewrites, word-level diffs, CF / SF badges.

Python holds the explanation table and does every filter and page cut; the browser receives
only the comparison on screen and one page of its rows. That keeps the comm payload small for
tables of tens of thousands of rows and lets the Explorer push new batches cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import anywidget
import pandas as pd
import traitlets
from traitlets import TraitType

from rmx_widgets.core.data import Comparison
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets._convert import (
    comparison_payload,
    ordered_unique,
    originals_by_id,
    rows_payload,
)
from rmx_widgets.widgets.contract import Filters, Row, ShownComparison

_NO_FILTER = Filters(attribute="", side="all", outcome="all")


class ComparisonView(anywidget.AnyWidget):
    """Synced traits: ``contract.ComparisonViewState``."""

    _esm = bundle("comparison_view.js")
    _css = bundle("widgets.css")

    # traitlets types a Dict trait as dict[K, V]; the casts name the contract record it holds.
    comparison = cast(
        "TraitType[ShownComparison | None, ShownComparison | None]",
        traitlets.Dict(allow_none=True, default_value=None).tag(sync=True),
    )
    rows: traitlets.List[Row] = traitlets.List().tag(sync=True)
    attribute_options: traitlets.List[str] = traitlets.List().tag(sync=True)
    filters = cast(
        "TraitType[Filters, Filters]", traitlets.Dict(default_value=dict(_NO_FILTER)).tag(sync=True)
    )
    index = traitlets.Int(0).tag(sync=True)
    page = traitlets.Int(0).tag(sync=True)
    page_size = traitlets.Int(20).tag(sync=True)
    n_rows = traitlets.Int(0).tag(sync=True)
    empty = traitlets.Unicode("").tag(sync=True)

    #: what ``empty`` says before any rewrite is there (the Explorer names its Run button)
    no_run_text = "No rewrites yet: run an explanation to see them here."
    NO_MATCH_TEXT = "No rewrite rows match these filters. Clear filters to see them all."
    NO_ROWS_TEXT = "No rewrites of this comparison in the table (ties are not explained)."

    def __init__(
        self,
        result=None,
        *,
        comparisons: Sequence[Comparison] | None = None,
        table: pd.DataFrame | None = None,
        originals: pd.DataFrame | None = None,
        page_size: int = 20,
        **kwargs,
    ) -> None:
        self._comparisons: dict[str, Comparison] = {}
        self._order: list[str] = []
        self._table = pd.DataFrame()
        self._originals: dict = {}
        self._visible: list[str] = []
        super().__init__(page_size=page_size, **kwargs)
        if result is not None:
            comparisons, table, originals = result.comparisons, result.table, result.originals
        self.set_data(comparisons or [], table, originals)

    # -- data in ---------------------------------------------------------------------------
    def static_html(self) -> str:
        """The comparison on screen and this page of its rewrites, escaped, for outputs
        without a widget manager (nbconvert, GitHub)."""
        return static_view.comparison_html(self.comparison, self.rows, self.n_rows, self.empty)

    def _repr_mimebundle_(self, **kwargs: dict) -> tuple[dict, dict] | None:
        """The live view plus :meth:`static_html` (see static_view)."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page([self.static_html()], "Comparison"),
            static_view.comparison_plain(self.comparison, self.n_rows, self.empty),
        )

    def set_data(
        self,
        comparisons: Sequence[Comparison],
        table: pd.DataFrame | None,
        originals: pd.DataFrame | None = None,
    ) -> None:
        """Replace what the view shows (the Explorer calls this after every landed batch)."""
        self._comparisons = {c.id: c for c in comparisons}
        self._order = [c.id for c in comparisons]
        self._table = table if table is not None else pd.DataFrame()
        self._originals = originals_by_id(originals)
        attrs = ordered_unique(self._table["attribute"]) if "attribute" in self._table else []
        with self.hold_sync():
            self.attribute_options = attrs
            self._refresh()

    @property
    def table(self) -> pd.DataFrame:
        return self._table

    @property
    def visible_ids(self) -> list[str]:
        """Comparisons the filters leave (all of them when no filter is set)."""
        return list(self._visible)

    def show_attribute(self, attribute: str | None) -> None:
        """Filter to one attribute (``None`` clears); the SensitivityChart click lands here."""
        self.filters = {**self.filters, "attribute": attribute or ""}

    # -- reactions -------------------------------------------------------------------------
    @traitlets.observe("filters")
    def _on_filters(self, change) -> None:
        with self.hold_sync():
            self.page = 0
            self._refresh(keep_id=True)

    @traitlets.observe("index")
    def _on_index(self, change) -> None:
        with self.hold_sync():
            self.page = 0
            self._refresh()

    @traitlets.observe("page", "page_size")
    def _on_page(self, change) -> None:
        self._refresh()

    def _matching(self) -> pd.DataFrame:
        t = self._table
        if t.empty:
            return t
        f = {**_NO_FILTER, **self.filters}
        mask = pd.Series(True, index=t.index)
        if f["attribute"]:
            mask &= t["attribute"] == f["attribute"]
        if f["side"] != "all":
            mask &= t["side"] == f["side"]
        if f["outcome"] != "all":
            mask &= t["outcome"] == f["outcome"]
        return t[mask]

    def _empty_text(self, filtered: bool) -> str:
        """Why no row is shown: nothing ran yet, the filters leave nothing, or this comparison
        has no rewrites (it was a tie, or left out); the browser shows it in place of rows."""
        if self._table.empty:
            return self.no_run_text
        return self.NO_MATCH_TEXT if filtered else self.NO_ROWS_TEXT

    def clear_filters(self) -> None:
        """Back to every row (the browser's Clear filters button does the same)."""
        self.filters = Filters(**_NO_FILTER)

    def _refresh(self, keep_id: bool = False) -> None:
        current = self.comparison["id"] if (keep_id and self.comparison) else None
        matching = self._matching()
        filtered = {**_NO_FILTER, **self.filters} != _NO_FILTER
        if filtered:
            have = set(matching["comparison_id"]) if not matching.empty else set()
            self._visible = [cid for cid in self._order if cid in have]
        else:
            self._visible = list(self._order)
        self.empty = self._empty_text(filtered)
        if not self._visible:
            with self.hold_sync():
                self.comparison, self.rows, self.n_rows = None, [], 0
            return
        index = self.index
        if current in self._visible:
            index = self._visible.index(current)
        index = min(max(index, 0), len(self._visible) - 1)
        cid = self._visible[index]
        rows = matching[matching["comparison_id"] == cid] if not matching.empty else matching
        n_pages = max(1, -(-len(rows) // self.page_size))
        page = min(max(self.page, 0), n_pages - 1)
        shown = rows.iloc[page * self.page_size : (page + 1) * self.page_size]
        with self.hold_sync():
            self.index, self.page = index, page
            self.comparison = comparison_payload(
                self._comparisons[cid], self._originals.get(cid), index, len(self._visible)
            )
            self.rows = rows_payload(shown)
            self.n_rows = len(rows)
