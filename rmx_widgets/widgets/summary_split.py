"""SummarySplit: "Split by" and "Objective" under a sensitivity chart, for slices and objectives.

An input's extra fields (domain, subset, source, human label) are ``slice.<field>`` columns
of the explanation table (``core.slices``); "Split by" shows the per-attribute summary once
per value of one of them (``core.slices.sensitivity_by``: each slice's own n, failed,
PFR [interval], and Holm over the whole split table), "no split" by default. A
multi-objective RM's ``objective.<name>.delta`` columns (``core.objectives``) are read with
"Objective": the mean change of that objective per attribute and direction, with n and the
failed rewrites (``core.objectives.objective_effects``; "not measured" where n is 0). The
engine computes every figure; this module only picks the slice or objective and lays the
result out, escaped. Either picker is hidden when the table has nothing to pick. The split
table is kept (``split``, ``by``): the sensitivity chart above draws the same split.
"""

from __future__ import annotations

import html
import math

import ipywidgets as w
import pandas as pd

from rmx_widgets.core.objectives import objective_columns, objective_effects
from rmx_widgets.core.slices import PREFIX, sensitivity_by
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary

NO_SPLIT = "no split"
NO_OBJECTIVE = "none"


def _options(first: str, names: list[str]) -> list[tuple[str, str]]:
    return [(first, ""), *((n, n) for n in names)]


def _mean(value: float) -> str:
    return f"{value:+.3f}" if math.isfinite(value) else "not measured"


def objective_html(table: pd.DataFrame, objective: str) -> str:
    """The mean change of ``objective`` per attribute × direction as an escaped HTML table
    (mean Δ, n, failed; "not measured" where n is 0)."""
    effects = objective_effects(table)
    rows = effects[effects["objective"] == objective]
    body = "".join(
        "<tr>"
        f"<th scope='row'>{html.escape(str(r['attribute']))}</th>"
        f"<td>{html.escape(str(r['direction']))}</td>"
        f"<td>{_mean(r['mean_delta'])}</td>"
        f"<td>{int(r['n'])}</td><td>{int(r['n_failed'])}</td>"
        "</tr>"
        for r in rows.to_dict("records")
    )
    name = html.escape(objective)
    return (
        "<table class='rmx-summary-table rmx-objective-table'><thead><tr>"
        f"<th scope='col'>attribute</th><th scope='col'>direction</th>"
        f"<th scope='col'>mean Δ {name}</th><th scope='col'>n</th><th scope='col'>failed</th>"
        f"</tr></thead><tbody>{body}</tbody></table>"
        f"<div class='rmx-muted'>mean Δ {name} = mean of objective.{name}.delta "
        "(its reward after the rewrite − before) over the n successful rewrites; failed "
        "rewrites are counted, not averaged.</div>"
    )


def _picker(description: str, first: str, css_class: str) -> w.Dropdown:
    """A picker whose first option ("" value) means none; its options follow each table."""
    picker = w.Dropdown(
        options=_options(first, []),
        value="",
        description=description,
        layout=w.Layout(width="auto"),
    )
    picker.add_class(css_class)
    return picker


class SummarySplit(w.VBox):
    """The pickers and the objective view; :meth:`show` is what the chart calls with each
    new sensitivity table (and the explanation table it came from, when it has one)."""

    def __init__(self, summary: SensitivitySummary, n_boot: int = 300) -> None:
        self.summary = summary
        self.n_boot = n_boot
        self._sens: pd.DataFrame | None = None
        self._table: pd.DataFrame | None = None
        self._null: pd.DataFrame | None = None
        #: the summary's split table (``sensitivity_by``) and its slice column
        #: (``slice.domain``): None and "" with no split; the chart draws the same split
        self.split: pd.DataFrame | None = None
        self.by = ""
        self.split_picker = _picker("Split by", NO_SPLIT, "rmx-split-picker")
        self.objective_picker = _picker("Objective", NO_OBJECTIVE, "rmx-objective-picker")
        #: the chosen objective's mean change per attribute and direction (empty: none chosen)
        self.objective_view = w.HTML(layout=w.Layout(display="none"))
        self.objective_view.add_class("rmx-objective-view")
        self.split_picker.observe(lambda _: self._draw_summary(), "value")
        self.objective_picker.observe(lambda _: self._draw_objective(), "value")
        pickers = w.HBox(
            [self.split_picker, self.objective_picker],
            layout=w.Layout(flex_flow="row wrap", width="100%"),
        )
        super().__init__(
            [pickers, self.objective_view], layout=w.Layout(width="100%", display="none")
        )
        self.add_class("rmx-summary-split")

    def show(
        self,
        sens: pd.DataFrame | None,
        table: pd.DataFrame | None = None,
        null: pd.DataFrame | None = None,
    ) -> None:
        """Show ``sens`` in the summary, split by the chosen slice of ``table`` (its
        explanation table; ``None``: nothing to split, the pickers hide) tested against
        ``null``; a slice or objective the new table lacks falls back to none."""
        self._sens, self._table, self._null = sens, table, null
        columns = [] if table is None else [str(c) for c in table.columns]
        slices = [c.removeprefix(PREFIX) for c in columns if c.startswith(PREFIX) and c != PREFIX]
        objectives = [] if table is None else list(objective_columns(table))
        with self.split_picker.hold_trait_notifications():
            self._set_options(self.split_picker, _options(NO_SPLIT, slices))
            self._set_options(self.objective_picker, _options(NO_OBJECTIVE, objectives))
        self.split_picker.layout.display = None if slices else "none"
        self.objective_picker.layout.display = None if objectives else "none"
        self.layout.display = None if slices or objectives else "none"
        self._draw_summary()
        self._draw_objective()

    @staticmethod
    def _set_options(picker: w.Dropdown, options: list[tuple[str, str]]) -> None:
        if list(picker.options) == options:
            return
        keep = picker.value if picker.value in {v for _, v in options} else ""
        picker.options = options
        picker.value = keep

    def _draw_summary(self) -> None:
        by = self.split_picker.value
        if not by or self._table is None or self._sens is None or not len(self._sens):
            self.split, self.by = None, ""
            self.summary.show(self._sens)
            return
        self.split = sensitivity_by(self._table, self._null, PREFIX + by, n_boot=self.n_boot)
        self.by = PREFIX + by
        self.summary.show(self.split, by=self.by)

    def _draw_objective(self) -> None:
        name = self.objective_picker.value
        self.objective_view.value = (
            "" if not name or self._table is None else objective_html(self._table, name)
        )
        self.objective_view.layout.display = None if self.objective_view.value else "none"
