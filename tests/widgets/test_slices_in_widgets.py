"""Slices and objectives in the widgets (no browser): the input's extra fields (here the
domain and source of tests/data/comparisons_with_domain.jsonl) and a multi-objective RM's
changes are columns of the RewriteTable, and "Split by" / "Objective" under the Explorer's
chart show the engine's per-slice summary and per-objective means; every figure checked
against counts made from the table by hand. Real components: the rule perturber, the
transparent RM and a plain-Python two-objective RM."""

from __future__ import annotations

import json

import pandas as pd
from domain_data import ATTRS
from objective_rms import TwoObjectives

import rmx_widgets as rmx
from rmx_widgets.core.data import comparisons_from_records
from rmx_widgets.core.slices import sensitivity_by
from rmx_widgets.widgets import Explorer, RewriteTable
from rmx_widgets.widgets.sensitivity_summary import summary_rows
from rmx_widgets.widgets.summary_split import NO_OBJECTIVE, NO_SPLIT

NO_FILTERS = {"attribute": "", "side": "all", "outcome": "all", "validity": "all", "ranges": []}


def _ask(table: RewriteTable, **over) -> dict:
    msg = {"type": "page", "request_id": 3, "page": 1, "page_size": 100, "sort": [], "search": ""}
    msg["filters"] = dict(NO_FILTERS)
    msg.update(over)
    reply = table.answer(msg)
    json.dumps(reply, allow_nan=False)  # strict JSON, as the comm sends it
    return dict(reply)


def test_the_table_shows_each_slice_as_a_sortable_searchable_column(result):
    t = result.table
    table = RewriteTable(t)
    fields = [c["field"] for c in table.columns]
    assert fields[-2:] == ["slice.source", "slice.domain"]  # after the fixed ones, input order
    assert table.columns[-1] == {"field": "slice.domain", "title": "domain", "kind": "text"}
    reply = _ask(table, sort=[{"column": "slice.domain", "dir": "asc"}])
    domains = [r["extra_text"]["slice.domain"] for r in reply["rows"]]
    # by hand: 4 math, 4 chat, 3 code comparisons and one without a domain, 6 rewrites each
    assert domains == ["chat"] * 24 + ["code"] * 18 + ["math"] * 24 + [None] * 6
    assert reply["total"] == len(t) == 72
    code = _ask(table, search="CODE")  # a slice value is searched, case-insensitively
    assert code["total"] == 18
    assert {r["extra_text"]["slice.domain"] for r in code["rows"]} == {"code"}
    assert all(r["extra_numbers"] == {} for r in reply["rows"])  # no objective columns


def test_a_request_for_a_column_this_table_lacks_is_refused(result):
    table = RewriteTable(result.table)
    for over in (
        {"sort": [{"column": "slice.topic", "dir": "asc"}]},
        {"filters": {**NO_FILTERS, "ranges": [{"column": "slice.domain", "low": 0}]}},
        {"sort": [{"column": "objective.length.delta", "dir": "asc"}]},
    ):
        reply = _ask(table, **over)
        assert reply["error"].startswith("Request refused:") and reply["rows"] == []
    plain = RewriteTable(result.table.drop(columns=["slice.domain", "slice.source"]))
    assert "slice.domain" not in [c["field"] for c in plain.columns]
    assert _ask(plain, sort=[{"column": "slice.domain", "dir": "asc"}])["error"]


