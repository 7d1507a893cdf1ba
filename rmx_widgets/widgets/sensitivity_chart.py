"""SensitivityChart: PFR per attribute through ``altair.JupyterChart``, clickable, with the
per-attribute :class:`SensitivitySummary` table under it.

The chart's point selection (param ``attribute``) is observed on the Python side and mirrored
into the ``selected`` / ``selected_direction`` traits, which the Explorer links both ways to the
ComparisonView's and the RewriteTable's Attribute and Side filters. A redraw (after every landed
batch) rebuilds the chart with the current selection already made, so a mid-run redraw never
loses it; the old view stays clickable until the new one is drawn (``offline_bundle``), and a
click made meanwhile is redrawn onto it; :meth:`SensitivityChart.select` highlights a bar from
Python. Only the aggregated sensitivity rows travel to the browser, never the explanation
table. Under the chart, ``splits``
(:class:`~rmx_widgets.widgets.summary_split.SummarySplit`) splits the summary by a slice of
the input and shows a multi-objective RM's changes per objective; the chart follows the
split ("Split by"): one bar per attribute, direction and slice, and a click on one also says
its slice (``selected_slice``), which the Explorer turns into a slice filter of the examples.
"""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Callable
from typing import Concatenate, ParamSpec, TypeVar, cast

import altair as alt
import ipywidgets as w
import pandas as pd
import traitlets

from rmx_widgets.core.chart_metrics import DEFAULT_METRIC, METRICS, chart_metric
from rmx_widgets.core.charts import (
    DIRECTIONS,
    SELECTION_NAME,
    SLICE_FIELD,
    Selection,
    comparison_chart,
    selection_value,
    sensitivity_chart,
    split_slices,
)
from rmx_widgets.core.readability import (
    DEFAULT_CONFIDENCE,
    MIN_READABLE_N,
    confidence_of,
    level_text,
)
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.widgets import offline_bundle, static_view
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary
from rmx_widgets.widgets.summary_split import SummarySplit


def _selection_key(value: Selection) -> frozenset:
    """A selection as a set of bars (attribute, direction, slice), whatever the order."""
    return frozenset(
        (str(v.get("attribute", "")), str(v.get("direction", "")), v.get(SLICE_FIELD))
        for v in value
    )


def _waiting_chart() -> alt.Chart:
    """What the chart area shows before the first batch lands."""
    return (
        alt.Chart(pd.DataFrame({"text": ["no results yet: press Run"]}))
        .mark_text(align="left", color="gray")
        .encode(text="text:N")
        .properties(width=300, height=30)
    )


CAPTION = (
    "PFR with {level} CIs (bootstrap over comparisons, Wilson floor); {n} successful rewrites. "
    "Whiskers: the {level} interval; black tick: the pooled PFR of both sides; grey tick: the null "
    "perturber's PFR; right: each bar's n and failed rewrites; light bar with a triangle: too "
    'few rewrites to read (n < {min_n}); a cross and "not measured": no rewrite succeeded. '
    "Click a bar (or its row, even at 0) to show its examples: worse bars are the chosen "
    "response's rewrites, better bars the rejected one's."
)


METRIC_CAPTION = (
    "{title}, per attribute and direction; {n} successful rewrites. {whisker}Black tick: the "
    "pooled value of both sides; right: each bar's n and failed rewrites; light bar with a "
    'triangle: too few rewrites to read (under {min_n}); a cross and "not measured": no '
    "figure for that bar (never drawn as 0). Click a bar to show its examples."
)


