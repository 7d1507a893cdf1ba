"""SensitivitySummary: the per-attribute table under the sensitivity chart (the Explorer's,
the StudyView's, RMCompare's), with the cells every face shows.

Python makes every cell (core.summary_table, in core.readability's words: n with its "too few"
mark, the failed rate with its counts, the CF and SF counts, PFR [interval] or "not measured",
the null PFR, the excess over it, the Holm p and the significance marker, "no null run" where
no null was run, the length-controlled PFR with its n, and the valid-rewrite rate with its
counts when a rewrite judge ran; the legend says when the figures count only rewrites judged
valid); the browser only lays them out, as text. Only the pooled rows travel, a few hundred
bytes per attribute.

Split by a slice of the input (``show(split, by="slice.domain")`` with a
``core.slices.sensitivity_by`` table: the Explorer's "Split by"), the rows are each slice's
pooled rows, slice by slice, each with its value in ``split_value`` (null: the comparisons
missing the field) and its own n, failed and interval; Holm is over the whole split table.
"""

from __future__ import annotations

import anywidget
import pandas as pd
import traitlets

from rmx_widgets.core.slices import PREFIX, slice_rows, slice_values
from rmx_widgets.core.summary_table import (
    SUMMARY_TEXT_COLUMNS,
    summary_legend,
    summary_table,
    summary_text_columns,
)
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets._assets import bundle
from rmx_widgets.widgets.contract import SummaryRow

WAITING = "No results yet: press Run."


def summary_rows(sens: pd.DataFrame, by: str = "") -> list[SummaryRow]:
    """The pooled rows of a sensitivity table as the widget's ``rows`` payload, one cell per
    :func:`core.summary_table.summary_text_columns` of the table (the valid cell only with
    verdicts). ``by``: the slice column of a split table (``slice.domain``): each slice's
    rows in turn, in the split table's order, with their ``split_value``."""
    columns = summary_text_columns(sens)
    parts = (
        [(None, sens)] if not by else [(v, slice_rows(sens, by, v)) for v in slice_values(sens, by)]
    )
    return [
        SummaryRow(
            attribute=str(r["attribute"]),
            reading=r["reading"],
            cells=[str(r[c]) for c in columns],
            split_value=value,
        )
        for value, part in parts
        for r in summary_table(part).to_dict("records")
    ]


class SensitivitySummary(anywidget.AnyWidget):
    """Synced traits: ``contract.SensitivitySummaryState``."""

    _esm = bundle("sensitivity_summary.js")
    _css = bundle("widgets.css")

    rows: traitlets.List[SummaryRow] = traitlets.List().tag(sync=True)
    headers: traitlets.List[str] = traitlets.List(
        ["attribute", *SUMMARY_TEXT_COLUMNS.values()]
    ).tag(sync=True)
    legend = traitlets.Unicode(summary_legend()).tag(sync=True)
    empty = traitlets.Unicode(WAITING).tag(sync=True)
    split_by = traitlets.Unicode("").tag(sync=True)
    _sens: pd.DataFrame | None = None

    def show(self, sens: pd.DataFrame | None, by: str = "") -> None:
        """Show a sensitivity table's pooled rows (``None`` or empty: the waiting line);
        ``by``: ``sens`` is split by that slice column (``slice.domain``)."""
        if not by:
            self._sens = sens  # kept for the static rendering (the whole table's rows)
        if sens is None or not len(sens):
            with self.hold_sync():
                self.rows, self.split_by = [], ""
            return
        with self.hold_sync():
            self.headers = ["attribute", *summary_text_columns(sens).values()]
            self.legend = summary_legend(sens)
            self.rows = summary_rows(sens, by)
            self.split_by = by.removeprefix(PREFIX)

    def _repr_mimebundle_(self, **kwargs: dict) -> tuple[dict, dict] | None:
        """The live view plus the table as static HTML (nbconvert, GitHub): see static_view."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(
                [static_view.sensitivity_html(self._sens, WAITING)], "Per-attribute summary"
            ),
            f"SensitivitySummary: {len(self.rows)} attribute(s)",
        )
