"""ComparisonView edit and rescore without a browser: message → background rescore → traits.

The toy RM of widget_inputs scores -len(response) / 10 (+0.5 with "please"): comparison c1 has
a = "short answer 1" (14 characters, reward -1.4) and b = "a much longer answer number 1
with details" (42, reward -4.2), so the RM prefers a by a margin of 2.8.
"""

from __future__ import annotations

import json
import threading

import jsonschema
import pytest
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.rescore import HAND_EDIT
from rmx_widgets.core.rows import TABLE_COLUMNS
from rmx_widgets.widgets import ComparisonView
from rmx_widgets.widgets.contract import SCHEMA_PATH, fields
from rmx_widgets.widgets.contract import ComparisonViewState as State


@pytest.fixture
def explained():
    ex = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False)
    return ex, ex.explain(COMPS)


def _view(explained, **kw):
    ex, res = explained
    view = ComparisonView(res, rm=ex, **kw)
    view.index = 1
    assert view.comparison["id"] == "c1"
    return view


def _send(view, **content):
    view._on_msg(view, content, [])
    view.wait_edit(5)
    assert not view.edit_busy


def _valid(view):
    committed = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema = {"$ref": "#/$defs/ComparisonViewState", "$defs": committed["$defs"]}
    wire = {k: v for k, v in view.get_state().items() if k in fields(State)}
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(json.loads(json.dumps(wire))))
    assert errors == []


WRITE = {
    "type": "rescore",
    "kind": "write",
    "comparison_id": "c1",
    "row_id": -1,
    "response": "",
    "attribute": "verbosity",
    "side": "rejected",
}


def test_a_written_rewrite_is_rescored_in_the_background_and_shown_in_place(explained):
    view = _view(explained)
    assert view.can_edit and view.edit_unavailable == "" and view.edit_attributes == ATTRS
    _send(view, **WRITE, text="tiny")  # reward -0.4: margin_after = -1.4 - (-0.4) = -1.0
    assert view.edit_error == "" and view.n_edits == 1
    (shown,) = view.edits_shown
    assert shown["kind"] == "write" and shown["target_row"] == -1 and shown["response"] is None
    row = shown["row"]
    assert row["outcome"] == "CF" and row["perturbed"] == "tiny"
    assert row["reward_perturbed"] == pytest.approx(-0.4)
    assert row["margin_before"] == pytest.approx(2.8)
    assert row["margin_after"] == pytest.approx(-1.0)
    assert view.edit_status.startswith("edit 1:") and "CF" in view.edit_status
    edits = view.edits
    assert list(edits.columns) == TABLE_COLUMNS and list(edits.index) == [1]
    assert edits["perturber"].tolist() == [HAND_EDIT]
    _valid(view)
    view.index = 2  # another comparison shows none of c1's edits; coming back shows it again
    assert view.edits_shown == []
    view.index = 1
    assert len(view.edits_shown) == 1


def test_an_edited_rewrite_replaces_its_row_and_undo_drops_it(explained):
    view = _view(explained)
    target = next(r for r in view.rows if r["attribute"] == "verbosity" and r["side"] == "chosen")
    # chosen side: "short" (5 chars, -0.5) against b (-4.2): margin_after 3.7, SF
    _send(view, **{**WRITE, "kind": "rewrite", "row_id": target["row_id"]}, text="short")
    (shown,) = view.edits_shown
    assert shown["kind"] == "rewrite" and shown["target_row"] == target["row_id"]
    assert shown["row"]["row_id"] == target["row_id"]
    assert shown["row"]["side"] == "chosen" and shown["row"]["outcome"] == "SF"
    assert shown["row"]["margin_after"] == pytest.approx(3.7)
    _send(view, type="undo", edit_id=shown["edit_id"])
    assert view.edits_shown == [] and view.n_edits == 0 and view.edits.empty
    assert list(view.edits.columns) == TABLE_COLUMNS
    assert view.undo() is False


