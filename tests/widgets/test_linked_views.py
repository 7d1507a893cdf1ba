"""Issue 14's linked views as widget state (no browser): the Explorer's chart, ComparisonView
and RewriteTable share one (attribute, side) choice, every link two-way: a clicked bar filters
the view and the table, the table's Attribute and Side (``linked_filters``) highlight the bar
and filter the view, the view's filters highlight the bar and filter the table; each change
travels once (no echo back, one redraw), and "worse" is the chosen side, "better" the rejected.

A real run: the transparent RM and the rule perturber on eight sample comparisons.
"""

from __future__ import annotations

import pandas as pd
import pytest
from traitlets import TraitError

import rmx_widgets as rmx
from rmx_widgets.widgets import Explorer, RewriteTable

ATTRS = ["verbosity", "manner", "engagement", "avoid-to-answer"]
NO_LINK = {"attribute": "", "side": "all"}
NO_TABLE_FILTERS = {"attribute": "", "side": "all", "outcome": "all", "validity": "all"}


def _explainer() -> rmx.Explainer:
    return rmx.Explainer(
        rmx.TransparentRewardModel(), rmx.RulePerturber(), attributes=ATTRS, progress=False
    )


COMPS = rmx.sample_comparisons()[:8]


@pytest.fixture(scope="module")
def result():
    return _explainer().explain(COMPS)


@pytest.fixture
def explorer(result) -> Explorer:
    exp = Explorer(_explainer(), COMPS, null_perturber=None, redraw_every=0.0)
    exp.show_result(result)
    exp.chart.chart._vl_selections = ECHO  # the browser drew the chart: its first report
    return exp


ECHO = {"attribute": {"value": {}, "store": []}}
"""What the browser reports once after drawing a chart with nothing selected (JupyterChart
sends every new view's initial selection)."""


def _click(*bars: tuple[str, str]) -> dict:
    """What the browser syncs when bars are clicked: Vega-Lite's point-selection signal."""
    points = [{"attribute": a, "direction": d} for a, d in bars]
    store = [{"unit": "hit", "fields": [], "values": [a, d]} for a, d in bars]
    return {"attribute": {"value": {"vlPoint": {"or": points}} if bars else None, "store": store}}


def _from_browser(table: RewriteTable, attribute: str, side: str) -> None:
    """What the comm does when the filter bar writes ``linked_filters``."""
    table.set_state({"linked_filters": {"attribute": attribute, "side": side}})


def _highlighted(exp: Explorer) -> list[dict]:
    """The bars the chart's spec starts selected (what the browser draws highlighted)."""
    params = [p for p in exp.chart.chart.spec["params"] if "select" in p]
    return params[0].get("value", [])


def _ask_page(table: RewriteTable, **filters) -> dict:
    """The page the browser's filter bar asks for next (it sends what its controls show)."""
    msg = {"type": "page", "request_id": 1, "page": 1, "page_size": 500, "sort": [], "search": ""}
    msg["filters"] = {**NO_TABLE_FILTERS, "ranges": [], **filters}
    return dict(table.answer(msg))


class Changes:
    """How many times each linked trait changed during one action (the chart's two,
    ``selected`` and ``selected_direction``, each count), and how many times the chart was
    redrawn."""

    def __init__(self, exp: Explorer) -> None:
        self.counts = {"chart": 0, "view": 0, "table": 0, "redraw": 0}
        exp.chart.observe(lambda _: self._bump("chart"), ["selected", "selected_direction"])
        exp.view.observe(lambda _: self._bump("view"), "filters")
        exp.rewrite_table.observe(lambda _: self._bump("table"), "linked_filters")
        exp.chart.chart.observe(lambda _: self._bump("redraw"), "spec")

    def _bump(self, key: str) -> None:
        self.counts[key] += 1

    def reset(self) -> None:
        self.counts = dict.fromkeys(self.counts, 0)


def test_a_clicked_bar_filters_the_view_and_the_table(explorer, result):
    table, t = explorer.rewrite_table, result.table
    changes = Changes(explorer)
    explorer.chart.chart._vl_selections = _click(("manner", "worse"))
    assert table.linked_filters == {"attribute": "manner", "side": "chosen"}  # worse: chosen
    assert explorer.view.filters == {"attribute": "manner", "side": "chosen", "outcome": "all"}
    keep = t[(t["attribute"] == "manner") & (t["side"] == "chosen")]
    assert 0 < len(keep) < len(t)
    assert table.filtered().index.equals(keep.index)  # Export and filtered() follow at once
    assert _ask_page(table, **table.linked_filters)["total"] == len(keep)
    assert changes.counts == {"chart": 2, "view": 1, "table": 1, "redraw": 0}

    changes.reset()
    explorer.chart.chart._vl_selections = _click(("engagement", "better"))
    assert table.linked_filters == {"attribute": "engagement", "side": "rejected"}
    assert {r["side"] for r in explorer.view.rows} == {"rejected"}
    assert changes.counts["table"] == 1 and changes.counts["view"] == 1
    # both bars of one attribute (a legend click): every side
    explorer.chart.chart._vl_selections = _click(("manner", "worse"), ("manner", "better"))
    assert table.linked_filters == {"attribute": "manner", "side": "all"}
    explorer.chart.chart._vl_selections = _click()  # empty space: every row again
    assert table.linked_filters == NO_LINK
    assert len(table.filtered()) == len(t)


