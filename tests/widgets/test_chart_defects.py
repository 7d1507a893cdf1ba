"""Issue 14's chart and filter defects, as widget state (no browser): the chart's selection is
an (attribute, direction) bar that survives redraws and is linked both ways to the examples'
Attribute and Side filters; a filter that matches nothing keeps a way back; the empty states
say what happened; bad arguments are one-line RMXErrors."""

from __future__ import annotations

import threading

import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.errors import AttributeSpecError, RMXError
from rmx_widgets.widgets import ComparisonView, Explorer, RMCompare, SensitivityChart
from rmx_widgets.widgets.explorer import NO_COMPARISONS, NO_RUN_TEXT

NO_FILTER = {"attribute": "", "side": "all", "outcome": "all"}


ECHO = {"attribute": {"value": {}, "store": []}}
"""What the browser reports once after drawing a chart with nothing selected (JupyterChart
sends every new view's initial selection; the chart drops it only when a click came since)."""


def _click(*bars: tuple[str, str]) -> dict:
    """What the browser syncs when bars are clicked: Vega-Lite's point-selection signal."""
    points = [{"attribute": a, "direction": d} for a, d in bars]
    store = [{"unit": "hit", "fields": [], "values": [a, d]} for a, d in bars]
    return {"attribute": {"value": {"vlPoint": {"or": points}} if bars else None, "store": store}}


def _explainer():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False)


@pytest.fixture
def result():
    return _explainer().explain(COMPS)


@pytest.fixture
def explorer(result):
    exp = Explorer(_explainer(), COMPS, redraw_every=0.0)
    exp.show_result(result)
    exp.chart.chart._vl_selections = ECHO  # the browser drew the chart: its first report
    return exp


def _initial_selection(chart: SensitivityChart) -> list[dict]:
    """The selection the chart's spec starts with (what the browser draws selected)."""
    params = [p for p in chart.chart.spec["params"] if "select" in p]
    return params[0].get("value", [])


def test_clicking_a_better_bar_sets_side_rejected_and_a_worse_bar_side_chosen(explorer):
    explorer.chart.chart._vl_selections = _click(("manner", "better"))
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("manner", "better")
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert {r["side"] for r in explorer.view.rows} == {"rejected"}
    assert {r["direction"] for r in explorer.view.rows} == {"better"}
    explorer.chart.chart._vl_selections = _click(("verbosity", "worse"))
    assert explorer.view.filters == {**NO_FILTER, "attribute": "verbosity", "side": "chosen"}
    explorer.chart.chart._vl_selections = _click()  # a click on empty space clears both
    assert explorer.view.filters == NO_FILTER


def test_a_redraw_keeps_the_selection_the_examples_are_filtered_by(explorer, result):
    explorer.chart.chart._vl_selections = _click(("manner", "better"))
    explorer._redraw()  # what a landed batch does mid-run
    assert _initial_selection(explorer.chart) == [{"attribute": "manner", "direction": "better"}]
    assert explorer.chart.selected == "manner" and explorer.view.filters["side"] == "rejected"
    # the new chart reports its (initial) selection back: nothing changes
    explorer.chart.chart._vl_selections = _click(("manner", "better"))
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}


def test_a_click_made_while_a_redraw_is_in_flight_is_not_undone_by_it(explorer):
    """Mid-run, a batch's redraw is built before the browser's click reaches the kernel; the
    new view then reports the selection it was built with (none). That report is dropped and
    the chart redrawn with the click's bar, rather than clearing the filters the click set."""
    explorer._redraw()  # a batch landed: this chart is built with nothing selected
    explorer.chart.chart._vl_selections = _click(("manner", "better"))  # the old view's click
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert _initial_selection(explorer.chart) == []  # the chart in flight has no selection
    explorer.chart.chart._vl_selections = ECHO  # ... and now reports it
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("manner", "better")
    assert _initial_selection(explorer.chart) == [{"attribute": "manner", "direction": "better"}]
    # that redraw's own report matches: nothing changes, and a later clear is a clear
    explorer.chart.chart._vl_selections = _click(("manner", "better"))
    explorer.chart.chart._vl_selections = _click()
    assert explorer.view.filters == NO_FILTER


