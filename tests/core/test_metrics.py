"""Distances, embedders, coverage, diversity and the quality summary on known inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import table_factory as tf

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.metrics import (
    Embedder,
    HashingEmbedder,
    coverage,
    diversity,
    quality_summary,
    semantic_distances,
    syntactic_distance,
    syntactic_distances,
    tokenize,
)


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


def test_coverage_by_hand():
    cov = coverage(coverage_table()).set_index("side")
    assert list(cov.index) == ["chosen", "rejected", "either", "both"]
    # chosen: c1 and c2 have a non-failed row; c1's is a CF, c2's an SF
    assert cov.loc["chosen"].tolist() == pytest.approx([2, 0.5, 0.5])
    # rejected: only c1 counts; it has an SF but no CF
    assert cov.loc["rejected"].tolist() == pytest.approx([1, 0.0, 1.0])
    # either: c1 and c2 (c3 all failed); CF only in c1, SF in both
    assert cov.loc["either"].tolist() == pytest.approx([2, 0.5, 1.0])
    # both: only c1 has a usable row on each side, and neither kind is on each side of it
    assert cov.loc["both"].tolist() == pytest.approx([1, 0.0, 0.0])


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
    assert cov.loc["both"].tolist() == pytest.approx([2, 0.5, 0.0])
    assert cov.loc["either"].tolist() == pytest.approx([2, 1.0, 0.5])
    q = quality_summary(t).set_index("side")
    # only c1's two CFs count under "both"; "either" pools all three CFs
    assert q.loc["both", "n_cf"] == 2
    assert q.loc["both", "cf_syntactic"] == pytest.approx(0.3)
    assert q.loc["either", "cf_syntactic"] == pytest.approx((0.2 + 0.4 + 0.9) / 3)
    assert math.isnan(q.loc["both", "sf_syntactic"])


def test_coverage_of_all_failed_table_is_nan():
    cov = coverage(tf.table([tf.row("c1", "v", "chosen", 1.0, None)]))
    assert (cov["n_comparisons"] == 0).all()
    assert cov["cf_coverage"].isna().all() and cov["sf_coverage"].isna().all()


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
    assert q.loc["either", "cf_coverage"] == pytest.approx(0.5)
    assert q.loc["either", "n_failed"] == 3
    assert math.isnan(q.loc["both", "sf_syntactic"])


def test_missing_columns_are_named():
    with pytest.raises(DataError, match="outcome"):
        coverage(coverage_table().drop(columns=["outcome"]))
    with pytest.raises(DataError, match="DataFrame"):
        coverage([{"comparison_id": "c1"}])
