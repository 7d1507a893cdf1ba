"""RM vs RM (core.compare): the one definition of an agreed comparison, Kendall's τ between
rankings, contrasting examples and ``rmx.compare``, on hand-built tables and preferences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import table_factory as tf

import rmx_widgets as rmx
from rmx_widgets.core import compare as cmp
from rmx_widgets.core.compare import (
    RMComparison,
    agreeing_comparisons,
    agreement,
    compare_tables,
    contrasting_examples,
    contrasting_pairs,
    kendall_tau,
    pairwise_tau,
    preferences,
)
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.sensitivity import ranking, sensitivity


def prefs(values: dict) -> pd.Series:
    """A preferences series by hand: comparison_id -> 'a' / 'b' / None (a tie)."""
    return pd.Series(values, dtype=object)


def get(sens: pd.DataFrame, attribute: str, direction: str) -> pd.Series:
    rows = sens[(sens["attribute"] == attribute) & (sens["direction"] == direction)]
    assert len(rows) == 1
    return rows.iloc[0]


# -- agreement: a tie for none of the RMs, and the same preference for all ---------------------
def test_agreement_of_two_rms_by_hand():
    a = prefs({"same": "a", "other": "a", "tie_b": "b", "both_b": "b", "only_a": "a"})
    b = prefs({"same": "a", "other": "b", "tie_b": None, "both_b": "b"})  # only_a: not scored
    agreed = agreement([a, b])
    assert list(agreed.index) == ["same", "other", "tie_b", "both_b", "only_a"]  # a's order
    assert agreed.to_dict() == {
        "same": True,
        "other": False,
        "tie_b": False,
        "both_b": True,
        "only_a": False,
    }
    assert agreed.dtype == bool


def test_a_tie_for_every_rm_is_not_agreed():
    both_tie = prefs({"c": None})
    assert not agreement([both_tie, both_tie])["c"]


def test_one_rm_agrees_on_everything_it_does_not_tie():
    agreed = agreement([prefs({"x": "a", "y": "b", "z": None})])
    assert agreed.to_dict() == {"x": True, "y": True, "z": False}


def test_all_rms_must_agree_with_three():
    a = prefs({"c1": "a", "c2": "a", "c3": "b"})
    b = prefs({"c1": "a", "c2": "a", "c3": "b"})
    c = prefs({"c1": "a", "c2": "b", "c3": "b"})
    assert agreement([a, b, c]).to_dict() == {"c1": True, "c2": False, "c3": True}
    # the pairs: a and b agree everywhere, a and c only where c does not differ
    assert agreement([a, b]).all()
    assert agreement([a, c]).to_dict() == {"c1": True, "c2": False, "c3": True}


def test_agreement_judges_the_given_ids_in_their_order():
    a, b = prefs({"c1": "a", "c2": "b"}), prefs({"c2": "b", "c1": "a"})
    assert list(agreement([a, b], ids=["c2", "missing", "c1"]).items()) == [
        ("c2", True),
        ("missing", False),
        ("c1", True),
    ]


def test_agreement_needs_at_least_one_rm():
    with pytest.raises(RMXError, match="at least one reward model"):
        agreement([])


def test_preferences_from_a_table_and_from_originals():
    table = tf.table(
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5), "y": (0.5, 0.5)})
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)}, preferred="b")
    )
    assert preferences(table).to_dict() == {"c1": "a", "c2": "b"}
    originals = pd.DataFrame(
        {"comparison_id": ["c1", "c2"], "preferred": ["a", None], "tie": [False, True]}
    )
    pref = preferences(originals)
    assert pref["c1"] == "a" and pd.isna(pref["c2"])
    with pytest.raises(DataError, match="preferred"):
        preferences(table.drop(columns=["preferred"]))


def test_agreeing_comparisons_of_tables_skip_ties_and_disagreements():
    rows_a = (
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5)})
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)})
        + tf.comparison("c3", 1.0, {"x": (0.5, 0.5)})
    )
    rows_b = (
        tf.comparison("c1", 1.0, {"x": (0.5, 0.5)}, rm="rm-b")
        + tf.comparison("c2", 1.0, {"x": (0.5, 0.5)}, preferred="b", rm="rm-b")
        + tf.comparison("c3", 1.0, {"x": (0.5, 0.5)}, preferred=None, rm="rm-b")
    )
    table_a, table_b = tf.table(rows_a), tf.table(rows_b)
    assert agreeing_comparisons(table_a, table_b) == ["c1"]
    assert agreeing_comparisons(table_a) == ["c1", "c2", "c3"]
    assert agreeing_comparisons(table_a, table_b, table_a) == ["c1"]


# -- Kendall's τ ------------------------------------------------------------------------------
def test_kendall_tau_of_identical_rankings_is_one():
    tau, p = kendall_tau(["a", "b", "c"], ["a", "b", "c"])
    assert tau == pytest.approx(1.0)
    assert 0.0 < p <= 1.0


def test_kendall_tau_known_rankings():
    assert kendall_tau(["a", "b", "c", "d"], ["a", "b", "c", "d"])[0] == pytest.approx(1.0)
    # only common attributes count: b holds d, c, b, a in that order -> reversed
    assert kendall_tau(["a", "b", "c", "d"], ["d", "x", "c", "b", "a"])[0] == pytest.approx(-1.0)
    # one adjacent swap among 4: 5 concordant, 1 discordant pairs -> (5 - 1) / 6
    tau, p = kendall_tau(["a", "b", "c", "d"], ["b", "a", "c", "d"])
    assert tau == pytest.approx(4 / 6)
    assert 0.0 < p <= 1.0
    tau, p = kendall_tau(["a", "b"], ["c", "a"])
    assert math.isnan(tau) and math.isnan(p)


def test_pairwise_tau_is_a_full_symmetric_matrix():
    rankings = {"A": ["x", "y", "z"], "B": ["z", "y", "x"], "C": ["x", "y"]}
    rows = pairwise_tau(rankings)
    assert list(rows.columns) == ["rm_a", "rm_b", "tau", "p_value", "n_attributes"]
    matrix = rows.pivot(index="rm_a", columns="rm_b", values="tau")
    assert np.diag(matrix.loc[["A", "B", "C"], ["A", "B", "C"]]) == pytest.approx([1, 1, 1])
    assert matrix.loc["A", "B"] == matrix.loc["B", "A"] == pytest.approx(-1.0)
    assert matrix.loc["A", "C"] == pytest.approx(1.0)  # over the two attributes both rank
    n = rows.set_index(["rm_a", "rm_b"])["n_attributes"]
    assert (n[("A", "B")], n[("A", "C")], n[("C", "C")]) == (3, 2, 2)
    assert pairwise_tau({}).empty


# -- contrasting examples ---------------------------------------------------------------------
def contrasting_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """x1: both RMs rank a, b, c (tau 1); x2: B ranks the reverse (tau -1); x3: B prefers the
    other response, so it is never a contrasting example however different."""
    forward = {"a": (-1.0, -1.0), "b": (-1.0, 0.5), "c": (0.5, 0.5)}
    backward = {"c": (-1.0, -1.0), "b": (-1.0, 0.5), "a": (0.5, 0.5)}
    table_a = tf.table(
        tf.comparison("x1", 1.0, forward)
        + tf.comparison("x2", 1.0, forward)
        + tf.comparison("x3", 1.0, forward)
    )
    table_b = tf.table(
        tf.comparison("x1", 1.0, forward, rm="rm-b")
        + tf.comparison("x2", 1.0, backward, rm="rm-b")
        + tf.comparison("x3", 1.0, backward, preferred="b", rm="rm-b")
    )
    return table_a, table_b


def test_contrasting_examples_pick_the_disagreeing_comparison():
    table_a, table_b = contrasting_tables()
    out = contrasting_examples(table_a, table_b, k=5)
    assert list(out["comparison_id"]) == ["x2", "x1"]
    assert out["tau"].tolist() == pytest.approx([-1.0, 1.0])
    assert list(out["n_attributes"]) == [3, 3]
    assert list(contrasting_examples(table_a, table_b, k=1)["comparison_id"]) == ["x2"]
    with pytest.raises(RMXError, match="k must be"):
        contrasting_examples(table_a, table_b, k=0)


def test_contrasting_pairs_rank_every_pair_once():
    table_a, table_b = contrasting_tables()
    out = contrasting_pairs({"A": table_a, "B": table_b, "A2": table_a}, k=1)
    assert list(out.columns) == [
        "rm_a",
        "rm_b",
        "rank",
        "comparison_id",
        "tau",
        "p",
        "n_attributes",
    ]
    assert list(zip(out["rm_a"], out["rm_b"], out["comparison_id"])) == [
        ("A", "B", "x2"),
        ("A", "A2", "x1"),
        ("B", "A2", "x2"),
    ]
    assert list(out["rank"]) == [1, 1, 1]
    assert contrasting_pairs({"A": table_a}).empty


# -- compare_tables and rmx.compare -----------------------------------------------------------
def two_rm_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """RM A: x flips both sides, y flips the chosen side only, z never (in c1..c4).
    RM B on c1..c3: z flips both, y chosen only, x never -> ranking z, y, x. On c4 B prefers the
    other response and has 20 extra flipping x rows, which would put x first if c4 counted."""
    a_rows, b_rows = [], []
    for cid in ("c1", "c2", "c3", "c4"):
        a_rows += tf.comparison(
            cid, 1.0, {"x": (-1.0, -1.0), "y": (-1.0, 0.5), "z": (0.5, 0.5)}, rm="rm-A"
        )
    for cid in ("c1", "c2", "c3"):
        b_rows += tf.comparison(
            cid, 1.0, {"x": (0.5, 0.5), "y": (-1.0, 0.5), "z": (-1.0, -1.0)}, rm="rm-B"
        )
    b_rows += tf.comparison(
        "c4", 1.0, {"x": (-1.0, -1.0), "y": (0.5, 0.5), "z": (0.5, 0.5)}, preferred="b", rm="rm-B"
    )
    b_rows += [tf.row("c4", "x", "chosen", 1.0, -1.0, preferred="b", rm="rm-B") for _ in range(20)]
    return tf.table(a_rows), tf.table(b_rows)


def test_compare_tables_restricts_tau_to_agreeing_comparisons():
    table_a, table_b = two_rm_tables()
    # on the full B table, x ranks first (22 of 28 rewrites flip)
    assert ranking(sensitivity(table_b, n_boot=0))[0] == "x"
    result = compare_tables(table_a, table_b, k=2, n_boot=100)
    assert isinstance(result, RMComparison)
    assert result.n_agree == 3 and result.n_common == 4
    assert result.ranking_a == ["x", "y", "z"]
    assert result.ranking_b == ["z", "y", "x"]
    assert result.tau == pytest.approx(-1.0)
    assert (result.name_a, result.name_b) == ("rm-A", "rm-B")
    # sens_a / sens_b describe each full table (c4 included)
    assert get(result.sens_a, "x", "both")["n"] == 8
    assert get(result.sens_b, "x", "both")["n"] == 28
    # every agreeing comparison has reversed local rankings; ties broken by id
    assert list(result.contrasting["comparison_id"]) == ["c1", "c2"]
    assert result.contrasting["tau"].tolist() == pytest.approx([-1.0, -1.0])


def test_compare_tables_without_shared_comparisons_is_an_error():
    table_a, _ = two_rm_tables()
    other = tf.table(tf.comparison("zz", 1.0, {"x": (1.0, 1.0)}))
    with pytest.raises(DataError, match="share no comparison_id"):
        compare_tables(table_a, other)


def test_rmx_compare_is_compare_tables_on_the_results():
    assert rmx.compare is cmp.compare
    comps = rmx.sample_comparisons()[:12]
    perturber = rmx.RulePerturber()
    attrs = ["manner", "engagement", "assertiveness", "relevance"]
    rm_a = rmx.TransparentRewardModel({"pleasantries": 3.0, "hedging": -1.0, "length": 0.2})
    rm_b = rmx.TransparentRewardModel({"hedging": -3.0, "pleasantries": 0.5, "length": 0.2})
    res_a = rmx.Explainer(rm_a, perturber, attributes=attrs, progress=False).explain(comps)
    res_b = rmx.Explainer(rm_b, perturber, attributes=attrs, progress=False).explain(comps)
    got = rmx.compare(res_a, res_b, k=3)
    want = compare_tables(res_a.table, res_b.table, k=3)
    assert (got.n_agree, got.ranking_a, got.ranking_b) == (
        want.n_agree,
        want.ranking_a,
        want.ranking_b,
    )
    assert got.tau == pytest.approx(want.tau)
    agreed = agreement([preferences(res_a.originals), preferences(res_b.originals)])
    assert got.n_agree == int(agreed.sum())  # tables and originals: the same definition
