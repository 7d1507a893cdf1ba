"""Widget state without a browser: traitlets round trips and the Explorer's run/cancel logic."""

import html
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.widgets import (
    Annotator,
    AttributePicker,
    ComparisonView,
    Explorer,
    RMCompare,
    SensitivityChart,
)


@pytest.fixture
def result():
    ex = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False)
    return ex.explain(COMPS)


def test_comparison_view_filters_navigation_and_paging(result):
    view = ComparisonView(result, page_size=2)
    assert view.comparison["id"] == "c0" and view.comparison["total"] == 12
    assert view.comparison["prompt_turns"] == [{"role": "user", "content": "hi 0"}]
    assert view.n_rows == 8 and len(view.rows) == 2 and view.attribute_options == ATTRS
    view.page = 2
    assert [r["attribute"] for r in view.rows] == ["assertiveness", "assertiveness"]
    view.index = 5  # a new comparison starts on its first page
    assert view.comparison["id"] == "c5" and view.page == 0
    view.filters = {"attribute": "assertiveness", "side": "all", "outcome": "failed"}
    assert view.comparison["id"] == "c5" and view.n_rows == 2  # the current one is kept
    assert all(r["outcome"] == "failed" and r["failure_reason"] for r in view.rows)
    assert all(r["perturbed"] is None and r["reward_perturbed"] is None for r in view.rows)
    view.filters = {"attribute": "", "side": "all", "outcome": "CF"}
    cf_ids = set(result.table.loc[result.table.outcome == "CF", "comparison_id"])
    assert set(view.visible_ids) == cf_ids and view.comparison["total"] == len(cf_ids)
    view.show_attribute("manner")  # no manner rewrite flips: nothing left to show
    assert view.comparison is None and view.rows == [] and view.visible_ids == []
    view.filters = {"attribute": "", "side": "rejected", "outcome": "all"}
    view.show_attribute("manner")
    assert [(r["attribute"], r["side"]) for r in view.rows] == [("manner", "rejected")]
    view.index = 999
    assert view.index == len(view.visible_ids) - 1
    state = view.get_state()
    assert state["filters"]["attribute"] == "manner" and isinstance(state["rows"], list)


def test_comparison_view_empty_and_nothing_matching():
    view = ComparisonView()
    assert view.comparison is None and view.rows == []


def test_attribute_picker_selection_and_custom_attribute():
    picker = AttributePicker(["verbosity", "manner"], selected=["manner"])
    assert [a.name for a in picker.selected_attributes] == ["manner"]
    picker.selected = ["verbosity", "nonsense", "manner", "manner"]
    assert picker.selected == ["verbosity", "manner"]
    picker._on_msg(
        picker, {"type": "add", "name": "humour", "definition": "How funny the response is."}, []
    )
    assert picker.error == "" and picker.attributes[-1] == {
        "name": "humour",
        "definition": "How funny the response is.",
        "custom": True,
    }
    assert picker.selected_attributes[-1].name == "humour"
    picker._on_msg(picker, {"type": "add", "name": "Bad Name", "definition": "x" * 20}, [])
    assert "not valid" in picker.error
    picker._on_msg(picker, {"type": "add", "name": "humour", "definition": "y" * 20}, [])
    assert "exists already" in picker.error


def test_custom_attribute_flows_through_the_engine():
    picker = AttributePicker(["verbosity"])
    picker.add("humour", "How funny the response is, through wit or wordplay.")
    ex = rmx.Explainer(rm, lambda p, r, a, d: r + f" ({a.name})", progress=False)
    t = ex.explain(COMPS[:2], picker.selected_attributes).table
    assert set(t["attribute"]) == {"verbosity", "humour"}


def _click(attribute):
    return {
        "attribute": {
            "value": {"vlPoint": {"or": [{"attribute": attribute}]}},
            "store": [{"unit": "", "fields": [], "values": [attribute]}],
        }
    }


def test_sensitivity_chart_selection_reaches_python(result):
    chart = SensitivityChart(result.table)
    assert set(chart.sens["attribute"]) == set(ATTRS)
    chart.chart._vl_selections = _click("manner")  # what the browser syncs on a click
    assert chart.selected == "manner"
    chart.update(result.table)  # a redraw re-attaches the observer
    chart.chart._vl_selections = _click("verbosity")
    assert chart.selected == "verbosity"
    chart.chart._vl_selections = {"attribute": {"value": None, "store": []}}
    assert chart.selected == ""
    spec = chart.chart.spec
    assert "attribute" in str(spec["params"]) and len(str(spec)) < 60_000


def _explorer(delay=0.0, batch_size=1):
    def slow(prompt, response, attribute, direction):
        time.sleep(delay)
        return perturb(prompt, response, attribute, direction)

    ex = rmx.Explainer(rm, slow, attributes=ATTRS, batch_size=batch_size, progress=False)
    return Explorer(ex, COMPS, redraw_every=0.0)


