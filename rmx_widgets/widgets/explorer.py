"""Explorer: the composed app — pick attributes, run, watch charts fill in, read examples.

The run happens on a worker thread so the notebook stays usable; each batch that lands is
already in the store, then updates the progress bar, the chart and the ComparisonView (redraws
are throttled so a fast perturber does not flood the browser). The chart (with its metric switch
and the per-attribute summary) and the ComparisonView sit side by side in a responsive grid;
``table_slot`` under the ComparisonView holds ``rewrite_table`` (every rewrite, paged from the
kernel; a selected row opens in the ComparisonView). The three are linked, every link two-way:
a clicked bar, the view's Attribute and Side filters and the table's (``linked_filters``) are
one (attribute, side) choice, and a change made in any of them is made in the other two
(``_link``), once, with no echo back. With "Split by" the chart's bars are per slice, and a
click on one also keeps only that slice's rows in the view and the table (their
``slice_filter``); ``slice_bar`` above them says which slice and "Show every slice" undoes it.
Cancel stops after the current batch and keeps everything that landed. Errors are shown inside
the widget with their message.

After the perturber, the run explains the same rewrites with an attribute-blind null perturber
(``null_perturber``: by default the explainer's own, else the offline random word edits, which
cost no LLM call, only one more RM score per rewrite); ``null_status`` (shown under the controls)
says whether it ran, is running or was skipped, and why.
"""

from __future__ import annotations

import html
import threading
import time
import traceback
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import pandas as pd
import traitlets

from rmx_widgets.core.data import Comparison, load_comparisons
from rmx_widgets.core.errors import AttributeSpecError, RMXError
from rmx_widgets.core.explain import Explainer, ExplanationResult, RunStats
from rmx_widgets.core.hand_edits import without_hand_edits
from rmx_widgets.core.null_run import null_from_spec, null_skip_reason, resolve_null_perturber
from rmx_widgets.core.perturbers.base import Perturber
from rmx_widgets.core.reward_models.base import PairwiseJudge
from rmx_widgets.core.slices import PREFIX, slice_label
from rmx_widgets.widgets import run_progress, static_view
from rmx_widgets.widgets.attribute_picker import AttributePicker
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.contract import Filters, LinkedFilters, SideFilter
from rmx_widgets.widgets.rewrite_table import RewriteTable
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary

NO_RUN_TEXT = "No run yet: pick attributes and press Run to see the rewrites here."
NO_COMPARISONS = (
    "No comparisons to explain: the Explorer was given 0 comparisons. Pass a list of "
    "comparisons or a file with at least one row (prompt, response_a, response_b)."
)
SIDE_OF_DIRECTION: dict[str, SideFilter] = {"worse": "chosen", "better": "rejected"}
"""Which response a direction's rewrites changed: the Explorer explains the RM's own
preference, so "worse" rewrites the chosen response and "better" the rejected one."""
DIRECTION_OF_SIDE = {side: direction for direction, side in SIDE_OF_DIRECTION.items()}


