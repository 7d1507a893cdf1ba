"""The human label in both tables, the RM's agreement with it, and ``restrict``.

The RM is the transparent one with only a length weight, reward = log(1 + words), so it prefers
the response with more words; each comparison's labels are written out below.
"""

import pandas as pd
import pytest

from rmx_widgets.core.data import Comparison
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.explain import ORIGINALS_COLUMNS, TABLE_COLUMNS, Explainer
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.rows import RESTRICT_CHOICES

LONG, SHORT = "one two three four", "one two"  # 4 words vs 2: the RM prefers LONG

# id, response_a, response_b, human -> the RM's preferred, agreement
COMPS = [
    Comparison("c1", "q1", LONG, SHORT, human_preferred="a"),  # RM a, human a: agree
    Comparison("c2", "q2", SHORT, LONG, human_preferred="a"),  # RM b, human a: disagree
    Comparison("c3", "q3", SHORT, LONG, human_preferred="b"),  # RM b, human b: agree
    Comparison("c4", "q4", LONG, SHORT, human_preferred="b"),  # RM a, human b: disagree
]
UNLABELLED = [Comparison(c.id, c.prompt, c.response_a, c.response_b) for c in COMPS]


class Recorder:
    """A callable perturber that appends one word and remembers what it was asked."""

    def __init__(self):
        self.asked = []

    def __call__(self, prompt, response, attribute, direction):
        self.asked.append((prompt, response, direction))
        return response + " indeed"


def _explainer(tmp_path, perturber=None, **kwargs):
    return Explainer(
        TransparentRewardModel({"length": 1.0}, only=True),
        perturber or Recorder(),
        attributes=["verbosity"],
        store=tmp_path / "s.sqlite",
        progress=False,
        **kwargs,
    )


def test_human_label_and_agreement_in_both_tables(tmp_path):
    result = _explainer(tmp_path).explain(COMPS)
    o = result.originals
    assert list(o.columns) == ORIGINALS_COLUMNS and ORIGINALS_COLUMNS[-2:] == [
        "human_preferred",
        "rm_agrees_with_human",
    ]
    assert list(o["preferred"]) == ["a", "b", "b", "a"]
    assert list(o["human_preferred"]) == ["a", "a", "b", "b"]
    assert list(o["rm_agrees_with_human"]) == [True, False, True, False]
    t = result.table
    assert list(t.columns) == TABLE_COLUMNS
    # two rows (chosen worse, rejected better) per comparison, carrying its labels
    by_id = t.groupby("comparison_id").agg({"human_preferred": set, "rm_agrees_with_human": set})
    assert by_id.loc["c1"].tolist() == [{"a"}, {True}]
    assert by_id.loc["c2"].tolist() == [{"a"}, {False}]
    assert by_id.loc["c3"].tolist() == [{"b"}, {True}]
    assert by_id.loc["c4"].tolist() == [{"b"}, {False}]
    assert str(t["rm_agrees_with_human"].dtype) == "boolean"
    # the perturber appends one word: LONG 4 -> 5 words, SHORT 2 -> 3: length_change +1 each
    assert t["length_change"].tolist() == [1.0] * 8
    assert result.stats.skipped_by_restrict == 0


def test_without_human_labels_the_columns_are_empty_not_false(tmp_path):
    result = _explainer(tmp_path).explain(UNLABELLED)
    assert result.originals["human_preferred"].isna().all()
    assert result.originals["rm_agrees_with_human"].isna().all()  # <NA>, never False
    assert result.table["human_preferred"].isna().all()
    assert result.table["rm_agrees_with_human"].isna().all()
    assert len(result.table) == 8


@pytest.mark.parametrize(
    ("restrict", "kept", "skipped"),
    [
        ("all", ["c1", "c2", "c3", "c4"], 0),
        ("agree", ["c1", "c3"], 2),
        ("disagree", ["c2", "c4"], 2),
    ],
)
def test_restrict_explains_only_the_chosen_comparisons(tmp_path, restrict, kept, skipped):
    rec = Recorder()
    result = _explainer(tmp_path, rec).explain(COMPS, restrict=restrict)
    assert sorted(pd.unique(result.table["comparison_id"])) == kept
    assert result.stats.skipped_by_restrict == skipped
    # no rewrite was requested for a skipped comparison: 2 per kept comparison, by prompt
    assert sorted({p for p, _, _ in rec.asked}) == [f"q{c[1]}" for c in kept]
    assert len(rec.asked) == 2 * len(kept) and result.stats.work_items == 2 * len(kept)
    # every comparison is still scored and listed in the originals
    assert list(result.originals["comparison_id"]) == ["c1", "c2", "c3", "c4"]
    if restrict != "all":
        assert set(result.table["rm_agrees_with_human"]) == {restrict == "agree"}