def caption_text(metric: str, n: int, confidence: float = DEFAULT_CONFIDENCE) -> str:
    """The caption under the chart: what the bars, whiskers and ticks of ``metric`` are, at the
    interval level ``confidence`` the table was computed at."""
    if metric == DEFAULT_METRIC:
        return CAPTION.format(n=n, min_n=MIN_READABLE_N, level=level_text(confidence))
    plotted = chart_metric(metric)
    key = plotted.whisker(confidence)
    whisker = (
        f"Whiskers: {key.split(': ', 1)[1]}. "
        if key
        else ("No interval is computed for this metric, so no whiskers. ")
    )
    return METRIC_CAPTION.format(
        title=plotted.title[0].upper() + plotted.title[1:],
        n=n,
        whisker=whisker,
        min_n=MIN_READABLE_N,
    )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _one_at_a_time(
    method: Callable[Concatenate[SensitivityChart, _P], _R],
) -> Callable[Concatenate[SensitivityChart, _P], _R]:
    """Run ``method`` holding the chart's lock. Mid-run the Explorer redraws from its worker
    thread while the browser's clicks arrive on the kernel's main thread: unserialised, a
    click reported while a redraw was assigning the new spec read that redraw's "resetting"
    flag and was dropped as JupyterChart's own reset (the 'Side = Rejected' CI failure), and
    the two threads could interleave the selection and the draw numbering."""

    @functools.wraps(method)
    def locked(self: SensitivityChart, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._drawing:
            return method(self, *args, **kwargs)

    return locked


class SensitivityChart(w.VBox):
    """``selected`` holds the clicked attribute ('' when none), ``selected_direction`` the
    clicked bar's direction ("worse" / "better"; '' for none or both); ``metric`` what the
    bars show (core.chart_metrics: "pfr", "excess", "margin", "failure"), which the
    ``metric_picker`` dropdown above the chart switches. Split by a slice (``split_by``: its
    column, ``slice.domain``; "" none), ``selected_slice`` is the clicked bar's slice as a
    one-tuple, ``("math",)`` or ``(None,)`` for the rows missing the field, and ``()`` when
    no one slice is chosen (no split, no click, or one attribute's bars in every slice)."""

    selected = traitlets.Unicode("")
    selected_direction = traitlets.Unicode("")
    selected_slice: traitlets.Tuple = traitlets.Tuple()
    split_by = traitlets.Unicode("")
    metric = traitlets.Unicode(DEFAULT_METRIC)

    def __init__(
        self,
        table: pd.DataFrame | None = None,
        *,
        n_boot: int = 300,
        title: str | None = None,
        fit: bool = False,
    ) -> None:
        #: ``fit``: the chart fills the width of its column (the Explorer's split) and follows
        #: it, rather than a fixed 420 px plot
        self.width: int | str = "container" if fit else 420
        self.n_boot = n_boot
        self.title = title
        self.sens: pd.DataFrame | None = None
        offline_bundle.enable_offline()  # read at install, not built per kernel
        self._resetting = False
        #: held by every draw and every report (_one_at_a_time); re-entrant, as a report's
        #: filters may redraw
        self._drawing = threading.RLock()
        self._echo: frozenset | None = None
        #: the kernel's draws, numbered (each spec says its number in ``usermeta``), and the
        #: selection the newest one was built with
        self._views = 0
        self._drawn: frozenset | None = None
        self.chart = offline_bundle.KeptClickChart(
            _waiting_chart(), embed_options={"actions": False, "renderer": "svg"}
        )
        self.chart.observe(self._on_vl_selections, "_vl_selections")
        self.caption = w.HTML()
        self.summary = SensitivitySummary()
        #: "Split by" (a slice of the input) and "Objective" for the summary
        self.splits = SummarySplit(self.summary, n_boot=n_boot)
        self.metric_picker = w.Dropdown(
            options=[(m.label, m.name) for m in METRICS.values()],
            value=DEFAULT_METRIC,
            description="Metric",
            layout=w.Layout(width="auto"),
        )
        self.metric_picker.add_class("rmx-metric-picker")
        w.link((self.metric_picker, "value"), (self, "metric"))
        self.observe(self._on_metric, "metric")
        #: after the summary's own observer (registered first): the split table is ready
        self.splits.split_picker.observe(lambda _: self._on_split(), "value")
        super().__init__([self.metric_picker, self.chart, self.caption, self.splits, self.summary])
        self.add_class("rmx-sensitivity-chart")
        if table is not None and len(table):
            self.update(table)

    def static_html(self) -> str:
        """What the chart shows as an escaped HTML table, for outputs without a widget manager."""
        return static_view.sensitivity_html(self.sens)

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The live view plus its static rendering (nbconvert, GitHub): see static_view."""
        return static_view.with_static(
            super()._repr_mimebundle_(**kwargs),
            static_view.page([self.static_html()], "Sensitivity (PFR per attribute)"),
            static_view.sensitivity_plain(self.sens),
        )

    def update(self, table: pd.DataFrame, null: pd.DataFrame | None = None) -> pd.DataFrame:
        """Recompute PFRs from the (possibly partial) table, tested against the null
        perturber's rows that landed (``null``; ``None``: no null run), and redraw."""
        sens = sensitivity(table, n_boot=self.n_boot, null=null)
        self.show(sens, table=table, null=null)
        return sens

    @_one_at_a_time
    def show(
        self,
        sens: pd.DataFrame,
        *,
        table: pd.DataFrame | None = None,
        null: pd.DataFrame | None = None,
    ) -> None:
        """Draw a sensitivity table: the chart and, under it, the pooled rows as the faces show
        them (n, failed rate, interval, null PFR, Holm p, significance, the marks); with the
        explanation ``table`` it came from (and its ``null``), the summary can be split by
        its slices and its objectives read (``splits``)."""
        self.sens = sens
        self.splits.show(sens, table, null)  # first: the chart draws the summary's split
        self._follow_split()
        self._draw()
        self.summary.layout.display = None
        self.metric_picker.layout.display = None
        self._caption()

    def _caption(self) -> None:
        sens = self.sens
        n = int(sens.loc[sens["direction"] == "both", "n"].sum()) if sens is not None else 0
        level = confidence_of(sens) if sens is not None else DEFAULT_CONFIDENCE
        text = caption_text(self.metric, n, level)
        self.caption.value = f"<small class='rmx-chart-caption'>{html.escape(text)}</small>"

    @_one_at_a_time
    def select(self, attribute: str | None, direction: str = "", slice_value: tuple = ()) -> None:
        """Highlight ``attribute``'s ``direction`` bar ("worse" / "better"; "" both of its
        bars; ``None`` or "" clears), as if it had been clicked: the chart is redrawn with that
        selection made (the browser cannot be told a selection any other way). Split by a
        slice, ``slice_value`` (a one-tuple, as ``selected_slice``) picks that slice's bars;
        ``()`` (or a slice the split lacks) every slice's."""
        attribute = attribute or ""
        direction = direction if attribute and direction in DIRECTIONS else ""
        chosen = tuple(slice_value) if attribute and self._slice_ids(tuple(slice_value)) else ()
        if (attribute, direction, chosen) == (
            self.selected,
            self.selected_direction,
            self.selected_slice,
        ):
            return
        with self.hold_trait_notifications():
            self.selected, self.selected_direction = attribute, direction
            self.selected_slice = chosen
        if self.sens is not None:
            self._draw()

    def _slices(self) -> list[str | None]:
        """The slices of the split the chart draws, in its bars' order (none: no split)."""
        split = self.splits.split
        return split_slices(split, self.split_by) if split is not None and self.split_by else []

    def _slice_ids(self, chosen: tuple) -> list[int]:
        """The positions of ``chosen``'s slice among the drawn slices (``[]``: not there)."""
        slices = self._slices()
        return [slices.index(chosen[0])] if len(chosen) == 1 and chosen[0] in slices else []

    def _follow_split(self) -> None:
        """``split_by`` follows the summary's split; a selected slice the split no longer has
        (another column, or a batch without it) is dropped, the attribute kept."""
        with self.hold_trait_notifications():
            moved = self.splits.by != self.split_by  # the same text may be another's slice
            self.split_by = self.splits.by
            if self.selected_slice and (moved or not self._slice_ids(self.selected_slice)):
                self.selected_slice = ()

    @_one_at_a_time
    def _on_split(self) -> None:
        """A new "Split by" choice redraws the chart split the same way."""
        self._follow_split()
        if self.sens is not None:
            self._draw()

    @traitlets.validate("metric")
    def _valid_metric(self, proposal: dict) -> str:
        """An unknown metric is refused before it is set, naming the choices."""
        try:
            return chart_metric(proposal["value"]).name
        except ValueError as e:
            raise traitlets.TraitError(str(e)) from None

    @_one_at_a_time
    def _on_metric(self, change: dict) -> None:
        """A new metric redraws the same rows (the selection kept) and its caption."""
        if self.sens is not None:
            self._draw()
            self._caption()

    def _draw(self) -> None:
        assert self.sens is not None
        split = self.splits.split if self.split_by else None
        value = self._now()
        self._set_chart(
            sensitivity_chart(
                self.sens,
                title=self.title,
                selected=value,
                metric=self.metric,
                width=self.width,
                split=split,
                by=self.split_by,
            ),
            value,
        )

    @_one_at_a_time
    def show_comparison(
        self, sens_a: pd.DataFrame, sens_b: pd.DataFrame, name_a: str, name_b: str
    ) -> None:
        self.sens = None
        self._set_chart(comparison_chart(sens_a, sens_b, name_a, name_b), [])
        self.splits.show(None)  # two RMs: the chart's labels and tooltips carry the marks
        self._follow_split()
        self.summary.layout.display = "none"
        self.metric_picker.layout.display = "none"  # two RMs: pooled PFRs only
        self.caption.value = (
            "<small>Pooled PFR per attribute for each reward model, with "
            "95% CIs (bootstrap, Wilson floor). Click a bar to filter the examples.</small>"
        )

    def _set_chart(self, chart: alt.TopLevelMixin, drawn: Selection | None = None) -> None:
        """Show ``chart``, drawn with the selection ``drawn`` made (None: it has none to
        make); the browser's first report from it is expected to be that selection."""
        self._views += 1
        chart = chart.properties(usermeta={offline_bundle.VIEW_KEY: self._views})
        self._resetting = True  # JupyterChart resets its selections: not a report
        try:
            self.chart.chart = cast("alt.TopLevelSpec", chart)  # every chart here is top-level
        finally:
            self._resetting = False
        self._drawn = self._echo = None if drawn is None else _selection_key(drawn)

    def _now(self) -> Selection:
        """The selection as Python holds it, as the chart would be drawn with it."""
        ids = None
        if self.split_by and self.splits.split is not None:
            ids = self._slice_ids(self.selected_slice) or list(range(len(self._slices())))
        return selection_value(self.selected, self.selected_direction, ids)

    @_one_at_a_time
    def _on_vl_selections(self, change: dict) -> None:
        """What the browser reports of the chart's selection (a click, or a freshly drawn
        view's initial selection, which every redraw sends once).

        That first report of a redraw says what the chart was *built* with, which may be
        older than a click: redraws follow every landed batch, so mid-run a click often lands
        on a view that a newer draw is replacing. The chart's bundle (``offline_bundle``)
        says which draw each report comes from and whether it is a first report: a first
        report is never a click, and a click on a view already replaced is redrawn onto the
        newest view when that one was built without it. Under Altair's own bundle (reports
        say neither), a first report equal to what the newest draw was built with is taken
        as that echo and, when a click came since, dropped and the click redrawn."""
        if self._resetting or not isinstance(change["new"], dict):
            return
        raw = change["new"].get(SELECTION_NAME)
        if not isinstance(raw, dict):
            return
        signal = raw.get("value")
        points = signal.get("vlPoint", {}).get("or", []) if isinstance(signal, dict) else []
        value = [v for v in points if isinstance(v, dict)]
        view = raw.get(offline_bundle.VIEW_KEY)
        if isinstance(view, int) and not isinstance(view, bool):
            if raw.get(offline_bundle.INITIAL_KEY) is True:
                return  # a view's starting selection, as the kernel built it: not a click
            self._on_selection(value)
            replaced = view != self._views
            if replaced and self.sens is not None and _selection_key(self._now()) != self._drawn:
                self._draw()  # the click landed on a replaced view: the newest lacks it
            return
        if self._echo is not None and _selection_key(value) == self._echo:
            self._echo = None
            if _selection_key(value) != _selection_key(self._now()) and self.sens is not None:
                self._draw()  # a click landed after this chart was built: show it instead
                return
        self._on_selection(value)

    def _on_selection(self, value: Selection) -> None:
        attribute = str(value[0].get("attribute", "")) if value else ""
        mine = [v for v in value if v.get("attribute") == attribute]
        directions = {str(v.get("direction", "")) for v in mine}
        direction = directions.pop() if len(directions) == 1 else ""
        ids = {v.get(SLICE_FIELD) for v in mine}
        slices = self._slices()
        one = ids.pop() if len(ids) == 1 else None
        chosen = (slices[one],) if isinstance(one, int) and 0 <= one < len(slices) else ()
        with self.hold_trait_notifications():
            self.selected = attribute
            self.selected_direction = direction if direction in DIRECTIONS else ""
            self.selected_slice = chosen if attribute else ()