def _from_view(report: dict, view: int, *, initial: bool = False) -> dict:
    """``report`` as the chart's patched bundle sends it: tagged with the draw it came from
    (the spec's usermeta), and as that view's first report or a click."""
    tag = {"rmxView": view, **({"rmxInitial": True} if initial else {})}
    return {name: {**entry, **tag} for name, entry in report.items()}


def _view(chart: SensitivityChart) -> int:
    """The number the newest draw carries in its spec."""
    return chart.chart.spec["usermeta"]["rmxView"]


def test_each_draw_is_numbered_in_its_spec(explorer):
    first = _view(explorer.chart)
    explorer._redraw()
    assert _view(explorer.chart) == first + 1
    explorer.chart.select("manner", "worse")
    assert _view(explorer.chart) == first + 2


def test_a_views_first_report_is_never_a_click(explorer):
    """The stale-report race the untagged echo could not tell apart: a click is drawn into
    view 2; view 1 (built with nothing selected) finishes drawing late and reports its start,
    which matches no pending echo. Tagged as a first report it changes nothing."""
    explorer._redraw()
    stale = _view(explorer.chart)
    explorer.chart.chart._vl_selections = _from_view(_click(("manner", "better")), stale)
    explorer._redraw()  # the next batch: drawn with the click's bar
    assert _initial_selection(explorer.chart) == [{"attribute": "manner", "direction": "better"}]
    explorer.chart.chart._vl_selections = _from_view(ECHO, stale, initial=True)
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("manner", "better")
    # a first report that *differs* from what the kernel holds is not a click either
    explorer.chart.chart._vl_selections = _from_view(
        _click(("verbosity", "worse")), _view(explorer.chart), initial=True
    )
    assert explorer.chart.selected == "manner"


def test_a_click_on_a_replaced_view_is_redrawn_onto_the_newest(explorer):
    explorer._redraw()
    old = _view(explorer.chart)
    explorer._redraw()  # a newer draw (nothing selected) is on its way to the browser
    newest = _view(explorer.chart)
    explorer.chart.chart._vl_selections = _from_view(_click(("clarity", "worse")), old)
    assert explorer.view.filters == {**NO_FILTER, "attribute": "clarity", "side": "chosen"}
    assert _view(explorer.chart) == newest + 1  # redrawn: the newest view lacked the click
    assert _initial_selection(explorer.chart) == [{"attribute": "clarity", "direction": "worse"}]
    # a click on the newest view shows itself there: no redraw
    explorer.chart.chart._vl_selections = _from_view(_click(("manner", "better")), newest + 1)
    assert _view(explorer.chart) == newest + 1 and explorer.view.filters["side"] == "rejected"
    # a click on an old view that the newest already shows: no redraw either
    explorer.chart.select("verbosity", "worse")
    shown = _view(explorer.chart)
    explorer.chart.chart._vl_selections = _from_view(_click(("verbosity", "worse")), old)
    assert _view(explorer.chart) == shown and explorer.chart.selected == "verbosity"
    # a clear on a replaced view clears, and is redrawn
    explorer.chart.chart._vl_selections = _from_view(_click(), old)
    assert explorer.view.filters == NO_FILTER and _initial_selection(explorer.chart) == []
    assert _view(explorer.chart) == shown + 1


def test_a_click_reported_while_the_worker_assigns_a_redraw_is_kept(explorer):
    """The race of the CI failure: mid-run the worker thread redraws (assigning the new spec,
    during which JupyterChart resets its selections and the chart ignores that reset) while
    the browser's click arrives on another thread. The click waits for the redraw instead of
    reading its "resetting" flag and being dropped as part of the reset."""
    inside, proceed = threading.Event(), threading.Event()
    worker: list[threading.Thread] = []

    def hold_the_worker_mid_assignment(change: dict) -> None:
        if worker and threading.current_thread() is worker[0]:
            inside.set()
            assert proceed.wait(10)

    explorer.chart.chart.observe(hold_the_worker_mid_assignment, "spec")
    explorer._redraw()
    clicked_on = _view(explorer.chart)
    worker.append(threading.Thread(target=explorer._redraw))  # a batch landed
    worker[0].start()
    assert inside.wait(10)  # the worker is inside the assignment (the reset flag is up)
    click = threading.Thread(  # the comm delivers the click meanwhile
        target=lambda: setattr(
            explorer.chart.chart,
            "_vl_selections",
            _from_view(_click(("manner", "better")), clicked_on),
        )
    )
    click.start()
    click.join(0.3)
    assert click.is_alive()  # it waits for the redraw rather than racing it
    proceed.set()
    worker[0].join(10)
    click.join(10)
    assert not worker[0].is_alive() and not click.is_alive()
    assert explorer.view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("manner", "better")
    # the click came from a view the worker's redraw replaced: it is drawn onto the newest
    assert _initial_selection(explorer.chart) == [{"attribute": "manner", "direction": "better"}]


