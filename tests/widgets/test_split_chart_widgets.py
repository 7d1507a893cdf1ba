"""The Explorer's chart follows "Split by" (widget state, no browser): split by a slice, its bars
are per slice (the same split table as the summary under it), a click on one sets the
Attribute and Side filters *and* keeps only that slice's rows in the ComparisonView and the
RewriteTable (with a line saying so and "Show every slice"), and the two-way links keep
working. Real components: tests/data/comparisons_with_domain.jsonl, the rule perturber and
the transparent RM; every count is made from the table by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from domain_data import ATTRS
from traitlets import TraitError

from rmx_widgets.core.charts import SLICE_FIELD
from rmx_widgets.widgets import ComparisonView, Explorer, RewriteTable

SLICES = ["chat", "code", "math", None]  # sorted, the comparison without a domain last


def _click(*bars: tuple[str, str, int]) -> dict:
    """What the browser syncs when bars of a split chart are clicked (Vega-Lite's point
    selection over attribute, direction and the slice's number)."""
    points = [{"attribute": a, "direction": d, SLICE_FIELD: i} for a, d, i in bars]
    store = [{"unit": "bars", "fields": [], "values": [a, d, i]} for a, d, i in bars]
    return {"attribute": {"value": {"vlPoint": {"or": points}} if bars else None, "store": store}}


@pytest.fixture
def explorer(explainer, comps, result) -> Explorer:
    exp = Explorer(explainer, comps, null_perturber=None)
    exp.show_result(result)
    exp.split_picker.value = "domain"
    return exp


def _spec(exp: Explorer) -> dict:
    return exp.chart.chart.spec


def _selection(exp: Explorer) -> list[dict]:
    params = [p for p in _spec(exp)["params"] if "select" in p]
    return params[0].get("value", [])


def _in_slice(t: pd.DataFrame, value) -> pd.Series:
    return t["slice.domain"].isna() if value is None else t["slice.domain"] == value


def test_the_chart_splits_like_the_summary(explorer, result):
    chart = explorer.chart
    assert chart.split_by == "slice.domain"
    spec = _spec(explorer)
    (param,) = [p for p in spec["params"] if "select" in p]
    assert param["select"]["fields"] == ["attribute", "direction", SLICE_FIELD]
    counts = next(layer for layer in spec["layer"] if layer["name"] == "counts")
    rows = spec["datasets"][counts["data"]["name"]]
    t = result.table
    for r in rows:  # each bar's n and failed count, counted from the table by hand
        value = SLICES[r[SLICE_FIELD]]
        mine = t[_in_slice(t, value) & (t["attribute"] == r["attribute"])]
        mine = mine[mine["direction"] == r["direction"]]
        failed = int((mine["outcome"] == "failed").sum())
        n = len(mine) - failed
        label = "(missing)" if value is None else value
        head = f"n={n}" if n else "not measured"
        assert r["n"] == n and r["count_text"] == f"{label}: {head} · {failed} failed", r
    assert len(rows) == len(ATTRS) * len(SLICES) * 2
    # the same split as the summary under it: one summary row per slice and attribute
    assert len(explorer.sensitivity_summary.rows) == len(ATTRS) * len(SLICES)
    explorer.split_picker.value = ""  # no split: the plain chart again
    assert chart.split_by == ""
    (param,) = [p for p in _spec(explorer)["params"] if "select" in p]
    assert param["select"]["fields"] == ["attribute", "direction"]


def test_a_click_sets_attribute_side_and_the_slice_everywhere(explorer, result):
    t = result.table
    math = SLICES.index("math")
    explorer.chart.chart._vl_selections = _click(("verbosity", "better", math))
    chart = explorer.chart
    assert (chart.selected, chart.selected_direction) == ("verbosity", "better")
    assert chart.selected_slice == ("math",)
    view, table = explorer.view, explorer.rewrite_table
    assert (view.filters["attribute"], view.filters["side"]) == ("verbosity", "rejected")
    assert table.linked_filters == {"attribute": "verbosity", "side": "rejected"}
    assert view.slice_filter == table.slice_filter == ("slice.domain", "math")
    assert explorer.slice_filter == ("slice.domain", "math")
    # the view shows the math comparisons only, the table holds the math rows only
    math_ids = list(dict.fromkeys(t.loc[_in_slice(t, "math"), "comparison_id"]))
    assert view.visible_ids == math_ids and len(math_ids) == 4
    assert view.comparison is not None and view.comparison["id"] in math_ids
    assert table.n_rows == int(_in_slice(t, "math").sum()) == 24
    assert set(table.filtered()["comparison_id"]) == set(math_ids)
    assert set(table.filtered()["attribute"]) == {"verbosity"}
    assert set(table.filtered()["side"]) == {"rejected"}
    # the line above the view says so, escaped, with the way back
    assert explorer.slice_bar.layout.display is None
    assert "domain = <b>math</b>" in explorer.slice_label.value
    # the chart is redrawn with that one bar selected
    assert _selection(explorer) == []  # a click needs no redraw: the browser drew it


def test_the_links_keep_the_slice_and_show_every_slice_undoes_it(explorer, result):
    code = SLICES.index("code")
    explorer.chart.chart._vl_selections = _click(("manner", "worse", code))
    assert explorer.slice_filter == ("slice.domain", "code")
    # the table's filter bar picks another attribute: the chart highlights that attribute's
    # bar of the same slice, the view follows, the slice stays
    explorer.rewrite_table.linked_filters = {"attribute": "verbosity", "side": "chosen"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("verbosity", "worse")
    assert explorer.chart.selected_slice == ("code",)
    assert _selection(explorer) == [
        {"attribute": "verbosity", "direction": "worse", SLICE_FIELD: code}
    ]
    assert explorer.view.filters["attribute"] == "verbosity"
    assert explorer.view.slice_filter == ("slice.domain", "code")
    # the view's filters: likewise
    explorer.view.filters = {**explorer.view.filters, "attribute": "manner", "side": "all"}
    assert explorer.chart.selected_slice == ("code",)
    assert _selection(explorer) == [
        {"attribute": "manner", "direction": d, SLICE_FIELD: code} for d in ("worse", "better")
    ]
    assert explorer.rewrite_table.linked_filters == {"attribute": "manner", "side": "all"}
    explorer.show_every_slice()
    assert explorer.view.slice_filter == explorer.rewrite_table.slice_filter == ()
    assert explorer.slice_bar.layout.display == "none"
    assert explorer.chart.selected_slice == ()
    assert explorer.chart.selected == "manner"  # the attribute stays, in every slice
    assert {v[SLICE_FIELD] for v in _selection(explorer)} == {0, 1, 2, 3}
    assert explorer.rewrite_table.n_rows == len(result.table)


def test_the_missing_slice_an_empty_click_and_a_new_split(explorer, result):
    t = result.table
    missing = SLICES.index(None)
    explorer.chart.chart._vl_selections = _click(("verbosity", "worse", missing))
    assert explorer.chart.selected_slice == (None,)
    assert explorer.view.slice_filter == ("slice.domain", None)
    assert explorer.rewrite_table.n_rows == int(t["slice.domain"].isna().sum()) == 6
    assert "domain = <b>(missing)</b>" in explorer.slice_label.value
    # one attribute's bars in two slices: no one slice, every slice's rows
    explorer.chart.chart._vl_selections = _click(
        ("verbosity", "worse", 0), ("verbosity", "worse", 2)
    )
    assert explorer.chart.selected_slice == () and explorer.view.slice_filter == ()
    assert explorer.view.filters["attribute"] == "verbosity"
    explorer.chart.chart._vl_selections = _click(("manner", "better", 2))
    assert explorer.slice_filter == ("slice.domain", "math")
    explorer.split_picker.value = "source"  # another split: the slice no longer applies
    assert explorer.chart.split_by == "slice.source"
    assert explorer.slice_filter == () and explorer.chart.selected_slice == ()
    assert explorer.chart.selected == "manner"
    explorer.chart.chart._vl_selections = _click(("manner", "better", 0))
    assert explorer.slice_filter == ("slice.source", "forum")
    explorer.chart.chart._vl_selections = _click()  # empty space: every row again
    assert explorer.slice_filter == () and explorer.view.filters["attribute"] == ""


def test_a_redraw_keeps_the_slice_and_bad_slice_filters_are_refused(explorer, result):
    math = SLICES.index("math")
    explorer.chart.chart._vl_selections = _click(("verbosity", "better", math))
    explorer.chart.update(result.table)  # a batch landed: the chart is rebuilt
    assert explorer.chart.selected_slice == ("math",)
    assert _selection(explorer) == [
        {"attribute": "verbosity", "direction": "better", SLICE_FIELD: math}
    ]
    for widget in (ComparisonView(), RewriteTable()):
        for bad in (("domain", "math"), ("slice.domain",), ("slice.domain", 3)):
            with pytest.raises(TraitError, match="slice_filter is"):
                widget.slice_filter = bad
