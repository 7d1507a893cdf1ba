"""StudyView: a study (``evaluate(...)``'s :class:`StudyResult`) browsed in a notebook.

A thin face over the existing widgets, in the order the paper reads: the paper's Table 1
(coverage, Chosen / Rejected / Both) and Table 2 (distances and diversity) of the data set, the
quality table
(coverage, distances, diversity per RM × perturber, for the chosen side, the rejected side,
both or either), a :class:`SensitivityChart` per reward model, Kendall's τ between the RMs'
rankings, and the representative (per RM) and contrasting (per pair) examples in a
:class:`ComparisonView`. Everything is computed already; switching the data set, the side or
the example only re-slices the result's frames. Every name (data set, RM, perturber) is user
input and every response is model output: both are escaped before they reach an HTML widget.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from rmx_widgets.core.html import html_table
from rmx_widgets.core.study.report import SIDE_NOTES, SIDES
from rmx_widgets.core.validity_rates import valid_text
from rmx_widgets.widgets import static_view
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart

_STYLE = (
    # colours from the JupyterLab theme (light and dark), with fallbacks for other hosts: a
    # fixed light header background under the dark theme's white text read 1.1:1
    "<style>.rmx-study table{border-collapse:collapse;margin:4px 0 10px;font-size:0.9em;"
    "color:var(--jp-ui-font-color1,#1f2328)}"
    ".rmx-study th,.rmx-study td{border:1px solid var(--jp-border-color2,#ddd);padding:2px 8px;"
    "text-align:left}"
    ".rmx-study th{background:var(--jp-layout-color2,#f4f4f4);color:var(--jp-ui-font-color0,#111)}"
    ".rmx-study td.num{text-align:right}</style>"
)


def _esc(value: Any) -> str:
    return html.escape(str(value))


TABS = {
    "paper": "Paper tables",
    "quality": "Quality",
    "sensitivity": "Sensitivity",
    "tau": "RM vs RM (τ)",
    "examples": "Examples",
}
"""The tabs in the order the paper reads: a key (for :meth:`StudyView.show_tab`) and a title."""


def _panel(title: str, cls: str, children: list[w.Widget]) -> w.VBox:
    box = w.VBox([w.HTML(f"<h3>{html.escape(title)}</h3>"), *children])
    box.add_class(cls)
    return box


class StudyView(w.VBox):
    """``dataset`` and ``side`` pick what the Quality panel shows; ``examples`` picks the
    comparison the ComparisonView shows, ``rewrites_of`` whose rewrites (for a pair)."""

    def __init__(
        self, result: Any, *, dataset: str | None = None, side: str = "both", page_size: int = 20
    ) -> None:
        self.result = result
        datasets = list(result.datasets)
        self.dataset_picker = w.Dropdown(
            options=datasets,
            value=dataset if dataset is not None else datasets[0],
            description="Data set",
        )
        self.side = w.ToggleButtons(
            options=list(SIDES),
            value=side,
            description="Side",
            tooltips=[SIDE_NOTES[s] for s in SIDES],
        )
        self.header = w.HTML(_STYLE + self._header_html())
        self.paper_tables = {n: w.HTML() for n in (1, 2)}
        for n, widget in self.paper_tables.items():
            widget.add_class(f"rmx-study-paper-table{n}")
        self.quality = w.HTML()
        self.quality.add_class("rmx-study-quality-table")
        self.perturber = w.Dropdown(description="Perturber")
        self.charts = {rm: SensitivityChart() for rm in result.rms}
        self.sensitivity_note = w.HTML()
        self.tau = w.HTML()
        self.tau.add_class("rmx-study-tau-matrix")
        self.examples = w.Dropdown(description="Example", layout=w.Layout(width="auto"))
        self.rewrites_of = w.ToggleButtons(description="Rewrites of")
        self.example_caption = w.HTML()
        self.view = ComparisonView(page_size=page_size)

        #: the five panels in tabs (one panel on screen, not a 4,000 px column); show_tab
        self.tabs = w.Tab(self._panels(), titles=list(TABS.values()))
        self.tabs.add_class("rmx-study-tabs")
        controls = [self.dataset_picker] if len(datasets) > 1 else []
        super().__init__([self.header, w.HBox(controls), self.tabs])
        self.add_class("rmx-study")
        self._quiet = False
        self._observe()
        self._show_dataset()

    def show_tab(self, name: str) -> None:
        """Bring a panel's tab to the front: ``name`` is a key of :data:`TABS` ("paper",
        "quality", "sensitivity", "tau", "examples") or a tab's title."""
        keys = list(TABS)
        titles = list(TABS.values())
        if name in keys:
            self.tabs.selected_index = keys.index(name)
        elif name in titles:
            self.tabs.selected_index = titles.index(name)
        else:
            raise ValueError(f"show_tab({name!r}): choose one of {keys}.")

    @property
    def current_tab(self) -> str:
        """The key of the tab on screen."""
        return list(TABS)[self.tabs.selected_index or 0]

    def _panels(self) -> list[w.Widget]:
        """The five panels (the paper's tables first), in the order the paper reads; the
        header and the data-set picker stay above the tabs, since they drive every panel."""
        return [
            _panel("The paper's tables", "rmx-study-paper", list(self.paper_tables.values())),
            _panel("Quality of the explanations", "rmx-study-quality", [self.side, self.quality]),
            _panel(
                "Sensitivity (preference flip rate)",
                "rmx-study-sensitivity",
                [self.perturber, self.sensitivity_note, *self.charts.values()],
            ),
            _panel("RM vs RM: Kendall's τ", "rmx-study-tau", [self.tau]),
            _panel(
                "Examples",
                "rmx-study-examples",
                [self.examples, self.rewrites_of, self.example_caption, self.view],
            ),
        ]

    def _observe(self) -> None:
        """Redraw what a control drives when it changes (unless ``_set_choices`` is busy), and
        let a click on a chart's attribute pick it in the ComparisonView."""
        self.dataset_picker.observe(self._when_loud(self._show_dataset), "value")
        self.side.observe(self._when_loud(self._show_quality), "value")
        self.perturber.observe(self._when_loud(self._show_sensitivity), "value")
        self.examples.observe(self._when_loud(self._show_example_choice), "value")
        self.rewrites_of.observe(self._when_loud(self._show_rewrites), "value")
        for chart in self.charts.values():
            chart.observe(lambda ch: self.view.show_attribute(ch["new"] or None), "selected")

    def _set_choices(
        self, widget: w.widgets.widget_selection._Selection, options: list, value: Any
    ) -> None:
        """New options and value without the observers firing half-way (the caller redraws
        once, after both are set)."""
        self._quiet = True
        try:
            widget.options = options
            widget.value = value
        finally:
            self._quiet = False

    def _when_loud(self, fn: Any) -> Any:
        return lambda _change: None if self._quiet else fn()

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The live view plus a static rendering (nbconvert, GitHub): the study header and the
        data set's Table 1 and Table 2, escaped (static_view)."""
        parts = [self._header_html(), f"<p>Data set: {_esc(self.dataset)}</p>"]
        parts += [self.paper_tables[n].value for n in (1, 2)]
        return static_view.with_static(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(parts, "StudyView"),
            f"StudyView: {len(self.result.rms)} reward model(s); data set {self.dataset}",
        )

    # -- what is on screen -------------------------------------------------------------------
    @property
    def dataset(self) -> str:
        return self.dataset_picker.value

    def _header_html(self) -> str:
        cfg = self.result.config
        baselines = set(cfg.get("baselines", []))
        perts = []
        for name in cfg.get("perturbers", {}):
            tag = " (baseline)" if name in baselines else ""
            tag += " (primary)" if name == self.result.primary else ""
            perts.append(_esc(name) + tag)
        skipped = "".join(
            f"<li><b>{_esc(n)}</b> skipped: {_esc(r)}</li>" for n, r in self.result.skipped.items()
        )
        seeds = cfg.get("seeds", [])
        judge = ""
        if self.result.judge:
            only = "; figures on valid rewrites only" if self.result.valid_only else ""
            judge = f" Rewrite judge <b>{_esc(self.result.judge)}</b> (baselines not judged{only})."
        return (
            f"<div class='rmx-summary'>Study of <b>{len(self.result.rms)}</b> reward "
            f"model(s) ({', '.join(_esc(r) for r in self.result.rms)}) with perturbers "
            f"{', '.join(perts)}; {len(seeds)} seed(s) × {_esc(cfg.get('per_seed'))} "
            f"comparisons; attributes: {_esc(', '.join(cfg.get('attributes', [])))}.{judge}"
            f"{'<ul>' + skipped + '</ul>' if skipped else ''}</div>"
        )

    def _show_dataset(self) -> None:
        self._show_paper_tables()
        self._show_quality()
        sens = self._sens()
        perts = list(pd.unique(sens["perturber"])) if len(sens) else []
        primary = self.result.primary
        self._set_choices(
            self.perturber, perts, primary if primary in perts else (perts[0] if perts else None)
        )
        self.perturber.layout.display = None if len(perts) > 1 else "none"
        self._show_sensitivity()
        self._show_tau()
        self._show_examples()

    def _show_paper_tables(self) -> None:
        """Table 1 and Table 2 of the data set under their captions (text, escaped)."""
        for n, widget in self.paper_tables.items():
            table = self.result.paper_table(n, self.dataset, formatted=True)
            caption = _esc(self.result.paper_table_caption(n, self.dataset))
            widget.value = f"<p><i>{caption}</i></p>" + (
                html_table(table, cls=f"paper-table{n}")
                if len(table)
                else "<p>No explanations on this data set.</p>"
            )

    def _show_quality(self) -> None:
        table = self.result.main_table(self.dataset, self.side.value)
        note = (
            f"<p><i>{_esc(SIDE_NOTES[self.side.value])}; "
            f"{_esc(self.result.se_note(self.dataset))}.</i></p>"
        )
        self.quality.value = note + (
            html_table(table, cls=f"quality side-{self.side.value}")
            if len(table)
            else "<p>No explanations on this side.</p>"
        )

    def _sens(self) -> pd.DataFrame:
        s = self.result.sensitivity
        return s[s["dataset"] == self.dataset]

    def _show_sensitivity(self) -> None:
        sens = self._sens()
        pert = self.perturber.value
        sens = sens[sens["perturber"] == pert] if pert is not None else sens.iloc[0:0]
        missing = []
        for rm, chart in self.charts.items():
            rows = sens[sens["rm"] == rm]
            if rows.empty:
                chart.layout.display = "none"
                missing.append(rm)
                continue
            chart.layout.display = None
            chart.title = f"{rm} — {pert}"
            # every column: the null-run ones, when the study made them, reach the summary
            chart.show(rows.reset_index(drop=True))
        n_agree = int(sens["n_agree"].iloc[0]) if len(sens) else 0
        note = (
            f"<p><i>On the {n_agree} comparisons all reward models agree on.</i></p>"
            if len(sens)
            else "<p>No sensitivity on this data set: no attribute perturber ran.</p>"
        )
        if missing and len(sens):
            note += f"<p>No results for {', '.join(_esc(m) for m in missing)}.</p>"
        if self.result.judge and len(sens):
            note += self._valid_note(sens)
        self.sensitivity_note.value = note

    def _valid_note(self, sens: pd.DataFrame) -> str:
        """Per RM, the valid rewrites of the shown perturber (all attributes and directions
        pooled) beside its failed rewrites, and whether the PFRs are valid-only."""
        items = []
        for rm in self.result.rms:
            rows = sens[(sens["rm"] == rm) & (sens["direction"] == "both")]
            if rows.empty:
                continue
            failed = int(rows["n_failed"].sum())
            valid = valid_text(rows["n_valid"].sum(), rows["n_judged"].sum())
            items.append(
                f"<li>{_esc(rm)}: valid {_esc(valid)} of judged rewrites; {failed} failed</li>"
            )
        only = (
            " The PFRs count only the rewrites judged valid (n = valid rewrites)."
            if self.result.valid_only
            else ""
        )
        return (
            f"<p><i>Rewrite judge {_esc(self.result.judge)}: valid rewrites among those it "
            f"judged.{only}</i></p><ul class='rmx-valid-rates'>{''.join(items)}</ul>"
        )

    def _show_tau(self) -> None:
        rows = self.result.tau[self.result.tau["dataset"] == self.dataset]
        if rows.empty:
            self.tau.value = "<p>No τ: no ranking was computed on this data set.</p>"
            return
        matrix = self.result.tau_matrix(self.dataset)
        matrix = matrix.rename_axis(None, axis=1).rename_axis("τ").reset_index()
        self.tau.value = (
            f"<p><i>Kendall's τ between the attribute rankings (pooled PFR), "
            f"over {int(rows['n_agree'].iloc[0])} comparisons all reward models "
            f"agree on.</i></p>{html_table(matrix, cls='tau-matrix')}"
        )

    # -- examples ----------------------------------------------------------------------------
    def _example_options(self) -> list[tuple[str, tuple]]:
        ds = self.dataset
        options: list[tuple[str, tuple]] = []
        reps = self.result.representatives
        for r in reps[reps["dataset"] == ds].itertuples():
            options.append(
                (
                    (f"representative of {r.rm} #{r.rank}: {r.comparison_id} (τ = {r.tau:.2f})"),
                    ("representative", r.rm, r.comparison_id),
                )
            )
        cons = self.result.contrasting
        for r in cons[cons["dataset"] == ds].itertuples():
            options.append(
                (
                    (
                        f"contrasting {r.rm_a} vs {r.rm_b} #{r.rank}: {r.comparison_id} "
                        f"(τ = {r.tau:.2f})"
                    ),
                    ("contrasting", r.rm_a, r.rm_b, r.comparison_id),
                )
            )
        return options

    def _show_examples(self) -> None:
        options = self._example_options()
        self._set_choices(self.examples, options, options[0][1] if options else None)
        self._show_example_choice()

    def _show_example_choice(self) -> None:
        key = self.examples.value
        rms = [] if key is None else ([key[1]] if key[0] == "representative" else [key[1], key[2]])
        self._set_choices(self.rewrites_of, rms, rms[0] if rms else None)
        self.rewrites_of.layout.display = None if len(rms) > 1 else "none"
        self._show_rewrites()

    def _show_rewrites(self) -> None:
        key, rm = self.examples.value, self.rewrites_of.value
        if key is None or rm is None:
            self.example_caption.value = "<p>No examples on this data set.</p>"
            self.view.set_data([], None, None)
            return
        cid = key[-1]
        ds = self.dataset
        comps = [c for c in self.result.comparisons.get(ds, []) if c.id == cid]
        table = self.result.primary_table(ds, rm)
        rows = table[table["comparison_id"] == cid] if table is not None else None
        self.view.set_data(comps, rows, self.result.originals.get((ds, rm)))
        kind = "representative example" if key[0] == "representative" else "contrasting example"
        self.example_caption.value = (
            f"<p>{kind} <b>{_esc(cid)}</b>: rewrites by "
            f"{_esc(self.result.primary)} as scored by "
            f"<b>{_esc(rm)}</b>.</p>"
        )
