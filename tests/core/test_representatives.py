"""Local rankings and representative examples on hand-built tables."""

from __future__ import annotations

import pandas as pd
import pytest
import table_factory as tf

from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.representatives import local_rankings, representatives
from rmx_widgets.core.sensitivity import ranking, sensitivity


def test_local_rankings_by_hand():
    # margin 2. p: chosen -1 (CF), rejected 1 (SF): flips 1, drop mean(3/2, 1/2) = 1.0
    # q: 1 and 1.5: flips 0, drop mean(0.5, 0.25) = 0.375; r: 0.2 and failed: flips 0,
    # n 1, drop 0.9; s: both failed -> not ranked.
    rows = tf.comparison(
        "c1", 2.0, {"q": (1.0, 1.5), "p": (-1.0, 1.0), "r": (0.2, None), "s": (None, None)}
    )
    local = local_rankings(tf.table(rows))
    assert list(local.columns) == [
        "comparison_id",
        "attribute",
        "flips",
        "n",
        "flip_rate",
        "margin_drop",
        "rank",
    ]
    assert list(local["attribute"]) == ["p", "r", "q"]
    assert list(local["flips"]) == [1, 0, 0]
    assert list(local["n"]) == [2, 1, 2]
    # flip rates by hand: p 1/2, r 0/1, q 0/2; r and q tie on 0 and r's drop is larger
    assert local["flip_rate"].tolist() == pytest.approx([0.5, 0.0, 0.0])
    assert local["margin_drop"].tolist() == pytest.approx([1.0, 0.9, 0.375])
    assert list(local["rank"]) == [1, 2, 3]


def test_local_rankings_flips_beat_margin_and_ties_share_rank():
    # a: one flip with a tiny drop beats b: no flip with a big drop; c and d are identical
    rows = tf.comparison(
        "c1", 1.0, {"b": (0.01, 0.01), "a": (-0.01, 5.0), "c": (0.5, 0.5), "d": (0.5, 0.5)}
    )
    local = local_rankings(tf.table(rows)).set_index("attribute")
    assert local.loc["a", "rank"] == 1
    assert local.loc["b", "rank"] == 2
    assert local.loc["c", "rank"] == local.loc["d", "rank"] == 3


def test_local_rankings_use_flip_rates_not_counts():
    """A: 1 CF of 1 successful rewrite (its rejected-side rewrite failed), rate 1/1 = 1;
    B: 1 CF of 2 rewrites, rate 1/2. By counts they tied on 1 flip and B's larger drop put it
    first; by rates A ranks above B. C: no successful rewrite, so not ranked."""
    # margin 1. A: chosen -0.1 (CF), rejected failed: drop 1.1. B: chosen -2 (CF, drop 3),
    # rejected 0.5 (SF, drop 0.5): drop mean(3, 0.5) = 1.75.
    rows = tf.comparison("c1", 1.0, {"B": (-2.0, 0.5), "A": (-0.1, None), "C": (None, None)})
    local = local_rankings(tf.table(rows)).set_index("attribute")
    assert list(local.index) == ["A", "B"]
    assert local.loc["A", ["flips", "n"]].tolist() == [1, 1]
    assert local.loc["B", ["flips", "n"]].tolist() == [1, 2]
    assert local["flip_rate"].tolist() == pytest.approx([1.0, 0.5])
    assert local["margin_drop"].tolist() == pytest.approx([1.1, 1.75])
    assert local["rank"].tolist() == [1, 2]


def test_local_rankings_nan_drop_sorts_last_and_empty_table():
    # equal rates 0; x has a drop, y's margin_before is 0 (no relative change): y after x
    rows = tf.comparison("c1", 1.0, {"y": (0.5, 0.5), "x": (0.2, 0.2)})
    rows[0]["margin_before"] = 0.0
    rows[1]["margin_before"] = 0.0
    local = local_rankings(tf.table(rows))
    assert list(local["attribute"]) == ["x", "y"] and list(local["rank"]) == [1, 2]
    empty = local_rankings(tf.table(tf.comparison("c1", 1.0, {"a": (None, None)})))
    assert empty.empty and list(empty.columns) == list(local.columns)


def representative_table() -> pd.DataFrame:
    """Global ranking a > b > c > d (pooled PFR 8/12, 4/10, 3/12, 2/10).

    m1, m2, m3: local a, b, c, d (tau 1); p: a, b, d, c (one swap, tau 4/6);
    rev: d, c, b, a (tau -1); s: only two attributes (never representative).
    """
    match = {"a": (-1.0, -1.0), "b": (-1.0, 0.5), "c": (0.2, 0.2), "d": (0.8, 0.8)}
    rows = []
    for cid in ("m2", "m1", "m3"):
        rows += tf.comparison(cid, 1.0, match)
    rows += tf.comparison(
        "p", 1.0, {"a": (-1.0, -1.0), "b": (-1.0, 0.5), "d": (0.2, 0.2), "c": (0.8, 0.8)}
    )
    rows += tf.comparison(
        "rev", 1.0, {"d": (-1.0, -1.0), "c": (-1.0, 0.5), "b": (0.2, 0.2), "a": (0.8, 0.8)}
    )
    rows += tf.comparison("s", 1.0, {"c": (-1.0, -1.0), "a": (0.5, 0.5)})
    return tf.table(rows)


def test_global_ranking_of_fixture():
    sens = sensitivity(representative_table(), n_boot=0).set_index(["attribute", "direction"])
    assert sens.loc[("a", "both"), "pfr"] == pytest.approx(8 / 12)
    assert sens.loc[("b", "both"), "pfr"] == pytest.approx(4 / 10)
    assert sens.loc[("c", "both"), "pfr"] == pytest.approx(3 / 12)
    assert sens.loc[("d", "both"), "pfr"] == pytest.approx(2 / 10)
    assert ranking(sens.reset_index()) == ["a", "b", "c", "d"]


def test_representatives_pick_comparisons_matching_global_ranking():
    table = representative_table()
    reps = representatives(table, k=5)
    assert list(reps.columns) == ["comparison_id", "tau", "p", "n_attributes"]
    # m1..m3 tie at tau 1 and come out in id order; s has too few attributes
    assert list(reps["comparison_id"]) == ["m1", "m2", "m3", "p", "rev"]
    assert reps["tau"].tolist() == pytest.approx([1.0, 1.0, 1.0, 4 / 6, -1.0])
    assert list(reps["n_attributes"]) == [4, 4, 4, 4, 4]
    assert (reps["p"] > 0).all() and (reps["p"] <= 1).all()
    assert list(representatives(table, k=2)["comparison_id"]) == ["m1", "m2"]


def test_representatives_reuse_given_sensitivity():
    table = representative_table()
    sens = sensitivity(table, n_boot=0)
    # flip the global order by hand: now "rev" is the most representative
    reversed_sens = sens.copy()
    reversed_sens["pfr"] = 1.0 - reversed_sens["pfr"]
    assert list(representatives(table, k=1, sens=reversed_sens)["comparison_id"]) == ["rev"]
    with pytest.raises(RMXError, match="k must be"):
        representatives(table, k=0)
