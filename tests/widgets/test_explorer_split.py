"""The Explorer's linked views: chart (with the summary) and detail side by side in one grid,
``table_slot`` (holding the rewrite table) under the detail view, and the chart's metric
switch, whose redraw keeps the selection and the two-way link with the filters."""

from __future__ import annotations

import pytest
from traitlets import TraitError
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.chart_metrics import METRICS
from rmx_widgets.widgets import Explorer, RMCompare, SensitivityChart
from rmx_widgets.widgets.sensitivity_chart import CAPTION, caption_text


@pytest.fixture(scope="module")
def result():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS)


def explorer(result) -> Explorer:
    exp = Explorer(rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), COMPS)
    exp.show_result(result)
    return exp


def x_field_and_title(chart: SensitivityChart) -> tuple[str, str]:
    spec = chart.chart.chart.to_dict()
    bars = next(layer for layer in spec["layer"] if layer["name"] == "bars")
    return bars["encoding"]["x"]["field"], bars["encoding"]["x"]["title"]


def test_chart_summary_and_detail_share_one_grid(result):
    exp = explorer(result)
    assert exp.split in exp.children and exp.chart not in exp.children
    chart, detail = exp.split.children
    assert chart is exp.chart and exp.sensitivity_summary in chart.children
    assert detail.children == (exp.slice_bar, exp.view, exp.table_slot)
    assert exp.table_slot.children == (exp.rewrite_table,)  # the table of every rewrite
    assert "rmx-explorer-split" in exp.split._dom_classes
    assert "minmax(min(100%, 34em), 1fr)" in exp.split.layout.grid_template_columns


def test_the_metric_switch_redraws_keeping_selection_and_links(result):
    exp = explorer(result)
    assert exp.metric_picker is exp.chart.metric_picker
    assert [v for _, v in exp.metric_picker.options] == list(METRICS)
    exp.view.filters = {**exp.view.filters, "attribute": "verbosity", "side": "rejected"}
    assert (exp.chart.selected, exp.chart.selected_direction) == ("verbosity", "better")
    exp.metric_picker.value = "failure"
    assert exp.chart.metric == "failure"
    assert x_field_and_title(exp.chart) == ("value", METRICS["failure"].title)
    spec = exp.chart.chart.chart.to_dict()
    assert spec["params"][0]["value"] == [{"attribute": "verbosity", "direction": "better"}]
    assert exp.chart.caption.value.count("Failure rate = failed / attempted rewrites") == 1
    assert "no whiskers" in exp.chart.caption.value
    # the link still runs both ways after the switch
    exp.chart.selected, exp.chart.selected_direction = "manner", "worse"
    assert (exp.view.filters["attribute"], exp.view.filters["side"]) == ("manner", "chosen")
    exp.metric_picker.value = "pfr"
    assert x_field_and_title(exp.chart) == ("value", "preference flip rate")
    assert "Whiskers: the 95% interval" in exp.chart.caption.value


def test_caption_and_unknown_metric(result):
    assert caption_text("pfr", 12) == CAPTION.format(n=12, min_n=10, level="95%")
    assert "Whiskers: 95% interval (bootstrap, Newcombe floor)." in caption_text("excess", 3)
    chart = SensitivityChart()
    with pytest.raises(TraitError, match="choose one of"):
        chart.metric = "accuracy"
    assert chart.metric == "pfr"
    compare = RMCompare(result, result)  # two RMs: pooled PFRs only, no switch shown
    assert compare.chart.metric_picker.layout.display == "none"
