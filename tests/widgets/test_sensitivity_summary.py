"""The per-attribute table under the sensitivity chart (SensitivitySummary): the cells core
.readability makes, in the Explorer, with and without the null-run columns."""

from __future__ import annotations

import pytest
from sens_frames import sens_frame
from summary_cells import HEADERS, NULL_CELLS, POOLED_CELLS
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.widgets import Explorer, RMCompare, SensitivityChart
from rmx_widgets.widgets.sensitivity_summary import WAITING, SensitivitySummary


@pytest.fixture(scope="module")
def result():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)


def test_rows_are_the_faces_cells_with_a_null_run():
    """The same literals as js/test/fixtures.ts's SS_STATE (what the browser test renders)."""
    summary = SensitivitySummary()
    assert (summary.rows, summary.empty) == ([], WAITING)
    summary.show(sens_frame("columns"))
    assert summary.headers == HEADERS
    # the hand-computed cells of tests/helpers/summary_cells.py (tone, length, HOSTILE)
    assert summary.rows == [
        {"attribute": attribute, "reading": reading, "cells": cells, "split_value": None}
        for attribute, (reading, cells) in POOLED_CELLS.items()
    ]
    assert "α = 0.05" in summary.legend and "fewer than 10" in summary.legend
    assert "CF + SF = n" in summary.legend and "under 10%" in summary.legend


@pytest.mark.parametrize("null", ["na", "absent"])
def test_rows_without_a_null_run_say_so(null):
    summary = SensitivitySummary()
    summary.show(sens_frame(null))
    assert [r["cells"][NULL_CELLS] for r in summary.rows] == [["no null run"] * 4] * 3
    summary.show(None)
    assert summary.rows == []


def test_the_explorer_shows_the_summary_of_its_result(result):
    explorer = Explorer(rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), COMPS)
    assert explorer.sensitivity_summary.rows == []  # before any run: the waiting line
    explorer.show_result(result)
    rows = {r["attribute"]: r for r in explorer.sensitivity_summary.rows}
    assert set(rows) == set(ATTRS)
    # assertiveness leaves every response unchanged: all 24 rewrites failed, nothing measured
    assert rows["assertiveness"]["reading"] == "not measured"
    assert rows["assertiveness"]["cells"][:5] == ["0", "24/24 (1.00)", "0", "0", "not measured"]
    # 12 comparisons x 2 directions = 24 successful verbosity rewrites, every one a flip
    assert rows["verbosity"]["reading"] == "ok"
    assert rows["verbosity"]["cells"][:4] == ["24", "0/24 (0.00)", "24", "0"]  # 0 failed, 24 CF
    assert rows["verbosity"]["cells"][4].startswith("1.00 [")
    assert rows["verbosity"]["cells"][5] == "no null run"  # the engine ran no null here
    assert explorer.sensitivity_summary in explorer.chart.children


def test_a_comparison_chart_hides_the_summary(result):
    chart = SensitivityChart(result.table)
    assert chart.summary.rows and chart.summary.layout.display is None
    compare = RMCompare(result, result)
    assert compare.chart.summary.rows == [] and compare.chart.summary.layout.display == "none"


def test_the_explorer_tests_its_run_against_the_null_that_ran():
    """The null perturber's rows reach the chart and summary: every null cell read "no null
    run" although the status line said the null had run."""
    explainer = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False)
    explorer = Explorer(explainer, COMPS, null_perturber="random")
    explorer.run()
    result = explorer.wait(120)
    assert result is not None and result.null_table is not None and len(result.null_table)
    null = result.null_table
    # by hand: the null PFR is the null rewrites' flips over its successful rewrites
    ok = null[(null["attribute"] == "verbosity") & (null["outcome"] != "failed")]
    expected = f"{(ok['outcome'] == 'CF').sum() / len(ok):.2f}"
    rows = {r["attribute"]: r for r in explorer.sensitivity_summary.rows}
    assert rows["verbosity"]["cells"][5].startswith(expected), rows["verbosity"]["cells"]
    assert rows["verbosity"]["cells"][5] != "no null run"
    shown = Explorer(explainer, COMPS, null_perturber="random")
    shown.show_result(result)  # a loaded result is tested against its null table too
    again = {r["attribute"]: r for r in shown.sensitivity_summary.rows}
    assert again["verbosity"]["cells"][5] == rows["verbosity"]["cells"][5]
