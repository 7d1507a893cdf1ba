"""The study tests each RM's attributes against its attribute-blind baseline (the null test of
``core.null_test``): the baseline's table is the null of the RM-vs-RM sensitivity rows."""

import warnings

import pandas as pd
from planted import RefusalPenaltyRM

import rmx_widgets as rmx
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import RulePerturber

ATTRIBUTES = ["avoid-to-answer", "coherence", "assertiveness"]


def _study(perturbers, tmp_path=None):
    comps = rmx.sample_comparisons()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one seed of all 52 comparisons: a single sample
        return rmx.evaluate(
            comps,
            {"planted": RefusalPenaltyRM(comps)},
            perturbers,
            attributes=ATTRIBUTES,
            seeds=1,
            per_seed=52,
            n_boot=100,
            progress=False,
        )


def test_the_baseline_is_the_null_and_the_planted_refusal_effect_is_significant(tmp_path):
    study = _study({"rules": RulePerturber(), "random": RandomWordPerturber(seed=0)})
    assert study.config["null"] == "random"
    sens = study.sensitivity[study.sensitivity["perturber"] == "rules"]
    assert (sens["null_n"] > 0).all() and sens["p_adjusted"].between(0, 1).all()
    hits = sens.loc[sens["significant"].fillna(False), ["attribute", "direction"]]
    assert ("avoid-to-answer", "worse") in set(map(tuple, hits.to_numpy()))
    assert ("coherence", "both") not in set(map(tuple, hits.to_numpy()))
    paths = study.save(tmp_path / "study")
    html = next(p for p in paths.values() if str(p).endswith(".html")).read_text()
    assert "null test (RM vs RM)" in html and "against random" in html


def test_without_a_baseline_there_is_no_null_test_and_nothing_reads_significant():
    study = _study({"rules": RulePerturber()})
    assert study.config["null"] is None
    sens = study.sensitivity
    assert sens["null_pfr"].isna().all() and sens["significant"].isna().all()
    assert isinstance(sens, pd.DataFrame) and len(sens) == 3 * len(ATTRIBUTES)