def test_explorer_runs_in_background_and_updates_live():
    exp = _explorer()
    seen = []
    exp.view.observe(lambda ch: seen.append(len(exp.table)), "attribute_options")
    exp.chart.chart.observe(lambda ch: seen.append(("chart", len(exp.table))), "spec")
    exp.run()
    result = exp.wait(60)
    assert result is not None and not exp.running and exp.error is None
    assert len(result.table) == 12 * 4 * 2
    assert exp.progress.value == exp.progress.max == 96
    assert exp.status.value.startswith("done: 96 rewrites")
    chart_updates = [s for s in seen if isinstance(s, tuple)]
    assert len(chart_updates) >= 3 and chart_updates[0][1] < 96  # redrawn while running
    assert exp.view.comparison["total"] == 12
    exp.chart.selected = "manner"  # the click on a bar filters the ComparisonView
    assert exp.view.filters["attribute"] == "manner"
    assert {r["attribute"] for r in exp.view.rows} == {"manner"}
    assert not exp.run_button.disabled and exp.cancel_button.disabled


def test_explorer_cancel_keeps_what_landed():
    exp = _explorer(delay=0.02)
    exp.run()
    deadline = time.time() + 30
    while len(exp.table) < 4 and time.time() < deadline:
        time.sleep(0.01)
    exp.cancel()
    result = exp.wait(30)
    assert result.stats.cancelled and 4 <= len(result.table) < 96
    assert exp.status.value.startswith("cancelled")
    store_counts = exp.explainer.store.counts()
    assert store_counts["perturbations"] >= len(result.table) - 2


def test_explorer_shows_errors_in_the_widget():
    ex = rmx.Explainer(lambda p, r: [1.0], perturb, attributes=ATTRS, progress=False)
    exp = Explorer(ex, COMPS)
    exp.run()
    exp.wait(30)
    assert "returned 1 scores for 24" in exp.error
    assert "returned 1 scores" in exp.error_box.value and exp.status.value.startswith("stopped")
    exp.picker.selected = []
    exp.run()
    assert "Select at least one attribute" in exp.error


def test_annotator_saves_at_once_and_reloads(result, tmp_path):
    store = tmp_path / "s.sqlite"
    ann = Annotator(result, store, k=3, export_dir=tmp_path)
    assert 1 <= len(ann.examples) <= 3
    cid = ann.examples[0]["comparison_id"]
    ann._on_msg(
        ann,
        {"type": "save", "comparison_id": cid, "tags": ["surprising", "x"], "note": "<b>why</b>"},
        [],
    )
    assert ann.annotations[cid]["tags"] == ["surprising", "x"] and "saved" in ann.status
    again = Annotator(result, store, k=3)
    assert again.annotations[cid]["note"] == "<b>why</b>"
    ann._on_msg(ann, {"type": "export", "format": "csv"}, [])
    frame = pd.read_csv(tmp_path / "annotations.csv")
    row = frame[frame.comparison_id == cid].iloc[0]
    assert row["tags"] == "surprising;x" and row["response_chosen"]
    path = ann.export(tmp_path / "a.jsonl")
    assert '"tags": ["surprising", "x"]' in path.read_text()
    ann._on_msg(ann, {"type": "save", "comparison_id": "nope", "tags": [], "note": ""}, [])
    assert ann.status.startswith("error")


def test_rm_compare_shows_both_and_contrasting(result):
    ex_b = rmx.Explainer(
        lambda p, r: [len(x) / 10 for x in r], perturb, attributes=ATTRS, progress=False
    )
    result_b = ex_b.explain(COMPS)
    cmp = RMCompare(result, result_b, names=("length-lover", "length-hater"))
    header = cmp.children[0].value
    c = cmp.comparison
    assert "Kendall" in header
    if c.tau == c.tau:  # a number comes with its interval, an undefined τ with its reason
        assert f"{c.tau:.3f}" in header and (c.tau_low != c.tau_low or f"{c.tau_low:.3f}" in header)
    else:
        # escaped (names are data), the RMs named by their labels, not their identities
        note = c.tau_note.replace(c.name_a, "length-lover").replace(c.name_b, "length-hater")
        assert c.tau_note and html.escape(note) in header
    assert set(cmp.view.visible_ids) <= set(cmp.contrasting_ids)


def test_rm_compare_says_why_tau_is_undefined(result):
    """Two identical RMs flip on the same rewrites; when one profile is constant τ has no
    value, and the header shows the reason instead of a number."""
    cmp = RMCompare(result, result, names=("a", "b"))
    c = cmp.comparison
    pfr = c.sens_a.loc[c.sens_a["direction"] == "both", "pfr"].dropna()
    if pfr.nunique() <= 1:
        note = c.tau_note.replace(c.name_a, "a", 1).replace(c.name_b, "b", 1)  # one RM twice
        assert c.tau != c.tau and html.escape(note) in cmp.children[0].value
    else:
        assert c.tau == pytest.approx(1.0)
        assert "1.000" in cmp.children[0].value