def _eta(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Explorer(w.VBox):
    """``Explorer(explainer, comparisons)``; ``run()`` / ``cancel()`` / ``wait()`` from code too.

    ``null_perturber``: ``"auto"`` (default: the explainer's null perturber if it has one, else
    ``"random"``), ``"random"`` (offline random word edits), ``None`` (no null) or an
    attribute-blind perturber.
    """

    #: whether the null perturber ran, is running or was skipped (and why); Python-side state
    #: shown, escaped, in ``null_label`` (the Explorer has no front end of its own)
    null_status = traitlets.Unicode("")

    def __init__(
        self,
        explainer: Explainer,
        comparisons: Any,
        *,
        attributes: Sequence | None = None,
        redraw_every: float = 0.3,
        page_size: int = 10,
        null_perturber: Any = "auto",
    ) -> None:
        if attributes is not None and not isinstance(attributes, str):
            attributes = list(attributes)
        if attributes is not None and not attributes:
            raise AttributeSpecError(
                "Explorer(attributes=[]) offers no attribute to explain: pass names such as "
                "attributes=['verbosity', 'clarity'], or leave attributes out for the defaults."
            )
        self.explainer = explainer
        null, skipped = _null_choice(explainer, null_perturber)
        #: what runs: the explainer with the chosen null (the same models and store)
        self.runner = explainer.with_null(null if skipped is None else None)
        self._null_skipped = skipped
        self.comparisons: list[Comparison] = (
            list(comparisons)
            if isinstance(comparisons, Sequence)
            and comparisons
            and isinstance(comparisons[0], Comparison)
            else load_comparisons(comparisons)
        )
        self.redraw_every = redraw_every
        self.result: ExplanationResult | None = None
        self.error: str | None = None
        self.last_traceback: str | None = None
        self._frames: list[pd.DataFrame] = []
        #: the null perturber's rows that landed: the chart and summary test against them (without
        #: them every null cell read "no null run" although the null had run)
        self._null_frames: list[pd.DataFrame] = []
        self._originals: pd.DataFrame | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._syncing = False

        self.summary = w.HTML(self._summary_html())
        self.picker = AttributePicker(
            attributes if attributes is not None else explainer.attributes
        )
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(
            min=0,
            max=1,
            value=0,
            description="",
            layout=w.Layout(width="auto", flex="0 1 320px", min_width="120px"),
        )
        self.status = w.Label("Pick attributes and press Run.")
        # HTML, not a Label: the status line stays the one Label (identities are escaped)
        self.null_label = w.HTML("")
        self.observe(
            lambda ch: setattr(
                self.null_label, "value", f"<span class='rmx-null'>{html.escape(ch['new'])}</span>"
            ),
            "null_status",
        )
        self._set_null_idle()
        if not self.comparisons:
            self.status.value = "0 comparisons given: nothing to run."
        self.error_box = w.HTML()
        self.chart = SensitivityChart(fit=True)  # fills its column of the split
        # edit and rescore through the run's RM, store and embedder (ComparisonView rm=)
        self.view = ComparisonView(
            comparisons=self.comparisons,
            page_size=page_size,
            rm=self.runner,
            attributes=self.picker.selected_attributes,
        )
        self.view.no_run_text = NO_RUN_TEXT
        self.view.set_data(self.comparisons, None)
        #: every rewrite, paged from the kernel; a selected row opens in the ComparisonView
        self.rewrite_table = RewriteTable()
        # linked three ways, each two-way: a click sets the view's and the table's Attribute
        # and Side filters, either's filters highlight the bar and set the other's
        self.chart.observe(
            self._chart_to_filters, ["selected", "selected_direction", "selected_slice"]
        )
        self.view.observe(self._filters_to_chart, "filters")
        self.rewrite_table.observe(self._table_filters_to_others, "linked_filters")
        self.rewrite_table.observe(self._table_to_view, "selected_row")
        self.rewrite_table.observe(
            lambda _: self._table_to_view({"new": self.rewrite_table.selected_row}),
            "reselections",
        )
        # a rescored hand edit joins the table at once (perturber "manual", "Made by")
        self.view.observe(lambda ch: self._show_rewrites(), "n_edits")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        # the row wraps (layout.css sizes its items): squeezed into one line at 800 px the
        # buttons read "R…" and the status is cut off
        self.status.add_class("rmx-status")
        controls = w.HBox(
            [self.run_button, self.cancel_button, self.progress, self.status],
            layout=w.Layout(flex_flow="row wrap", align_items="center", width="100%"),
        )
        controls.add_class("rmx-controls")
        self.controls = controls
        #: the chart's metric switch (PFR, excess over the null, margin change, failure rate)
        self.metric_picker = self.chart.metric_picker
        #: split the summary by a slice of the input ("no split" by default), and a
        #: multi-objective RM's change per objective (each hidden when there is none)
        self.split_picker = self.chart.splits.split_picker
        self.objective_picker = self.chart.splits.objective_picker
        #: the container under the detail view that holds the table of every rewrite
        self.table_slot = w.Box([self.rewrite_table], layout=w.Layout(width="100%"))
        self.table_slot.add_class("rmx-table-slot")
        #: which slice a split chart's bar keeps in the view and the table, and the way back
        #: (hidden while every slice is shown)
        self.slice_label = w.HTML("")
        self.clear_slice_button = w.Button(description="Show every slice", icon="times")
        self.clear_slice_button.on_click(lambda _: self.show_every_slice())
        self.slice_bar = w.HBox(
            [self.slice_label, self.clear_slice_button],
            layout=w.Layout(display="none", align_items="center", flex_flow="row wrap"),
        )
        self.slice_bar.add_class("rmx-slice-bar")
        detail = w.VBox(
            [self.slice_bar, self.view, self.table_slot], layout=w.Layout(min_width="0")
        )
        detail.add_class("rmx-explorer-detail")
        self.chart.add_class("rmx-explorer-chart")
        #: chart (with the summary under it) and detail side by side, one column when narrow
        #: (layout.css: a CSS grid whose columns wrap under 2 × 34em)
        self.split = w.GridBox(
            [self.chart, detail],
            layout=w.Layout(
                grid_template_columns="repeat(auto-fit, minmax(min(100%, 34em), 1fr))",
                grid_gap="12px 16px",
                align_items="flex-start",
                width="100%",
            ),
        )
        self.split.add_class("rmx-explorer-split")
        super().__init__(
            [
                self.summary,
                self.picker,
                controls,
                self.null_label,
                self.error_box,
                self.split,
            ]
        )
        self.add_class("rmx-explorer")

    # -- public ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def table(self) -> pd.DataFrame:
        with self._lock:
            frames = list(self._frames)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def sensitivity_summary(self) -> SensitivitySummary:
        """The per-attribute table under the chart (core.summary_table): n, failed rate, CF,
        SF, PFR [interval], null PFR, excess, Holm p, significance, the length-controlled PFR,
        the "too few" / "not measured" marks."""
        return self.chart.summary

    def run(self) -> None:
        """Start explaining the selected attributes in the background."""
        if self.running:
            return
        attrs = self.picker.selected_attributes
        if not self.comparisons:
            self._show_error(NO_COMPARISONS)
            return
        if not attrs:
            self._show_error("Select at least one attribute.")
            return
        self._show_error(None)
        self._cancel.clear()
        with self._lock:
            self._frames, self._null_frames = [], []
        self.run_button.disabled, self.cancel_button.disabled = True, False
        self.status.value = "scoring the original responses…"
        self._thread = threading.Thread(
            target=self._work, args=(attrs,), daemon=True, name="rmx-explorer"
        )
        self._thread.start()

    def cancel(self) -> None:
        """Stop after the batch in flight; what landed stays (it is in the store)."""
        if self.running:
            self._cancel.set()
            self.status.value = "cancelling after the current batch…"

    def show_result(self, result: ExplanationResult) -> None:
        """Display a finished result (e.g. loaded from an earlier run) without rerunning."""
        if self.running:
            raise RuntimeError("a run is in progress; cancel it first")
        self.result = result
        self._originals = result.originals
        with self._lock:  # the run's rows; its kept hand edits are result.edits
            self._frames = [without_hand_edits(result.table)]
            self._null_frames = [] if result.null_table is None else [result.null_table]
        self.comparisons = list(result.comparisons)
        self._redraw()
        self.view.keep_edits_in(result)
        s = result.summary()
        self.status.value = (
            f"loaded: {s['rows']} rewrites — {s['cf']} CF, {s['sf']} SF, {s['failed']} failed"
        )
        self.null_status = (
            _null_done(s)
            if result.null_table is not None
            else ("Null perturber: none in this result.")
        )

    def wait(self, timeout: float | None = None) -> ExplanationResult | None:
        if self._thread is not None:
            self._thread.join(timeout)
        return self.result

    # -- worker ----------------------------------------------------------------------------
    def _work(self, attrs: list) -> None:
        started = time.monotonic()
        last_draw = 0.0
        stats_box: dict[str, RunStats] = {}
        clock = run_progress.RunClock()

        def on_start(originals: pd.DataFrame, stats: RunStats) -> None:
            self._originals = originals
            stats_box["stats"] = stats
            clock.start()

        def on_null_batch(frame: pd.DataFrame) -> None:
            with self._lock:
                self._null_frames.append(frame)
            stats = stats_box["stats"]
            self.null_status = (
                f"Null perturber {stats.null_perturber}: running, "
                f"{stats.null_work_done}/{stats.null_work_items} rewrites"
            )

        def on_batch(frame: pd.DataFrame) -> None:
            nonlocal last_draw
            with self._lock:
                self._frames.append(frame)
            stats = stats_box["stats"]
            clock.update(stats)
            self._show_progress(stats, clock)
            if time.monotonic() - last_draw >= self.redraw_every:
                self._redraw()
                last_draw = time.monotonic()

        try:
            self._set_null_idle()
            self.result = self.runner.explain(
                self.comparisons,
                attrs,
                cancel=self._cancel,
                on_start=on_start,
                on_batch=on_batch,
                on_null_batch=on_null_batch,
            )
            with self._lock:  # the result's null table is the authoritative one
                nt = self.result.null_table
                self._null_frames = [] if nt is None else [nt]
            self._redraw()
            self.view.keep_edits_in(self.result)  # edits from now on join result.table
            s = self.result.summary()
            verb = "cancelled" if self.result.stats.cancelled else "done"
            self.status.value = (
                f"{verb}: {s['rows']} rewrites — {s['cf']} CF, {s['sf']} SF, "
                f"{s['failed']} failed; {s['ties']} ties skipped "
                f"({time.monotonic() - started:.1f}s)"
            )
            self.progress.bar_style = "warning" if self.result.stats.cancelled else "success"
            self._show_null_outcome(self.result)
        except RMXError as e:
            self._show_error(str(e))
        except Exception as e:  # shown in the widget instead of killing it silently
            self.last_traceback = traceback.format_exc()
            self._show_error(f"{type(e).__name__}: {e}")
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    @property
    def slice_filter(self) -> tuple:
        """() every slice, or (slice column, value) the view and the table keep (a bar of the
        chart split by that slice was clicked)."""
        return tuple(self.view.slice_filter)

    def show_every_slice(self) -> None:
        """Undo a slice filter: every slice's rows again, the chart's selection keeping its
        attribute and side (now that attribute's bars in every slice)."""
        self._set_slice(())
        if not self._syncing:
            self._syncing = True
            try:
                self.chart.select(self.chart.selected, self.chart.selected_direction)
            finally:
                self._syncing = False

    def _set_slice(self, value: tuple) -> None:
        """The view's and the table's slice filter, and the line above them that says it."""
        if value != self.view.slice_filter:
            self.view.slice_filter = value
        if value != self.rewrite_table.slice_filter:
            self.rewrite_table.slice_filter = value
        if value:
            field = html.escape(str(value[0]).removeprefix(PREFIX))
            shown = html.escape(slice_label(value[1]))
            self.slice_label.value = (
                f"<span class='rmx-slice-note'>Only the rewrites of {field} = "
                f"<b>{shown}</b> (the chart's bar).</span>"
            )
        else:
            self.slice_label.value = ""
        self.slice_bar.layout.display = None if value else "none"

    def _chart_to_filters(self, change=None) -> None:
        """A clicked bar shows its rewrites: the attribute, and the side its direction rewrote
        (worse: the chosen response, better: the rejected one); no selection clears both. In a
        chart split by a slice, a bar's slice filters the view and the table too (a click that
        chooses no one slice, or none, shows every slice)."""
        attribute = self.chart.selected
        side: SideFilter = "all"
        if attribute:
            side = SIDE_OF_DIRECTION.get(self.chart.selected_direction, "all")
        chosen = self.chart.selected_slice
        self._link(attribute, side, "chart", (self.chart.split_by, *chosen) if chosen else ())

    def _table_to_view(self, change) -> None:
        """A row selected in the rewrite table opens in the ComparisonView (its comparison,
        the page that holds it; filters that would hide it are cleared)."""
        row = change["new"]
        if row < 0 or self.view.show_row(row):
            return
        shown = self.rewrite_table.table  # a hand edit: not a row of the view's table
        if row in shown.index and shown.at[row, "comparison_id"] in self.view.visible_ids:
            self.view.index = self.view.visible_ids.index(shown.at[row, "comparison_id"])

    def _filters_to_chart(self, change) -> None:
        """The view's Attribute and Side filters highlight the bar and filter the table."""
        f = change["new"]
        self._link(f.get("attribute", ""), f.get("side", "all"), "view")

    def _table_filters_to_others(self, change) -> None:
        """The table's Attribute and Side (its filter bar) highlight the bar and filter the
        view."""
        f = change["new"]
        self._link(f["attribute"], f["side"], "table")

    def _link(
        self, attribute: str, side: SideFilter, source: str, slice_filter: tuple | None = None
    ) -> None:
        """Make the chart's bar, the view's filters and the table's filters show (attribute,
        side), leaving ``source`` (which already does) alone. The writes below fire the same
        observers again: ``_syncing`` turns those away, so a change travels once and never
        comes back to where it started (each write is also skipped when it changes nothing).
        The chart has no bar for a side without an attribute: it is cleared then, the view and
        the table keep the side. ``slice_filter`` (the chart's clicked slice, ``()`` none) sets
        the view's and the table's slice filter; ``None`` (a change in the view or the table)
        keeps it, and the chart highlights the bar of that slice."""
        if self._syncing:
            return
        self._syncing = True
        try:
            if slice_filter is not None:
                self._set_slice(slice_filter)
            if source != "chart":
                kept = self.slice_filter
                chosen = kept[1:] if kept and kept[0] == self.chart.split_by else ()
                self.chart.select(attribute, DIRECTION_OF_SIDE.get(side, ""), chosen)
            if source != "view":
                filters = Filters(**{**self.view.filters, "attribute": attribute, "side": side})
                if filters != self.view.filters:
                    self.view.filters = filters
            linked = LinkedFilters(attribute=attribute, side=side)
            if source != "table" and linked != self.rewrite_table.linked_filters:
                self.rewrite_table.linked_filters = linked
        finally:
            self._syncing = False

    def _set_null_idle(self) -> None:
        null = self.runner.null_perturber
        self.null_status = (
            f"Null perturber: skipped ({self._null_skipped})."
            if null is None
            else f"Null perturber {null.identity} (attribute-blind) runs after the perturber."
        )

    def _show_null_outcome(self, result: ExplanationResult) -> None:
        stats = result.stats
        if result.null_table is None:
            self.null_status = f"Null perturber: skipped ({stats.null_skipped or 'not run'})."
        elif stats.null_work_done < stats.null_work_items:
            self.null_status = (
                f"Null perturber {stats.null_perturber}: cancelled after "
                f"{stats.null_work_done}/{stats.null_work_items} rewrites."
            )
        else:
            self.null_status = _null_done(result.summary())

    def _show_progress(self, stats: RunStats, clock: run_progress.RunClock) -> None:
        """Progress and the ETA of the rewrites still to compute (``RunClock``: rows resumed
        from the store do not count as speed); while a resume streams its cached rows the
        status says so."""
        done, total = stats.work_done, max(stats.work_items, 1)
        with self._lock:
            outcomes = pd.concat([f["outcome"] for f in self._frames]).value_counts()
        eta = clock.remaining(total)
        resumed = ""
        if clock.cached:
            resumed = (
                f" · resuming: {clock.cached} cached"
                if clock.streaming_cached
                else f" · {clock.cached} from the store"
            )
        self.progress.max, self.progress.value = total, done
        self.status.value = (
            f"{done}/{total} rewrites{resumed} · CF {outcomes.get('CF', 0)} · "
            f"SF {outcomes.get('SF', 0)} · failed {outcomes.get('failed', 0)}"
            f" · ETA {'not measured yet' if eta is None else _eta(eta)}"
        )

    def _redraw(self) -> None:
        table = self.table
        if table.empty:
            return
        with self._lock:
            null_frames = list(self._null_frames)
        self.chart.update(
            table, null=pd.concat(null_frames, ignore_index=True) if null_frames else None
        )
        self.view.set_data(self.comparisons, table, self._originals)
        self._show_rewrites(table)

    def _show_rewrites(self, table: pd.DataFrame | None = None) -> None:
        """The rewrite table: the run's rows, then the hand edits made in the view (their
        perturber ``manual``; ``result.keep_edits`` keeps them for exports, and the figures
        leave them out)."""
        table = self.table if table is None else table
        edits = self.view.edits
        if len(edits):
            table = pd.concat([table, edits.reset_index(drop=True)], ignore_index=True)
        if len(table):
            self.rewrite_table.set_table(table)

    def _show_error(self, message: str | None) -> None:
        self.error = message
        self.error_box.value = (
            ""
            if not message
            else f'<div class="rmx-error" style="color:#b00020;white-space:'
            f'pre-wrap"><b>Error:</b> {html.escape(message)}</div>'
        )
        if message:
            self.status.value = "stopped with an error"
            self.progress.bar_style = "danger"

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        """The live view plus a static rendering (nbconvert, GitHub): the run's summary and
        status, any error, the sensitivity table and the comparison on screen (static_view)."""
        status = f"<p>{html.escape(self.status.value)}</p>"
        parts = [self.summary.value, status, self.error_box.value]
        parts += [self.chart.static_html(), self.view.static_html()]
        return static_view.with_static(
            super()._repr_mimebundle_(**kwargs),
            static_view.page(parts, "Explorer"),
            f"Explorer: {len(self.comparisons)} comparison(s); {self.status.value}",
        )

    def _summary_html(self) -> str:
        n = len(self.comparisons)
        multi = sum(1 for c in self.comparisons if not isinstance(c.prompt, str))
        rm = html.escape(self.explainer.rm.identity)
        pert = html.escape(self.explainer.perturber.identity)
        # the judge kind decides what a margin is: a reward difference, or logit P(a ≻ b)
        kind = (
            "pairwise judge (margins are logit P(a ≻ b))"
            if isinstance(self.explainer.rm, PairwiseJudge)
            else "RM (margins are reward differences)"
        )
        return (
            f"<div class='rmx-summary'><b>{n}</b> comparisons ({multi} multi-turn) · "
            f"{kind} <code>{rm}</code> · perturber <code>{pert}</code></div>"
        )


def _null_choice(explainer: Explainer, choice: Any) -> tuple[Perturber | None, str | None]:
    """The null perturber an Explorer runs and, when none runs, why."""
    null: Perturber | None
    if isinstance(choice, str):
        if choice not in ("auto", "random"):
            raise ValueError(
                f"null_perturber={choice!r}: use 'auto', 'random', None or a perturber."
            )
        if choice == "auto" and explainer.null_perturber is not None:
            null = explainer.null_perturber
        else:
            null = null_from_spec("random")
    elif choice is None:
        return None, "null_perturber=None"
    else:
        null = resolve_null_perturber(choice)
    return null, null_skip_reason(explainer.perturber, null)


def _null_done(summary: dict) -> str:
    return (
        f"Null perturber {summary['null_perturber']} ran on the same rewrites: "
        f"{summary['null_rows']} rewrites — {summary['null_cf']} CF, {summary['null_sf']} SF, "
        f"{summary['null_failed']} failed."
    )
