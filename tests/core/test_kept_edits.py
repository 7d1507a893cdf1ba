"""Hand edits kept with a result (``ExplanationResult.keep_edits``): they join the table and
its files, and no figure counts them. The RM is reward = log(1 + words), so every number is
checked by hand (see test_rescore.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.rescore import HAND_EDIT, Rescorer

L = math.log
COMP = Comparison("c1", "tell me", "one two three", "one")


def _rm(name: str = "len"):
    return rmx.TransparentRewardModel({"length": 1.0}, only=True, name=name)


def _perturb(prompt, response, attribute, direction):
    return response + (" extra words here" if direction == "worse" else " more words")


def _run():
    ex = rmx.Explainer(_rm(), _perturb, attributes=["verbosity"], progress=False)
    return ex, ex.explain([COMP])


def _written(ex, res):
    """A hand-written better rewrite of b (1 word -> 5): log 6 > log 4, a CF."""
    return Rescorer.from_explainer(ex).rewrite(
        COMP, "verbosity", "rejected", "one two three four five", originals=res.originals
    )


def test_kept_edits_join_the_table_and_files_but_no_figure(tmp_path):
    ex, res = _run()
    before = res.sensitivity(n_boot=0)
    summary = res.summary()
    # by hand: worse "one two three extra words here" (7 words): log 8 - log 2 > 0, SF; better
    # "one more words" (3 words): log 4 - log 4 = 0, not < 0: SF; so PFR 0 in both directions
    assert before.set_index("direction").loc["both", "pfr"] == 0.0
    edit = _written(ex, res).rows.set_axis([7])  # as ComparisonView.edits() indexes them
    assert edit["outcome"].tolist() == ["CF"]
    res.keep_edits(edit)
    assert len(res.table) == 3 and res.edits["perturber"].tolist() == [HAND_EDIT]
    assert res.edits["reward_perturbed"].iloc[0] == pytest.approx(L(6))
    res.keep_edits(edit)  # again (the view's edits, re-read): never doubled
    assert len(res.table) == 3
    after = res.sensitivity(n_boot=0)
    pd.testing.assert_frame_equal(after, before)  # the CF edit changes no figure
    assert res.summary()["rows"] == summary["rows"] == 2 and res.summary()["hand_edits"] == 1
    assert res.summary()["cf"] == 0
    paths = res.save(tmp_path / "run", report=False)
    assert paths
    saved = pd.read_parquet(tmp_path / "run" / "table.parquet")
    assert saved["perturber"].tolist().count(HAND_EDIT) == 1
    sens_csv = pd.read_csv(tmp_path / "run" / "sensitivity.csv")
    assert sens_csv["n"].tolist() == before["n"].tolist()  # sensitivity.csv leaves it out too
    res.keep_edits(edit.iloc[:0])  # no edits: the run's rows alone
    assert len(res.table) == 2 and res.edits.empty


def test_keep_edits_refuses_rows_that_are_no_hand_edits():
    _, res = _run()
    with pytest.raises(RMXError, match="keeps hand edits only"):
        res.keep_edits(res.table)
    with pytest.raises(RMXError, match="takes a table of edits"):
        res.keep_edits([1, 2])  # type: ignore[arg-type]
    other = rmx.Explainer(_rm("other-len"), _perturb, attributes=["verbosity"], progress=False)
    edit = _written(other, other.explain([COMP])).rows
    with pytest.raises(RMXError, match=r"scored by other-len:\w+, not this result.s RM len:\w+"):
        res.keep_edits(edit)


def test_an_edited_original_s_rederived_rows_are_hand_edits_too():
    ex, res = _run()
    out = Rescorer.from_explainer(ex).original(
        COMP, "a", "one two three four", rewrites=res.table, originals=res.originals
    )
    res.keep_edits(out.rows)
    assert len(res.edits) == len(out.rows) >= 2  # the edit and the re-derived rewrites
    assert any(p.startswith(HAND_EDIT + "/") for p in res.edits["perturber"])
    whole = rmx.sensitivity(res.table, n_boot=0)
    assert "hand-edit" not in set(whole["attribute"])  # the edit's own attribute is no figure
    assert whole["n"].tolist() == res.sensitivity(n_boot=0)["n"].tolist()