def test_widgets_state_json_has_no_nan(result):
    import json

    view = ComparisonView(result)
    json.dumps(view.get_state(), allow_nan=False)
    threading.Event()


def test_explorer_shows_an_existing_result(result):
    ex = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False)
    exp = Explorer(ex, COMPS)
    exp.show_result(result)
    assert exp.status.value.startswith("loaded: 96 rewrites")
    assert exp.view.comparison["total"] == 12 and len(exp.chart.sens) == 12


def test_offline_chart_bundle_is_built_once_and_cached(tmp_path, monkeypatch):
    import altair as alt

    from rmx_widgets.widgets import offline_bundle as ob

    chart = ob.KeptClickChart
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ob, "STATIC", tmp_path / "static")  # no packaged copy yet
    monkeypatch.setattr(chart, "_is_offline", False)
    monkeypatch.setattr(chart, "_esm", chart._esm)
    stock = alt.JupyterChart._esm
    ob.enable_offline()  # builds with vl-convert and caches
    built = chart._esm
    assert chart._is_offline and "esm.sh" not in built and "rmxStage" in built
    assert alt.JupyterChart._esm == stock  # a user's own JupyterChart is left alone
    assert ob.cache_path().read_text() == built
    assert str(tmp_path / "cache") in str(ob.cache_path())

    def no_rebuild(*a, **k):
        raise AssertionError("the cached bundle should be used")

    monkeypatch.setattr(chart, "_is_offline", False)
    monkeypatch.setattr(ob, "build", no_rebuild)
    ob.enable_offline()  # a new kernel: read from the cache
    assert chart._is_offline and chart._esm == built
    # the install step writes the packaged copy, which a kernel reads before any cache;
    # a bundle of other versions (or an older patch) left there is removed
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(ob, "STATIC", tmp_path / "static")
    monkeypatch.setattr(chart, "_esm", chart._esm)
    stale = tmp_path / "static" / "jupyterchart-offline-altair0-vlconvert0-keptclick0.js"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    assert ob.install() == ob.packaged_path() and ob.packaged_path().read_text() == built
    assert ob.packaged_path().parent == tmp_path / "static" and not stale.exists()
    ob.cache_path().unlink()
    monkeypatch.setattr(chart, "_is_offline", False)
    monkeypatch.setattr(chart, "_esm", "")
    monkeypatch.setattr(ob, "build", no_rebuild)
    ob.enable_offline()  # a fresh HOME, no cache: the packaged copy, no build
    assert chart._is_offline and chart._esm == built
    assert not ob.cache_path().exists()


def test_the_redraw_patch_changes_each_anchor_once_or_nothing(monkeypatch):
    """Every anchor of the patch is in the installed Altair's script exactly once and replaced
    (the browser test test_chart_redraw_keeps_click shows what the result does); a script
    that moved on is refused whole, and the chart falls back to Altair's own bundle with a
    warning rather than a half-patched one."""
    import altair as alt
    from altair.jupyter.jupyter_chart import load_js_src

    from rmx_widgets.widgets import offline_bundle as ob

    source = load_js_src()
    patched = ob.patched_source()
    for old, new in ob.PATCHES:
        assert source.count(old) == 1 and patched.count(new) == 1
    assert "vegaEmbed(el, spec" in source and "vegaEmbed(el, spec" not in patched
    assert "vegaEmbed(rmxTarget, spec" in patched and patched.endswith(ob._HELPERS)
    moved = source.replace(ob.PATCHES[3][0], "        let api = await vegaEmbed(el, spec);\n")
    with pytest.raises(ob.PatchError, match="0 copies"):
        ob.patched_source(moved)
    with pytest.raises(ob.PatchError, match="2 copies"):
        ob.patched_source(source + ob.PATCHES[0][0])

    chart = ob.KeptClickChart
    monkeypatch.setenv("XDG_CACHE_HOME", "/nonexistent/cache")
    monkeypatch.setattr(ob, "STATIC", Path("/nonexistent/static"))
    monkeypatch.setattr(chart, "_is_offline", False)
    monkeypatch.setattr(chart, "_esm", chart._esm)
    stock = alt.JupyterChart._esm
    monkeypatch.setattr(ob, "load_js_src", lambda: moved)
    with pytest.warns(UserWarning, match="can lose a click made while it redraws"):
        ob.enable_offline()
    assert chart._is_offline and "esm.sh" not in chart._esm and "rmxStage" not in chart._esm
    assert alt.JupyterChart._esm == stock  # a user's own JupyterChart still left alone
