"""TransformersEmbedder: a tiny random encoder loaded through the real from_pretrained path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.embedders import TransformersEmbedder
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.metrics import semantic_distances
from rmx_widgets.core.study.run import evaluate


def test_embeddings_are_normalised_masked_means_independent_of_batching(tiny_encoder_rm):
    texts = [
        "a short one",
        "a much longer text with many more words than the first one",
        "mid length text here",
        "x",
    ]
    one = TransformersEmbedder(str(tiny_encoder_rm), batch_size=1)(texts)
    many = TransformersEmbedder(str(tiny_encoder_rm), batch_size=3)(texts)
    assert one.shape == (4, 64)
    np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, rtol=1e-5)
    # padding must not leak into the mean: batched and one-at-a-time agree, in input order
    np.testing.assert_allclose(one, many, atol=1e-5)
    assert not np.allclose(one[0], one[1])


def test_semantic_distance_with_the_encoder(tiny_encoder_rm):
    emb = TransformersEmbedder(str(tiny_encoder_rm))
    d = semantic_distances(
        ["same text", "same text"], ["same text", "other words entirely"], embedder=emb
    )
    assert d[0] == 0.0 and 0.0 < d[1] <= 2.0


def test_the_study_uses_a_model_embedder(tiny_encoder_rm):
    emb = TransformersEmbedder(str(tiny_encoder_rm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = evaluate(
            rmx.sample_comparisons()[:6],
            {"demo": rmx.TransparentRewardModel()},
            {"rules": rmx.RulePerturber()},
            attributes=["manner", "verbosity"],
            seeds=1,
            per_seed=6,
            embedder=emb,
            progress=False,
            n_boot=0,
        )
    assert "TransformersEmbedder" in study.config["embedder"]
    table = next(iter(study.tables.values()))
    ok = table[table["outcome"] != "failed"]
    assert ok["semantic_distance"].notna().all() and (ok["semantic_distance"] > 0).any()


def test_unloadable_model_says_which(tmp_path):
    with pytest.raises(RMXError, match="cannot load the embedding model"):
        TransformersEmbedder(str(tmp_path / "nothing-here"))(["text"])
    with pytest.raises(RMXError, match="batch_size"):
        TransformersEmbedder("x", batch_size=0)


def test_cli_embedder_option(tiny_encoder_rm, tmp_path, capsys):
    from rmx_widgets.cli import main

    out = tmp_path / "s"
    assert (
        main(
            [
                "evaluate",
                "--data",
                "rmx_widgets/data/sample_comparisons.jsonl",
                "--limit",
                "4",
                "--rm",
                "transparent",
                "--perturber",
                "rules",
                "--attributes",
                "manner",
                "--seeds",
                "1",
                "--per-seed",
                "4",
                "--n-boot",
                "10",
                "--no-report",
                "--embedder",
                str(tiny_encoder_rm),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "TransformersEmbedder" in (out / "study.json").read_text()
    assert (
        main(
            [
                "evaluate",
                "--data",
                "rmx_widgets/data/sample_comparisons.jsonl",
                "--rm",
                "transparent",
                "--perturber",
                "rules",
                "--embedder",
                str(tmp_path / "none"),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    assert "cannot load the embedding model" in capsys.readouterr().err


def test_the_study_embeds_each_text_once():
    from rmx_widgets.core.metrics import HashingEmbedder

    seen: list[str] = []

    def counting(texts):
        seen.extend(texts)
        return HashingEmbedder()(texts)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = evaluate(
            rmx.sample_comparisons()[:8],
            {"a": rmx.TransparentRewardModel(), "b": rmx.TransparentRewardModel(name="b")},
            {"rules": rmx.RulePerturber()},
            attributes=["manner", "verbosity"],
            seeds=1,
            per_seed=8,
            embedder=counting,
            progress=False,
            n_boot=0,
        )
    assert seen and len(seen) == len(set(seen))
    assert study.per_comparison["semantic"].notna().any()
