"""SensitivitySummary: the per-attribute table under the sensitivity chart (the Explorer's,
the StudyView's, RMCompare's), with the cells every face shows.

Python makes every cell (core.summary_table, in core.readability's words: n with its "too few"
mark, the failed rate with its counts, the CF and SF counts, PFR [interval] or "not measured",
the null PFR, the excess over it, the Holm p and the significance marker, "no null run" where
no null was run, the length-controlled PFR with its n, and the valid-rewrite rate with its
counts when a rewrite judge ran; the legend says when the figures count only rewrites judged
valid); the browser only lays them out, as text. Only the pooled rows travel, a few hundred
bytes per attribute.
"""

from __future__ import annotations

import anywidget
import pandas as pd
import traitlets

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


def summary_rows(sens: pd.DataFrame) -> list[SummaryRow]:
    """The pooled rows of a sensitivity table as the widget's ``rows`` payload, one cell per
    :func:`core.summary_table.summary_text_columns` of the table (the valid cell only with
    verdicts)."""
    columns = summary_text_columns(sens)
    return [
        SummaryRow(
            attribute=str(r["attribute"]),
            reading=r["reading"],
            cells=[str(r[c]) for c in columns],
        )
        for r in summary_table(sens).to_dict("records")
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
    _sens: pd.DataFrame | None = None

    def show(self, sens: pd.DataFrame | None) -> None:
        """Show a sensitivity table's pooled rows (``None`` or empty: the waiting line)."""
        self._sens = sens  # kept for the static rendering
        if sens is None or not len(sens):
            self.rows = []
            return
        with self.hold_sync():
            self.headers = ["attribute", *summary_text_columns(sens).values()]
            self.legend = summary_legend(sens)
            self.rows = summary_rows(sens)

    def _repr_mimebundle_(self, **kwargs: dict) -> tuple[dict, dict] | None:
        """The live view plus the table as static HTML (nbconvert, GitHub): see static_view."""
        return static_view.with_static_pair(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(
                [static_view.sensitivity_html(self._sens, WAITING)], "Per-attribute summary"
            ),
            f"SensitivitySummary: {len(self.rows)} attribute(s)",
        )
