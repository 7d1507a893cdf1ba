"""A store written before the redesign (schema 2, tests/data/legacy_store_v2.sqlite) is reused.

The file and the expected tables were written by the code as it stood at stop 8, with the two
configurations below. Rerunning them against a copy must ask the perturbers and the RMs for
nothing (every cache key is unchanged) and must rebuild the very same explanation table.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

import rmx_widgets as rmx

DATA = Path(__file__).resolve().parents[1] / "data"
ATTRIBUTES = ["verbosity", "manner", "avoid-to-answer", "correctness"]


def _configs():
    return {
        "rules": (rmx.TransparentRewardModel(), rmx.RulePerturber()),
        "random": (
            rmx.TransparentRewardModel({"length": 2.0, "refusal": -0.5, "hedging": 0.2}),
            rmx.RandomWordPerturber(),
        ),
    }


@pytest.mark.parametrize("tag", ["rules", "random"])
def test_legacy_store_is_reused_without_recomputing(tmp_path, tag):
    store = tmp_path / "store.sqlite"
    shutil.copy(DATA / "legacy_store_v2.sqlite", store)
    rm, pert = _configs()[tag]

    def refuse(*args, **kwargs):
        raise AssertionError("a cached result was computed again")

    rm.score = refuse  # type: ignore[method-assign]
    pert.perturb_batch = refuse  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = rmx.Explainer(
            rm, pert, attributes=ATTRIBUTES, store=store, progress=False
        ).explain(rmx.sample_comparisons()[:8])
    assert result.stats.perturbations_computed == 0
    assert result.stats.scores_computed == 0
    assert result.stats.perturbations_cached == len(result.table) == 64
    expected = pd.read_json(
        DATA / f"legacy_table_{tag}.jsonl", orient="records", lines=True, dtype=False
    )
    got = result.table[expected.columns].reset_index(drop=True)
    for col in expected.columns:
        if pd.api.types.is_float_dtype(expected[col]):
            pd.testing.assert_series_equal(
                got[col].astype(float),
                expected[col].astype(float),
                check_exact=False,
                rtol=1e-9,
                check_names=False,
            )
        else:
            assert (
                got[col].where(got[col].notna(), None).tolist()
                == expected[col].where(expected[col].notna(), None).tolist()
            ), col