def test_setting_the_filters_highlights_the_bar(explorer):
    explorer.view.filters = {"attribute": "clarity", "side": "chosen", "outcome": "SF"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("clarity", "worse")
    assert _initial_selection(explorer.chart) == [{"attribute": "clarity", "direction": "worse"}]
    assert explorer.view.filters["outcome"] == "SF"  # the chart leaves the other filter alone
    explorer.view.filters = {"attribute": "clarity", "side": "all", "outcome": "SF"}
    assert _initial_selection(explorer.chart) == [
        {"attribute": "clarity", "direction": "worse"},
        {"attribute": "clarity", "direction": "better"},
    ]
    # both bars reported back by the browser read as "no side": the Side filter stays "all"
    explorer.chart.chart._vl_selections = _click(("clarity", "worse"), ("clarity", "better"))
    assert explorer.chart.selected_direction == ""
    assert explorer.view.filters == {"attribute": "clarity", "side": "all", "outcome": "SF"}
    # a Side filter without an attribute highlights nothing and is not undone by the chart
    explorer.view.filters = {"attribute": "", "side": "rejected", "outcome": "all"}
    assert explorer.chart.selected == "" and _initial_selection(explorer.chart) == []
    assert explorer.view.filters["side"] == "rejected"


def test_a_filter_that_matches_nothing_keeps_a_way_back(explorer):
    # assertiveness rewrites all fail: none is a CF
    explorer.view.filters = {"attribute": "assertiveness", "side": "all", "outcome": "CF"}
    assert explorer.view.comparison is None and explorer.view.rows == []
    assert explorer.view.empty == ComparisonView.NO_MATCH_TEXT
    assert "Clear filters" in explorer.view.empty
    explorer.view.clear_filters()
    assert explorer.view.filters == NO_FILTER and explorer.view.comparison["total"] == 12
    assert explorer.chart.selected == ""  # and the chart follows


def test_before_a_run_the_examples_say_no_run_yet_not_no_match():
    exp = Explorer(_explainer(), COMPS)
    assert exp.view.empty == NO_RUN_TEXT and exp.view.rows == []
    assert "press Run" in NO_RUN_TEXT
    # a ComparisonView on its own says the same thing without naming a Run button
    assert ComparisonView(comparisons=[]).empty == ComparisonView.no_run_text


def test_zero_comparisons_do_not_run_silently():
    exp = Explorer(_explainer(), [])
    assert exp.status.value == "0 comparisons given: nothing to run."
    exp.run()
    assert not exp.running and exp.error == NO_COMPARISONS
    assert "0 comparisons" in exp.error_box.value


def test_empty_attributes_and_k_0_are_one_line_rmx_errors(result):
    with pytest.raises(AttributeSpecError, match=r"attributes=\[\].*leave attributes out"):
        Explorer(_explainer(), COMPS, attributes=[])
    with pytest.raises(RMXError, match="k must be a positive integer") as info:
        RMCompare(result, result, k=0)
    assert "\n" not in str(info.value)


def test_the_caption_says_what_the_ticks_whiskers_and_marks_are(result):
    chart = SensitivityChart(result.table)
    text = chart.caption.value
    for part in ("Whiskers: the 95% interval", "black tick: the pooled PFR", "grey tick: the null"):
        assert part in text
    assert "n &lt; 10" in text and "not measured" in text and "better bars" in text