def test_objective_changes_are_number_columns_with_range_filters(comps):
    rm = TwoObjectives()
    result = rmx.Explainer(rm, rmx.perturber_from_spec("rules"), ["verbosity"], progress=False)
    t = result.explain(comps).table
    table = RewriteTable(t)
    assert {"field": "objective.length.delta", "title": "Δ length", "kind": "number"} in (
        table.columns
    )
    ok = t[t["outcome"] != "failed"]
    by_hand = {
        i: len(r["perturbed"].split()) - len(r["original"].split()) for i, r in ok.iterrows()
    }
    assert by_hand and min(by_hand.values()) != max(by_hand.values())
    low = sorted(by_hand.values())[len(by_hand) // 2]
    ranged = {"ranges": [{"column": "objective.length.delta", "low": low, "high": None}]}
    reply = _ask(table, filters={**NO_FILTERS, **ranged})
    assert {r["row_id"] for r in reply["rows"]} == {i for i, d in by_hand.items() if d >= low}
    assert all(r["extra_numbers"]["objective.length.delta"] >= low for r in reply["rows"])
    failed = _ask(table, filters={**NO_FILTERS, "outcome": "failed"})["rows"]
    assert failed and all(r["extra_numbers"]["objective.length.delta"] is None for r in failed)


def _counts(t: pd.DataFrame, domain, attribute: str) -> tuple[int, int, int]:
    """(n successful, failed, CF) of one slice and attribute, both directions."""
    in_slice = t["slice.domain"].isna() if domain is None else t["slice.domain"] == domain
    rows = t[in_slice & (t["attribute"] == attribute)]
    failed = int((rows["outcome"] == "failed").sum())
    return len(rows) - failed, failed, int((rows["outcome"] == "CF").sum())


def test_split_by_shows_each_slice_s_summary_and_no_split_restores_it(explainer, comps, result):
    explorer = Explorer(explainer, comps, null_perturber=None)
    explorer.show_result(result)
    summary = explorer.sensitivity_summary
    whole = list(summary.rows)
    assert explorer.split_picker.options == (
        (NO_SPLIT, ""),
        ("source", "source"),
        ("domain", "domain"),
    )
    assert (explorer.split_picker.value, summary.split_by) == ("", "")
    assert explorer.objective_picker.layout.display == "none"  # the RM has no objectives
    explorer.split_picker.value = "domain"
    assert summary.split_by == "domain"
    shown = [(r["split_value"], r["attribute"]) for r in summary.rows]
    assert [v for v, _ in shown] == ["chat"] * 3 + ["code"] * 3 + ["math"] * 3 + [None] * 3
    t = result.table
    for r in summary.rows:
        n, failed, cf = _counts(t, r["split_value"], r["attribute"])
        assert r["cells"][0].split()[0] == str(n)
        assert r["cells"][1].startswith(f"{failed}/{n + failed} ")
        assert (r["cells"][2], r["cells"][3]) == (str(cf), str(n - cf))
        assert r["cells"][4].startswith(f"{cf / n:.2f} [")
    # the engine's split, Holm over every slice's rows together, is what the rows show
    split = sensitivity_by(t, None, "domain", n_boot=explorer.chart.n_boot)
    assert summary.rows == summary_rows(split, "slice.domain")
    explorer.split_picker.value = ""
    assert (summary.split_by, summary.rows) == ("", whole)


def test_the_split_follows_a_new_result_and_hides_without_slices(explainer, comps, result):
    explorer = Explorer(explainer, comps, null_perturber=None)
    explorer.show_result(result)
    explorer.split_picker.value = "source"
    assert {r["split_value"] for r in explorer.sensitivity_summary.rows} == {
        "forum",
        "hand-written",
    }
    plain = rmx.Explainer(
        rmx.reward_model_from_spec("transparent"), rmx.perturber_from_spec("rules"), ATTRS
    )
    bare = [rmx.Comparison(id=c.id, prompt=c.prompt, response_a=c.response_a,
                           response_b=c.response_b) for c in comps]  # fmt: skip
    explorer.show_result(plain.explain(bare))  # no slices: back to no split, picker hidden
    assert explorer.split_picker.value == "" and explorer.sensitivity_summary.split_by == ""
    assert explorer.chart.splits.layout.display == "none"
    assert all(r["split_value"] is None for r in explorer.sensitivity_summary.rows)


def test_the_objective_picker_shows_each_objective_s_mean_change(comps):
    explainer = rmx.Explainer(
        TwoObjectives(), rmx.perturber_from_spec("rules"), ["verbosity"], progress=False
    )
    result = explainer.explain(comps)
    explorer = Explorer(explainer, comps, null_perturber=None)
    explorer.show_result(result)
    picker = explorer.objective_picker
    assert picker.options == ((NO_OBJECTIVE, ""), ("length", "length"), ("questions", "questions"))
    assert picker.layout.display is None and explorer.chart.splits.objective_view.value == ""
    picker.value = "length"
    assert explorer.chart.splits.objective_view.layout.display is None
    view = explorer.chart.splits.objective_view.value
    t = result.table
    for direction in ("worse", "better"):
        rows = t[(t["attribute"] == "verbosity") & (t["direction"] == direction)]
        ok = rows[rows["outcome"] != "failed"]
        deltas = [len(p.split()) - len(o.split()) for p, o in zip(ok["perturbed"], ok["original"])]
        failed = len(rows) - len(ok)
        mean = f"{sum(deltas) / len(deltas):+.3f}" if deltas else "not measured"
        assert (
            f"<th scope='row'>verbosity</th><td>{direction}</td><td>{mean}</td>"
            f"<td>{len(deltas)}</td><td>{failed}</td>"
        ) in view
    assert "mean Δ length" in view
    picker.value = ""
    view = explorer.chart.splits.objective_view
    assert (view.value, view.layout.display) == ("", "none")


def test_hostile_slice_values_stay_text_in_the_static_table():
    hostile = '<img src=x onerror="alert(1)">'
    comps = comparisons_from_records(
        [
            {
                "prompt": "Hi?",
                "chosen": "Hello there, friend.",
                "rejected": "No.",
                "domain": hostile,
            },
        ]
    )
    explainer = rmx.Explainer(
        rmx.reward_model_from_spec("transparent"), rmx.perturber_from_spec("rules"), ["manner"]
    )
    table = RewriteTable(explainer.explain(comps).table)
    page = table.static_html()
    assert "<th>domain</th>" in page and hostile not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page