def test_the_explainer_default_and_explain_to(tmp_path):
    ex = _explainer(tmp_path, restrict="disagree")
    assert sorted(pd.unique(ex.explain(COMPS).table["comparison_id"])) == ["c2", "c4"]
    assert len(ex.explain(COMPS, restrict="all").table) == 8  # the call overrides the default
    run = ex.explain_to(COMPS, tmp_path / "out", restrict="agree", report=False)
    assert run.stats.skipped_by_restrict == 2 and run.summary["run_skipped_by_restrict"] == 2
    back = pd.read_parquet(run.paths["table_parquet"])
    assert sorted(pd.unique(back["comparison_id"])) == ["c1", "c3"]
    assert back["rm_agrees_with_human"].tolist() == [True] * 4  # a bool column in Parquet
    assert back["human_preferred"].tolist() == ["a", "a", "b", "b"]


def test_a_tie_is_counted_as_a_tie_not_as_skipped_by_restrict(tmp_path):
    tie = Comparison("t", "qt", "alpha beta", "gamma delta", human_preferred="a")  # 2 = 2 words
    with pytest.warns(UserWarning, match="tie"):
        result = _explainer(tmp_path).explain([*COMPS, tie], restrict="agree")
    assert result.stats.ties == 1 and result.stats.skipped_by_restrict == 2
    o = result.originals.set_index("comparison_id")
    assert o.loc["t", "human_preferred"] == "a" and pd.isna(o.loc["t", "rm_agrees_with_human"])


def test_restricting_without_human_labels_is_a_clear_error(tmp_path):
    rec = Recorder()
    ex = _explainer(tmp_path, rec)
    with pytest.raises(RMXError, match=r"4 of 4 comparison\(s\) have no human label"):
        ex.explain(UNLABELLED, restrict="agree")
    partial = [*COMPS[:3], UNLABELLED[3]]
    with pytest.raises(RMXError, match=r"1 of 4 comparison\(s\) have no human label \(c4\)"):
        ex.explain(partial, restrict="disagree")
    assert rec.asked == []  # nothing was rewritten
    assert len(ex.explain(UNLABELLED, restrict="all").table) == 8  # "all" needs no label
    with pytest.raises(RMXError, match="restrict must be one of all, agree, disagree"):
        ex.explain(COMPS, restrict="agreed")
    with pytest.raises(RMXError, match="restrict must be one of"):
        _explainer(tmp_path, restrict="human")


def test_the_cli_spells_the_same_choices():
    from rmx_widgets.cli import options

    assert options.RESTRICT_CHOICES == RESTRICT_CHOICES == ("all", "agree", "disagree")


def _card(human, preferred="a", with_column=True):
    from rmx_widgets.core.html import example_html
    from tests.helpers import table_factory as tf

    t = tf.table(tf.comparison("c1", 1.0, {"x": (-0.5, 0.5)}, preferred=preferred))
    if with_column:
        t["human_preferred"] = human
    return example_html(t, "c1", "caption", ["x"])


def test_the_report_card_shows_the_human_label_beside_the_chosen_response():
    assert "human preferred: A (the chosen response: the RM agrees)" in _card("a")
    assert "human preferred: B (the rejected response: the RM disagrees)" in _card("b")
    assert "human preferred: A (the rejected response: the RM disagrees)" in _card("a", "b")
    assert '<p class="meta">no human label</p>' in _card(None)
    hostile = _card("<script>alert(1)</script>")  # not a label: never echoed
    assert "no human label" in hostile and "<script>" not in hostile
    old = _card("a", with_column=False)  # a table written before the column: nothing shown
    assert "human preferred" not in old and "no human label" not in old


def test_the_written_report_carries_the_label(tmp_path):
    result = _explainer(tmp_path).explain(COMPS)
    saved = result.save(tmp_path / "out")
    html = saved["report"].read_text(encoding="utf-8")
    assert "human preferred: " in html and "the RM agrees" in html


@pytest.mark.parametrize(
    ("restrict", "kept"), [("agree", ["c1", "c3"]), ("disagree", ["c2", "c4"])]
)
def test_the_null_run_explains_the_same_restricted_comparisons(tmp_path, restrict, kept):
    from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

    ex = _explainer(tmp_path, null_perturber=RandomWordPerturber(seed=1), restrict=restrict)
    result = ex.explain(COMPS)
    # the null pairs with the main rows: the same 2 kept comparisons × 2 sides, nothing else
    assert sorted(pd.unique(result.null_table["comparison_id"])) == kept
    assert len(result.null_table) == len(result.table) == 4
    run = ex.explain_to(COMPS, tmp_path / "out", report=False)
    back = pd.read_parquet(run.paths["null_table_parquet"])
    assert sorted(pd.unique(back["comparison_id"])) == kept