def test_an_edited_original_rederives_the_rewrites_of_its_comparison(explained):
    view = _view(explained)
    # b edited to "b" (-0.1) now beats a (-1.4): a CF, and the rewrites are not re-derived
    _send(view, **{**WRITE, "kind": "original", "response": "b"}, text="b")
    (shown,) = view.edits_shown
    assert shown["kind"] == "original" and shown["response"] == "b"
    assert shown["row"]["outcome"] == "CF" and shown["rederived"] == []
    assert shown["row"]["margin_after"] == pytest.approx(-1.4 + 0.1)
    # b edited to "a longer answer" (-1.5) keeps a preferred: every rewrite is re-derived
    _send(view, **{**WRITE, "kind": "original", "response": "b"}, text="a longer answer")
    second = view.edits_shown[-1]
    assert second["row"]["outcome"] == "SF"
    assert second["row"]["margin_after"] == pytest.approx(-1.4 + 1.5)
    assert sorted(r["row_id"] for r in second["rederived"]) == sorted(
        view.table.index[view.table["comparison_id"] == "c1"]
    )
    assert all(
        r["reward_other"] == pytest.approx(-1.5)
        for r in second["rederived"]
        if r["side"] == "chosen" and r["outcome"] != "failed"
    )
    assert len(view.edits.loc[2]) == 1 + len(second["rederived"])
    _valid(view)


def test_errors_are_one_line_inside_the_widget(explained):
    view = _view(explained)
    _send(view, **WRITE, text="")
    assert "empty" in view.edit_error and "\n" not in view.edit_error and view.n_edits == 0
    _send(view, **{**WRITE, "attribute": ""}, text="tiny")
    assert "attribute" in view.edit_error
    _send(view, **{**WRITE, "kind": "rewrite", "row_id": 99999}, text="tiny")
    assert "no rewrite row 99999" in view.edit_error
    _send(view, **WRITE, text=["not", "text"])
    assert view.edit_error == "the edited text must be text."
    _send(view, **WRITE, text="tiny")  # a good edit clears the error
    assert view.edit_error == "" and view.n_edits == 1


def test_an_rm_that_raises_is_shown_not_a_dead_thread(explained):
    ex, res = explained

    def broken(prompts, responses):
        if "boom" in responses[0]:
            raise ValueError("the GPU\nfell over")
        return rm(prompts, responses)

    view = ComparisonView(res, rm=rmx.CallableRewardModel(broken, name=ex.rm.identity))
    _send(view, **{**WRITE, "comparison_id": "c0"}, text="boom")
    assert "fell over" in view.edit_error and "\n" not in view.edit_error
    assert view.edit_status == "" and not view.edit_busy


def test_the_rescore_runs_in_the_background(explained):
    ex, res = explained
    gate, started = threading.Event(), threading.Event()

    def slow(prompts, responses):
        if "slow" in responses[0]:
            started.set()
            gate.wait(5)
        return rm(prompts, responses)

    view = ComparisonView(res, rm=rmx.CallableRewardModel(slow, name=ex.rm.identity))
    thread = view.rescore("slow one", attribute="verbosity", side="chosen")
    assert thread is not None and started.wait(5)
    assert view.edit_busy and view.edit_status.startswith("rescoring")
    assert view.rescore("again", attribute="verbosity", side="chosen") is None
    assert "already running" in view.edit_error
    gate.set()
    view.wait_edit(5)
    assert not view.edit_busy and view.n_edits == 1


def test_without_the_rm_editing_is_unavailable_and_says_why(explained):
    ex, res = explained
    plain = ComparisonView(res)
    assert not plain.can_edit and "rm=" in plain.edit_unavailable
    assert plain.rescore("x", attribute="verbosity", side="chosen") is None
    assert plain.edit_error == plain.edit_unavailable
    other = ComparisonView(res, rm=rmx.TransparentRewardModel())
    assert not other.can_edit and ex.rm.identity in other.edit_unavailable