def test_the_tables_attribute_and_side_highlight_the_bar_and_filter_the_view(explorer, result):
    table, view = explorer.rewrite_table, explorer.view
    view.filters = {**view.filters, "outcome": "SF"}  # the view's own filter, kept throughout
    changes = Changes(explorer)
    _from_browser(table, "verbosity", "rejected")
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("verbosity", "better")
    assert _highlighted(explorer) == [{"attribute": "verbosity", "direction": "better"}]
    assert view.filters == {"attribute": "verbosity", "side": "rejected", "outcome": "SF"}
    assert {(r["attribute"], r["side"], r["outcome"]) for r in view.rows} == {
        ("verbosity", "rejected", "SF")
    }
    # one change each and one redraw; the table's own value is not written back to it
    assert changes.counts == {"chart": 2, "view": 1, "table": 1, "redraw": 1}

    changes.reset()
    _from_browser(table, "verbosity", "all")  # both bars of the attribute
    assert _highlighted(explorer) == [
        {"attribute": "verbosity", "direction": "worse"},
        {"attribute": "verbosity", "direction": "better"},
    ]
    assert view.filters["side"] == "all" and changes.counts["redraw"] == 1
    # a side without an attribute has no bar: the chart clears, the view keeps the side
    _from_browser(table, "", "chosen")
    assert (explorer.chart.selected, _highlighted(explorer)) == ("", [])
    assert view.filters == {"attribute": "", "side": "chosen", "outcome": "SF"}
    assert table.linked_filters == {"attribute": "", "side": "chosen"}
    assert {r["side"] for r in view.rows} == {"chosen"}


def test_the_views_filters_highlight_the_bar_and_filter_the_table(explorer, result):
    table, t = explorer.rewrite_table, result.table
    changes = Changes(explorer)
    explorer.view.filters = {"attribute": "avoid-to-answer", "side": "chosen", "outcome": "CF"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == (
        "avoid-to-answer",
        "worse",
    )
    assert table.linked_filters == {"attribute": "avoid-to-answer", "side": "chosen"}
    # the view's outcome is its own: the table filters by attribute and side only
    keep = t[(t["attribute"] == "avoid-to-answer") & (t["side"] == "chosen")]
    assert table.filtered().index.equals(keep.index) and set(keep["outcome"]) > {"CF"}
    assert changes.counts == {"chart": 2, "view": 1, "table": 1, "redraw": 1}
    explorer.view.clear_filters()  # the view's Clear filters clears all three
    assert table.linked_filters == NO_LINK and explorer.chart.selected == ""


def test_a_row_picked_in_the_table_clears_only_the_view_filter_that_hides_it(explorer, result):
    table, view, t = explorer.rewrite_table, explorer.view, result.table
    _from_browser(table, "manner", "rejected")
    view.filters = {**view.filters, "outcome": "CF"}
    sf = t[(t["attribute"] == "manner") & (t["side"] == "rejected") & (t["outcome"] == "SF")]
    table.selected_row = int(sf.index[0])  # the table shows it; the view's CF filter hides it
    assert view.filters == {"attribute": "manner", "side": "rejected", "outcome": "all"}
    assert view.comparison["id"] == sf.iloc[0]["comparison_id"]
    assert int(sf.index[0]) in [r["row_id"] for r in view.rows]
    # the reader's Attribute and Side stay where they were, in the table and on the chart
    assert table.linked_filters == {"attribute": "manner", "side": "rejected"}
    assert (explorer.chart.selected, explorer.chart.selected_direction) == ("manner", "better")


def test_the_link_holds_through_a_real_run():
    """Filters chosen before the run (the table's) stay chosen while the rows land, and the
    run's table, view and chart all show them."""
    exp = Explorer(_explainer(), COMPS, null_perturber=None, redraw_every=0.0)
    _from_browser(exp.rewrite_table, "engagement", "chosen")
    assert (exp.chart.selected, exp.chart.selected_direction) == ("engagement", "worse")
    exp.run()
    run = exp.wait(60)
    assert exp.error is None and run is not None
    t = run.table
    assert exp.rewrite_table.linked_filters == {"attribute": "engagement", "side": "chosen"}
    assert exp.view.filters == {"attribute": "engagement", "side": "chosen", "outcome": "all"}
    assert _highlighted(exp) == [{"attribute": "engagement", "direction": "worse"}]
    keep = t[(t["attribute"] == "engagement") & (t["side"] == "chosen")]
    assert len(keep) == len(COMPS) and exp.rewrite_table.filtered().index.equals(keep.index)


def test_linked_filters_are_validated_and_kept_in_the_query(result, tmp_path):
    table = RewriteTable(result.table, linked_filters={"attribute": "manner", "side": "chosen"})
    t = result.table
    assert table.query.attribute == "manner" and table.query.side == "chosen"
    path = table.export(tmp_path / "manner.csv")
    assert len(pd.read_csv(path)) == int(
        ((t["attribute"] == "manner") & (t["side"] == "chosen")).sum()
    )
    for bad, match in (
        ({"attribute": "manner", "side": "left"}, "side must be one of all, chosen, rejected"),
        ({"attribute": 3, "side": "all"}, "attribute must be text"),
        ({"attribute": "x" * 201, "side": "all"}, "at most 200 characters"),
        ({**NO_LINK, "outcome": "CF"}, "attribute and side only, not outcome"),
    ):
        with pytest.raises(TraitError, match=match):
            table.linked_filters = bad
    assert table.linked_filters == {"attribute": "manner", "side": "chosen"}
    table.linked_filters = {"side": "rejected"}  # a missing key reads as "every"
    assert table.linked_filters == {"attribute": "", "side": "rejected"}
    # the browser's next page request is the query again (with its other filters)
    _ask_page(table, side="rejected", outcome="SF")
    assert (table.query.side, table.query.outcome) == ("rejected", "SF")
