"""Explorer: the composed app — pick attributes, run, watch charts fill in, read examples.

The run happens on a worker thread so the notebook stays usable; each batch that lands is
already in the store, then updates the progress bar, the chart and the ComparisonView (redraws
are throttled so a fast perturber does not flood the browser). Cancel stops after the current
batch and keeps everything that landed. Errors are shown inside the widget with their message.
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

from rmx_widgets.core.data import Comparison, load_comparisons
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.explain import Explainer, ExplanationResult, RunStats
from rmx_widgets.widgets.attribute_picker import AttributePicker
from rmx_widgets.widgets.comparison_view import ComparisonView
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary


def _eta(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Explorer(w.VBox):
    """``Explorer(explainer, comparisons)``; ``run()`` / ``cancel()`` / ``wait()`` from code too."""

    def __init__(
        self,
        explainer: Explainer,
        comparisons: Any,
        *,
        attributes: Sequence | None = None,
        redraw_every: float = 0.3,
        page_size: int = 10,
    ) -> None:
        self.explainer = explainer
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
        self._originals: pd.DataFrame | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

        self.summary = w.HTML(self._summary_html())
        self.picker = AttributePicker(
            attributes if attributes is not None else explainer.attributes
        )
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.cancel_button = w.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = w.IntProgress(
            min=0, max=1, value=0, description="", layout=w.Layout(width="320px")
        )
        self.status = w.Label("Pick attributes and press Run.")
        self.error_box = w.HTML()
        self.chart = SensitivityChart()
        self.view = ComparisonView(comparisons=self.comparisons, page_size=page_size)
        self.chart.observe(lambda ch: self.view.show_attribute(ch["new"] or None), "selected")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button.on_click(lambda _: self.cancel())
        controls = w.HBox([self.run_button, self.cancel_button, self.progress, self.status])
        super().__init__(
            [self.summary, self.picker, controls, self.error_box, self.chart, self.view]
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
        """The per-attribute table under the chart: n, failed rate, PFR [interval], null PFR,
        excess, Holm p, significance, the "too few" / "not measured" marks."""
        return self.chart.summary

    def run(self) -> None:
        """Start explaining the selected attributes in the background."""
        if self.running:
            return
        attrs = self.picker.selected_attributes
        if not attrs:
            self._show_error("Select at least one attribute.")
            return
        self._show_error(None)
        self._cancel.clear()
        with self._lock:
            self._frames = []
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
        with self._lock:
            self._frames = [result.table]
        self.comparisons = list(result.comparisons)
        self._redraw()
        s = result.summary()
        self.status.value = (
            f"loaded: {s['rows']} rewrites — {s['cf']} CF, {s['sf']} SF, {s['failed']} failed"
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

        def on_start(originals: pd.DataFrame, stats: RunStats) -> None:
            self._originals = originals
            stats_box["stats"] = stats

        def on_batch(frame: pd.DataFrame) -> None:
            nonlocal last_draw
            with self._lock:
                self._frames.append(frame)
            stats = stats_box["stats"]
            self._show_progress(stats, time.monotonic() - started)
            if time.monotonic() - last_draw >= self.redraw_every:
                self._redraw()
                last_draw = time.monotonic()

        try:
            self.result = self.explainer.explain(
                self.comparisons, attrs, cancel=self._cancel, on_start=on_start, on_batch=on_batch
            )
            self._redraw()
            s = self.result.summary()
            verb = "cancelled" if self.result.stats.cancelled else "done"
            self.status.value = (
                f"{verb}: {s['rows']} rewrites — {s['cf']} CF, {s['sf']} SF, "
                f"{s['failed']} failed; {s['ties']} ties skipped "
                f"({time.monotonic() - started:.1f}s)"
            )
            self.progress.bar_style = "warning" if self.result.stats.cancelled else "success"
        except RMXError as e:
            self._show_error(str(e))
        except Exception as e:  # shown in the widget instead of killing it silently
            self.last_traceback = traceback.format_exc()
            self._show_error(f"{type(e).__name__}: {e}")
        finally:
            self.run_button.disabled, self.cancel_button.disabled = False, True

    def _show_progress(self, stats: RunStats, elapsed: float) -> None:
        done, total = stats.work_done, max(stats.work_items, 1)
        with self._lock:
            outcomes = pd.concat([f["outcome"] for f in self._frames]).value_counts()
        eta = elapsed / done * (total - done) if done else 0.0
        self.progress.max, self.progress.value = total, done
        self.status.value = (
            f"{done}/{total} rewrites · CF {outcomes.get('CF', 0)} · "
            f"SF {outcomes.get('SF', 0)} · failed {outcomes.get('failed', 0)}"
            f" · ETA {_eta(eta)}"
        )

    def _redraw(self) -> None:
        table = self.table
        if table.empty:
            return
        self.chart.update(table)
        self.view.set_data(self.comparisons, table, self._originals)

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

    def _summary_html(self) -> str:
        n = len(self.comparisons)
        multi = sum(1 for c in self.comparisons if not isinstance(c.prompt, str))
        rm = html.escape(self.explainer.rm.identity)
        pert = html.escape(self.explainer.perturber.identity)
        return (
            f"<div class='rmx-summary'><b>{n}</b> comparisons ({multi} multi-turn) · "
            f"RM <code>{rm}</code> · perturber <code>{pert}</code></div>"
        )