def test_the_explorer_passes_its_rm_to_the_view(explained):
    ex, _ = explained
    exp = rmx.Explorer(ex, COMPS[:2], attributes=["verbosity"])
    assert exp.view.can_edit and exp.view.edit_attributes == ["verbosity"]
    exp.run()
    exp.wait(10)
    exp.view.rescore("tiny", attribute="verbosity", side="rejected")
    exp.view.wait_edit(5)
    assert exp.view.n_edits == 1 and exp.view.edits["rm"].tolist() == [ex.rm.identity]
    # the Explorer's result keeps the edit (its table and exports), its figures do not count it
    assert exp.result is not None and exp.result.edits["perturber"].tolist() == [HAND_EDIT]
    assert exp.result.summary()["hand_edits"] == 1
    shown = exp.result.sensitivity(n_boot=0)
    assert shown["n"].sum() == 2 * (exp.result.summary()["rows"] - exp.result.summary()["failed"])
    # the rewrite table shows it at once after the run's rows, "Made by" manual
    table = exp.rewrite_table.table
    assert len(table) == len(exp.table) + 1 and exp.rewrite_table.n_rows == len(table)
    assert table["perturber"].tolist()[-1] == HAND_EDIT
    assert set(table["perturber"].iloc[:-1]) == {ex.perturber.identity}
    # selecting it opens its comparison in the view (it is no row of the view's own table)
    cid = table["comparison_id"].iloc[-1]
    exp.view.index = 1 - exp.view.visible_ids.index(cid)
    exp.rewrite_table.selected_row = len(table) - 1
    assert exp.view.visible_ids[exp.view.index] == cid
    exp.view.undo()
    exp.view.wait_edit(5)
    assert len(exp.rewrite_table.table) == len(exp.table)  # undone: gone from the table too


def test_an_edit_whose_row_is_replaced_is_not_attached_to_another_card(explained):
    """A new run replaces the table and its row ids may name other rewrites: an edited rewrite
    then shows as a written one and a re-derived row whose table row changed is not shown."""
    _ex, res = explained
    view = _view(explained)
    target = next(r for r in view.rows if r["attribute"] == "verbosity" and r["side"] == "chosen")
    _send(view, **{**WRITE, "kind": "rewrite", "row_id": target["row_id"]}, text="short")
    _send(view, **{**WRITE, "kind": "original", "response": "b"}, text="a longer answer")
    before = view.edits_shown[1]["rederived"]
    assert len(before) == 8
    other = res.table[res.table["attribute"] != "verbosity"].reset_index(drop=True)
    view.set_data(res.comparisons, other, res.originals)
    view.index = 1
    edited, original = view.edits_shown
    assert edited["kind"] == "write" and edited["target_row"] == -1
    kept = original["rederived"]
    assert len(kept) < len(before)
    for r in kept:
        t = other.loc[r["row_id"]]
        assert (t["comparison_id"], t["attribute"], t["side"]) == ("c1", r["attribute"], r["side"])
    assert len(view.edits) == 1 + 1 + 8  # the log itself is unchanged


def test_edits_are_kept_with_the_result_and_no_figure_counts_them(explained):
    """A view built with the result keeps every edit in ``result.table`` (after each rescore
    and undo), so exports of the table carry it; the sensitivity leaves it out."""
    _, res = explained
    before = res.sensitivity(n_boot=0)
    rows = len(res.table)
    view = _view(explained)
    _send(view, **WRITE, text="tiny")  # a CF (see the first test)
    assert len(res.table) == rows + 1 and res.edits["perturber"].tolist() == [HAND_EDIT]
    assert res.edits["outcome"].tolist() == ["CF"]
    assert res.sensitivity(n_boot=0).equals(before)
    assert res.summary()["hand_edits"] == 1 and res.summary()["rows"] == rows
    view.undo()
    assert len(res.table) == rows and res.edits.empty
    view.keep_edits_in(None)  # stops keeping: a later edit stays in the view only
    _send(view, **WRITE, text="tiny")
    assert len(res.table) == rows and len(view.edits) == 1
