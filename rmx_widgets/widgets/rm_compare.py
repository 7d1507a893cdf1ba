"""RMCompare: two reward models explained on the same comparisons, side by side.

Shows both sensitivity profiles as grouped bars, Kendall's τ between their attribute rankings
(over comparisons where both agree on the original preference), and the most contrasting
comparisons in a ComparisonView that can switch between the two RMs' rewrites.
"""

from __future__ import annotations

import html

import ipywidgets as w

from rmx_widgets.core.compare import RMComparison, compare
from rmx_widgets.core.explain import ExplanationResult
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart


class RMCompare(w.VBox):
    def __init__(
        self,
        result_a: ExplanationResult,
        result_b: ExplanationResult,
        *,
        names: tuple[str, str] | None = None,
        k: int = 5,
    ) -> None:
        self.results = (result_a, result_b)
        self.names = names or (result_a.rm, result_b.rm)
        self.comparison = compare(result_a, result_b, k=k)
        c = self.comparison
        self.chart = SensitivityChart()
        self.chart.show_comparison(c.sens_a, c.sens_b, self.names[0], self.names[1])
        ids = list(c.contrasting["comparison_id"]) if len(c.contrasting) else []
        self.contrasting_ids = ids
        self.which = w.ToggleButtons(options=list(self.names), description="Rewrites of")
        self.view = ComparisonView()
        self.which.observe(lambda ch: self._show(self.names.index(ch["new"])), "value")
        self.chart.observe(lambda ch: self.view.show_attribute(ch["new"] or None), "selected")
        header = w.HTML(
            f"<div class='rmx-summary'><b>{html.escape(self.names[0])}</b> vs "
            f"<b>{html.escape(self.names[1])}</b>: Kendall's τ-b = <b>{_tau_text(c)}</b> over "
            f"{c.n_agree} comparisons where both agree on the original preference; "
            f"{len(ids)} most contrasting examples below.</div>"
        )
        super().__init__([header, self.chart, self.which, self.view])
        self.add_class("rmx-rm-compare")
        self._show(0)

    def _show(self, i: int) -> None:
        result = self.results[i]
        keep = set(self.contrasting_ids)
        comps = [c for c in result.comparisons if c.id in keep]
        order = {cid: n for n, cid in enumerate(self.contrasting_ids)}
        comps.sort(key=lambda c: order[c.id])
        table = result.table[result.table["comparison_id"].isin(keep)]
        self.view.set_data(comps, table, result.originals)


def _tau_text(c: RMComparison) -> str:
    """τ with its interval, or why it is undefined (never a number it does not have)."""
    if c.tau != c.tau:
        return html.escape(c.tau_note or "undefined")
    if c.tau_low == c.tau_low and c.tau_high == c.tau_high:
        return f"{c.tau:.3f} [{c.tau_low:.3f}, {c.tau_high:.3f}]"
    return f"{c.tau:.3f}"
