"""Distances, embedders, coverage, diversity and the quality summary on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import table_factory as tf

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.metrics import (
    Embedder,
    HashingEmbedder,
    comparison_quality,
    coverage,
    diversity,
    quality_summary,
    semantic_distances,
    syntactic_distance,
    syntactic_distances,
    tokenize,
)
from rmx_widgets.core.study.quality import quality_by_seed


def test_tokenize_words_and_punctuation():
    assert tokenize("Don't stop, now!") == ["Don't", "stop", ",", "now", "!"]


def test_syntactic_distance_known_values():
    assert syntactic_distance("the cat sat down", "the dog sat down") == pytest.approx(0.25)
    # the comma is its own token: one deletion out of three tokens
    assert syntactic_distance("Hello, world", "Hello world") == pytest.approx(1 / 3)
    # whitespace does not matter, only tokens
    assert syntactic_distance("a  b\n c", "a b c") == 0.0
    assert syntactic_distance("", "") == 0.0
    assert syntactic_distance("two words", "") == 1.0
    # token-level: a long word changed counts like a short one
    assert syntactic_distance("x extraordinarily y z", "x very y z") == pytest.approx(0.25)


def test_syntactic_distances_nan_for_failed():
    out = syntactic_distances(["a b", "a b"], ["a c", None])
    assert out[0] == pytest.approx(0.5) and math.isnan(out[1])
    with pytest.raises(DataError, match="same length"):
        syntactic_distances(["a"], [])


def test_hashing_embedder_shape_norm_determinism():
    emb = HashingEmbedder()
    assert isinstance(emb, Embedder)
    vectors = emb(["Hello world", "hello,  WORLD!", ""])
    assert vectors.shape == (3, 1024)
    assert np.linalg.norm(vectors[0]) == pytest.approx(1.0)
    # case and punctuation are ignored; the empty text is the zero vector
    assert np.allclose(vectors[0], vectors[1])
    assert not vectors[2].any()
    # stable across instances (no salted hash)
    assert np.array_equal(HashingEmbedder()(["Hello world"])[0], vectors[0])
    with pytest.raises(RMXError):
        HashingEmbedder(dim=1)


def test_semantic_distances_hashing_known_value():
    # "a b" -> features {a, b, "a b"}, "a c" -> {a, c, "a c"}: one shared feature of three,
    # both norms sqrt(3), so cosine 1/3 and distance 2/3.
    out = semantic_distances(["a b", "same text", "x", ""], ["a c", "same text", None, ""])
    assert out[0] == pytest.approx(2 / 3)
    assert out[1] == pytest.approx(0.0)
    assert math.isnan(out[2])
    assert out[3] == 0.0  # two empty texts are identical


class TableEmbedder:
    """Known vectors (not normalised) so expected cosines can be written down."""

    vectors = {"x": [2.0, 0.0], "y": [0.0, 3.0], "z": [1.0, 1.0]}

    def __call__(self, texts: list[str]) -> np.ndarray:
        return np.array([self.vectors[t] for t in texts])


def test_semantic_distances_custom_embedder_is_normalised():
    out = semantic_distances(["x", "x"], ["y", "z"], embedder=TableEmbedder())
    assert out.tolist() == pytest.approx([1.0, 1 - 1 / math.sqrt(2)])


def test_bad_embedder_output_is_a_typed_error():
    with pytest.raises(RMXError, match="shape"):
        semantic_distances(["a"], ["b"], embedder=lambda texts: np.zeros(3))


def coverage_table():
    """c1: chosen CF, rejected SF; c2: chosen SF, rejected failed; c3: everything failed."""
    return tf.table(
        [
            tf.row("c1", "v", "chosen", 1.0, -0.5, syntactic_distance=0.1, semantic_distance=0.2),
            tf.row("c1", "v", "rejected", 1.0, 0.5, syntactic_distance=0.5, semantic_distance=0.6),
            tf.row("c2", "v", "chosen", 1.0, 0.2, syntactic_distance=0.7, semantic_distance=0.8),
            tf.row("c2", "v", "rejected", 1.0, None),
            tf.row("c3", "v", "chosen", 1.0, None),
            tf.row("c3", "v", "rejected", 1.0, None),
        ]
    )


FIRST = ["n_comparisons", "cf_coverage", "sf_coverage"]


def test_coverage_by_hand():
    """Every scope has the same denominator: the 3 comparisons with a row (failed or not)."""
    cov = coverage(coverage_table()).set_index("side")
    assert list(cov.reset_index().columns) == [
        "side",
        "n_comparisons",
        "cf_coverage",
        "sf_coverage",
        "n_rewrites",
        "n_failed",
        "failed_rate",
    ]
    assert list(cov.index) == ["chosen", "rejected", "either", "both"]
    # chosen: c1 CF, c2 SF, c3 failed -> CF 1/3, SF 1/3; failed rows 1 of 3
    assert cov.loc["chosen", FIRST].tolist() == pytest.approx([3, 1 / 3, 1 / 3])
    assert cov.loc["chosen", ["n_rewrites", "n_failed", "failed_rate"]].tolist() == pytest.approx(
        [3, 1, 1 / 3]
    )
    # rejected: c1 SF, c2 failed, c3 failed -> CF 0/3, SF 1/3; failed 2 of 3
    assert cov.loc["rejected", FIRST].tolist() == pytest.approx([3, 0.0, 1 / 3])
    assert cov.loc["rejected", ["n_rewrites", "n_failed", "failed_rate"]].tolist() == (
        pytest.approx([3, 2, 2 / 3])
    )
    # either: CF in c1 only (1/3); SF in c1 and c2 (2/3); failed 3 of all 6 rows
    assert cov.loc["either", FIRST].tolist() == pytest.approx([3, 1 / 3, 2 / 3])
    assert cov.loc["either", ["n_rewrites", "n_failed", "failed_rate"]].tolist() == (
        pytest.approx([6, 3, 0.5])
    )
    # both: no comparison has a CF (or an SF) on each side -> 0/3
    assert cov.loc["both", FIRST].tolist() == pytest.approx([3, 0.0, 0.0])


def test_coverage_one_side_failed_issue_example():
    """c1: CF on each side; c2: SF chosen, rejected rewrite failed. The old per-scope
    denominators gave chosen 0.5, rejected 1.0 (1/1), both 1.0 (1/1); by hand every scope is
    1 CF-comparison (c1) of 2 explained comparisons = 0.5."""
    t = tf.table(
        [
            tf.row("c1", "v", "chosen", 1.0, -0.5),
            tf.row("c1", "v", "rejected", 1.0, -0.5),
            tf.row("c2", "v", "chosen", 1.0, 0.5),
            tf.row("c2", "v", "rejected", 1.0, None),
        ]
    )
    cov = coverage(t).set_index("side")
    for scope in ("chosen", "rejected", "either", "both"):
        assert cov.loc[scope, "n_comparisons"] == 2
        assert cov.loc[scope, "cf_coverage"] == pytest.approx(1 / 2)
    # SF: chosen c2 (1/2), rejected none (0/2), either 1/2, both 0/2
    assert cov["sf_coverage"].tolist() == pytest.approx([0.5, 0.0, 0.5, 0.0])
    # failed: chosen 0 of 2 rows, rejected 1 of 2, either/both 1 of 4
    assert cov["failed_rate"].tolist() == pytest.approx([0.0, 0.5, 0.25, 0.25])
    assert_scopes_ordered(cov)
    # quality_summary shows the same numbers
    q = quality_summary(t).set_index("side")
    assert q.loc[:, FIRST + ["failed_rate"]].equals(cov.loc[:, FIRST + ["failed_rate"]])


def assert_scopes_ordered(cov):
    for col in ("cf_coverage", "sf_coverage"):
        c, r, e, b = (cov.loc[s, col] for s in ("chosen", "rejected", "either", "both"))
        assert b <= min(c, r) <= max(c, r) <= e <= 1


def test_coverage_of_one_comparison():
    """n = 1: c1 has an SF on the chosen side and a CF on the rejected side."""
    t = tf.table([tf.row("c1", "v", "chosen", 2.0, 1.0), tf.row("c1", "w", "rejected", 2.0, -1.0)])
    cov = coverage(t).set_index("side")
    assert (cov["n_comparisons"] == 1).all()
    assert cov["cf_coverage"].tolist() == [0.0, 1.0, 1.0, 0.0]
    assert cov["sf_coverage"].tolist() == [1.0, 0.0, 1.0, 0.0]
    assert cov["failed_rate"].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_both_needs_one_on_each_side():
    """A comparison counts under "both" only when each side has its own CF (resp. SF)."""
    t = tf.table(
        [
            tf.row("c1", "v", "chosen", 1.0, -0.5, syntactic_distance=0.2, semantic_distance=0.1),
            tf.row("c1", "v", "rejected", 1.0, -0.1, syntactic_distance=0.4, semantic_distance=0.3),
            tf.row("c2", "v", "chosen", 1.0, -0.5, syntactic_distance=0.9, semantic_distance=0.9),
            tf.row("c2", "v", "rejected", 1.0, 0.5, syntactic_distance=0.8, semantic_distance=0.8),
        ]
    )
    cov = coverage(t).set_index("side")
    assert cov.loc["both", FIRST].tolist() == pytest.approx([2, 0.5, 0.0])
    assert cov.loc["either", FIRST].tolist() == pytest.approx([2, 1.0, 0.5])
    q = quality_summary(t).set_index("side")
    # only c1's two CFs count under "both"; "either" pools all three CFs
    assert q.loc["both", "n_cf"] == 2
    assert q.loc["both", "cf_syntactic"] == pytest.approx(0.3)
    assert q.loc["either", "cf_syntactic"] == pytest.approx((0.2 + 0.4 + 0.9) / 3)
    assert math.isnan(q.loc["both", "sf_syntactic"])


def test_coverage_of_all_failed_table_is_zero_with_failed_rate_one():
    """Both comparisons were explained, every rewrite failed: nothing found (0 of 2), and the
    failure rate 1 says why; n_comparisons still counts them."""
    t = tf.table(
        [
            tf.row("c1", "v", "chosen", 1.0, None),
            tf.row("c2", "v", "chosen", 1.0, None),
            tf.row("c2", "v", "rejected", 1.0, None),
        ]
    )
    cov = coverage(t).set_index("side")
    assert (cov["n_comparisons"] == 2).all()
    assert (cov["cf_coverage"] == 0.0).all() and (cov["sf_coverage"] == 0.0).all()
    # chosen 2 rows, rejected 1 row (c1 has none there), either/both 3: all failed
    assert cov["n_rewrites"].tolist() == [2, 1, 3, 3]
    assert cov["failed_rate"].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_coverage_of_empty_table_is_not_measured():
    cov = coverage(tf.table([tf.row("c1", "v", "chosen", 1.0, -1.0)]).iloc[:0])
    assert list(cov["side"]) == ["chosen", "rejected", "either", "both"]
    assert (cov["n_comparisons"] == 0).all() and (cov["n_rewrites"] == 0).all()
    assert cov["cf_coverage"].isna().all() and cov["sf_coverage"].isna().all()
    assert cov["failed_rate"].isna().all()
    assert (
        quality_summary(tf.table([tf.row("c1", "v", "chosen", 1.0, -1.0)]).iloc[:0])["cf_coverage"]
        .isna()
        .all()
    )


def test_study_coverage_equals_metrics_coverage():
    """The study averages comparison_quality's ``found`` over a seed's comparisons; on the same
    table that must be metrics.coverage, scope by scope (here the issue's one-side-failed
    case plus an all-failed comparison: 3 comparisons)."""
    t = tf.table(
        [
            tf.row("c1", "v", "chosen", 1.0, -0.5),
            tf.row("c1", "v", "rejected", 1.0, -0.5),
            tf.row("c2", "v", "chosen", 1.0, 0.5),
            tf.row("c2", "v", "rejected", 1.0, None),
            tf.row("c3", "v", "chosen", 1.0, None),
        ]
    )
    cov = coverage(t).set_index("side")
    pc = comparison_quality(t)
    ids = ["c1", "c2", "c3"]
    rows = pd.DataFrame(quality_by_seed(pc, {0: ids}, set(ids))).set_index(["side", "kind"])
    for scope in ("chosen", "rejected", "either", "both"):
        for kind in ("CF", "SF"):
            study = rows.loc[(scope, kind)]
            assert study["n_comparisons"] == cov.loc[scope, "n_comparisons"] == 3
            assert study["coverage"] == pytest.approx(cov.loc[scope, f"{kind.lower()}_coverage"])
            assert study["failed_rate"] == pytest.approx(cov.loc[scope, "failed_rate"])
    # by hand: CF in c1 only -> 1/3 everywhere; SF chosen c2 -> 1/3, rejected/both 0, either 1/3
    assert rows.loc[("both", "CF"), "coverage"] == pytest.approx(1 / 3)
    assert rows.loc[("rejected", "SF"), "coverage"] == 0.0
    # failed: chosen c3 of 3 rows (1/3), rejected c2 of 2 (1/2), either/both 2 of 5
    assert rows.loc[("chosen", "CF"), "failed_rate"] == pytest.approx(1 / 3)
    assert rows.loc[("rejected", "SF"), "failed_rate"] == pytest.approx(1 / 2)
    assert rows.loc[("both", "CF"), ["n_rewrites", "n_failed"]].tolist() == [5, 2]


def test_diversity_by_hand():
    rows = [
        tf.row("c1", "v", "chosen", 1.0, -1.0, perturbed="x"),
        tf.row("c1", "w", "chosen", 1.0, -1.0, perturbed="y"),
        tf.row("c1", "u", "rejected", 1.0, -1.0, perturbed="z"),
        tf.row("c1", "t", "rejected", 1.0, 0.5, perturbed="not a CF, ignored"),
        tf.row("c2", "v", "chosen", 1.0, -1.0, perturbed="x"),
    ]
    out = diversity(tf.table(rows), embedder=TableEmbedder()).set_index("comparison_id")
    # pairs: x-y distance 1, x-z and y-z distance 1 - 1/sqrt(2)
    expected = (1.0 + 2 * (1 - 1 / math.sqrt(2))) / 3
    assert out.loc["c1", "n_cf"] == 3
    assert out.loc["c1", "diversity"] == pytest.approx(expected)
    assert out.loc["c2", "n_cf"] == 1 and math.isnan(out.loc["c2", "diversity"])


def test_quality_summary_by_hand():
    q = quality_summary(coverage_table()).set_index("side")
    assert q.loc["chosen", "n_cf"] == 1 and q.loc["chosen", "n_sf"] == 1
    assert q.loc["chosen", "cf_syntactic"] == pytest.approx(0.1)
    assert q.loc["chosen", "sf_semantic"] == pytest.approx(0.8)
    assert q.loc["rejected", "n_failed"] == 2
    assert math.isnan(q.loc["rejected", "cf_syntactic"])
    assert q.loc["either", "sf_syntactic"] == pytest.approx((0.5 + 0.7) / 2)
    # 1 CF-comparison (c1) of the 3 explained
    assert q.loc["either", "cf_coverage"] == pytest.approx(1 / 3)
    assert q.loc["either", "n_failed"] == 3
    assert math.isnan(q.loc["both", "sf_syntactic"])


def test_missing_columns_are_named():
    with pytest.raises(DataError, match="outcome"):
        coverage(coverage_table().drop(columns=["outcome"]))
    with pytest.raises(DataError, match="DataFrame"):
        coverage([{"comparison_id": "c1"}])
