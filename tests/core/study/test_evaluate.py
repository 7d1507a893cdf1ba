"""The paper's study (core.study): hand-computed quality figures, planted rankings, τ.

The small fixed case uses a counting RM and a perturber whose every rewrite is written out
below, so each coverage, distance and diversity value can be computed by hand. The planted
cases use transparent RMs whose weights are known, on the bundled sample data with the rule
perturber, so the study must recover the ranking we put in.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from planted import PLANTED_ORDER, PLANTED_WEIGHTS, planted_rms
from scipy import stats

import rmx_widgets as rmx
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.perturbers.base import BasePerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.study.inputs import sample_ids
from rmx_widgets.core.study.run import evaluate

ATTRS = [
    {"name": "a", "definition": "how good it is"},
    {"name": "b", "definition": "an attribute the RM ignores"},
]
COMPS = [
    {"id": "c1", "prompt": "p1", "chosen": "good", "rejected": "meh"},
    {"id": "c2", "prompt": "p2", "chosen": "good good good", "rejected": "bad"},
    {"id": "c3", "prompt": "p3", "chosen": "same", "rejected": "also same"},  # a tie
]


def counting_rm(prompts, responses):
    return [float(r.split().count("good") - r.split().count("bad")) for r in responses]


def hand_perturber(prompt, response, attribute, direction):
    if attribute.name == "a":
        return response + (" bad bad" if direction == "worse" else " good good good")
    if direction == "worse":
        return response + " x"
    return response  # unchanged: a failed rewrite


class CountEmbedder:
    """Vectors [#good, #bad, #x, 1]: cosines can be written down by hand."""

    def __call__(self, texts):
        return np.array(
            [
                [t.split().count("good"), t.split().count("bad"), t.split().count("x"), 1.0]
                for t in texts
            ]
        )


def cos_dist(u, v):
    u, v = np.asarray(u, float), np.asarray(v, float)
    return 1 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v))


@pytest.fixture(scope="module")
def hand_study():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(
            COMPS,
            {"count": counting_rm},
            {"hand": hand_perturber},
            attributes=ATTRS,
            seeds=[0],
            per_seed=3,
            embedder=CountEmbedder(),
            progress=False,
            n_boot=0,
        )


def q(study, side, kind, seed=0):
    rows = study.quality
    row = rows[(rows["seed"] == seed) & (rows["side"] == side) & (rows["kind"] == kind)]
    assert len(row) == 1
    return row.iloc[0]


def test_coverage_by_hand(hand_study):
    # c3 is a tie and leaves the denominator; c1 flips on both sides with "a", c2 never flips
    for side in ("chosen", "rejected", "either", "both"):
        row = q(hand_study, side, "CF")
        assert row["n_comparisons"] == 2
        assert row["coverage"] == pytest.approx(0.5)
        assert row["coverage_se"] == pytest.approx(0.5)  # std([1, 0]) / sqrt(2)
    # SFs: the chosen side always has one; c1's rejected side only has a failed "b" rewrite
    assert q(hand_study, "chosen", "SF")["coverage"] == pytest.approx(1.0)
    assert q(hand_study, "chosen", "SF")["coverage_se"] == pytest.approx(0.0)
    assert q(hand_study, "rejected", "SF")["coverage"] == pytest.approx(0.5)
    assert q(hand_study, "both", "SF")["coverage"] == pytest.approx(0.5)


def test_distances_by_hand(hand_study):
    # c1's CFs: "good" -> "good bad bad" (2 of 3 tokens inserted), "meh" -> "meh good good good"
    assert q(hand_study, "chosen", "CF")["syntactic"] == pytest.approx(2 / 3)
    assert math.isnan(q(hand_study, "chosen", "CF")["syntactic_se"])  # one comparison
    assert q(hand_study, "rejected", "CF")["syntactic"] == pytest.approx(3 / 4)
    assert q(hand_study, "both", "CF")["syntactic"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    # chosen SFs: c1 "good x" (1/2); c2 "... bad bad" (2/5) and "... x" (1/4), mean 0.325
    sf = q(hand_study, "chosen", "SF")
    assert sf["syntactic"] == pytest.approx((0.5 + 0.325) / 2)
    assert sf["syntactic_se"] == pytest.approx(abs(0.5 - 0.325) / math.sqrt(2) / math.sqrt(2))
    assert sf["syntactic_n"] == 2
    # semantic distance with the count embedder: "good" [1,0,0,1] vs "good bad bad" [1,2,0,1]
    assert q(hand_study, "chosen", "CF")["semantic"] == pytest.approx(
        cos_dist([1, 0, 0, 1], [1, 2, 0, 1])
    )


def test_diversity_by_hand(hand_study):
    # only c2's chosen side has two SFs: [3,2,0,1] and [3,0,1,1]
    sf = q(hand_study, "chosen", "SF")
    assert sf["diversity"] == pytest.approx(cos_dist([3, 2, 0, 1], [3, 0, 1, 1]))
    assert sf["diversity_n"] == 1
    # under "either", c1 pools its chosen CF with its rejected CF
    cf = q(hand_study, "either", "CF")
    assert cf["diversity"] == pytest.approx(cos_dist([1, 2, 0, 1], [3, 0, 0, 1]))


def test_summary_main_table_and_files(hand_study, tmp_path):
    summary = hand_study.quality_summary
    row = summary[(summary["side"] == "both") & (summary["kind"] == "CF")].iloc[0]
    assert row["n_seeds"] == 1 and row["coverage"] == pytest.approx(0.5)
    # one seed is a single sample: the ± is over its 2 explained comparisons (found 1 and 0),
    # std([1, 0]) / sqrt(2) = 0.5, instead of nothing (one seed has no seed-to-seed spread)
    assert row["sampling"] == "single sample" and row["se_over"] == "comparisons"
    main = hand_study.main_table(side="both")
    assert main.loc[0, "CF coverage"] == "0.500 ± 0.500"
    assert main.loc[0, "± s.e. over"] == "comparisons"
    paths = hand_study.save(tmp_path / "study", report=False)
    back = pd.read_csv(paths["quality"])
    assert len(back) == len(hand_study.quality)
    assert set(pd.read_parquet(paths["tables"])["rm"]) == {"count"}
    assert "report" not in paths


def test_save_writes_the_report_with_the_renderer_it_was_given(hand_study, tmp_path):
    """The result does not import its renderer: ``evaluate`` hands it one, and a result
    without one refuses to pretend it wrote a report."""
    bare = dataclasses.replace(hand_study, render_report=None)
    with pytest.raises(RMXError, match="no report renderer"):
        bare.save(tmp_path / "bare")
    assert not (tmp_path / "bare").exists()  # refused before writing anything
    assert "report" not in bare.save(tmp_path / "bare", report=False)
    seen = []

    def render(result, path):
        seen.append(result)
        path.write_text("report")
        return path

    paths = dataclasses.replace(hand_study, render_report=render).save(tmp_path / "given")
    assert paths["report"] == tmp_path / "given" / "report.html"
    assert len(seen) == 1 and seen[0].quality is hand_study.quality


def test_seeds_slice_one_run(tmp_path):
    """Two seeds of two comparisons: each seed's figures come from its own sample only. Three
    comparisons cannot give two disjoint samples of two, so the seeds overlap (in one
    comparison) and the summary is the mean over the three distinct comparisons, not over
    the two dependent seeds."""
    comps = COMPS[:2] + [{"id": "c4", "prompt": "p4", "chosen": "good good", "rejected": "x"}]
    with pytest.warns(UserWarning, match="overlap"):
        study = evaluate(
            comps,
            {"count": counting_rm},
            {"hand": hand_perturber},
            attributes=ATTRS,
            seeds=[0, 1],
            per_seed=2,
            progress=False,
            n_boot=0,
            embedder=CountEmbedder(),
        )
    pc = study.per_comparison
    for seed, ids in study.samples["data"].items():
        assert len(ids) == 2
        rows = pc[pc["comparison_id"].isin(ids) & (pc["side"] == "chosen") & (pc["kind"] == "CF")]
        assert q(study, "chosen", "CF", seed)["coverage"] == pytest.approx(rows["found"].mean())
    a, b = study.samples["data"].values()
    assert len(set(a) & set(b)) == 1 and set(a) | set(b) == {"c1", "c2", "c4"}
    rows = pc[(pc["side"] == "chosen") & (pc["kind"] == "CF")]
    summary = study.quality_summary
    got = summary[(summary["side"] == "chosen") & (summary["kind"] == "CF")].iloc[0]
    assert got["sampling"] == "overlapping" and got["se_over"] == "comparisons"
    assert got["n_comparisons"] == 3 and got["n_seeds"] == 2
    assert got["coverage"] == pytest.approx(rows["found"].mean())
    assert study.sampling == {"data": "overlapping"}


def test_sample_ids_are_seeded_and_distinct():
    ids = [f"c{i}" for i in range(40)]
    a, b = sample_ids(ids, [0, 1], 30), sample_ids(ids, [0, 1], 30)
    assert a == b and a[0] != a[1]
    assert all(len(set(v)) == 30 for v in a.values())


# --------------------------------------------------------------------------------------------
# Planted rankings with transparent RMs on the sample data and the rule perturber
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def planted_study():
    rms = planted_rms()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(
            rmx.sample_comparisons(),
            rms,
            {"rules": rmx.RulePerturber()},
            attributes=PLANTED_ORDER,
            progress=False,
            n_boot=200,
        )


def test_pfr_ranking_recovers_the_planted_ranking(planted_study):
    s = planted_study.sensitivity
    pooled = s[(s["rm"] == "planted") & (s["direction"] == "both")].set_index("attribute")
    pfr = pooled.loc[PLANTED_ORDER, "pfr"].to_numpy()
    rho = stats.spearmanr(PLANTED_WEIGHTS, pfr).statistic
    assert rho >= 0.9, (rho, dict(zip(PLANTED_ORDER, pfr)))


def test_kendall_tau_same_weights_is_one_reversed_is_negative(planted_study):
    tau = planted_study.tau_matrix()
    assert tau.loc["planted", "copy"] == pytest.approx(1.0)
    assert tau.loc["planted", "planted"] == pytest.approx(1.0)
    assert tau.loc["planted", "reversed"] < 0
    assert tau.loc["reversed", "planted"] == pytest.approx(tau.loc["planted", "reversed"])


def test_sensitivity_uses_only_comparisons_all_rms_agree_on(planted_study):
    agree = planted_study.agreement
    n_agree = int(agree["all_agree"].sum())
    assert 0 < n_agree < len(agree)  # the reversed RM disagrees somewhere
    assert set(planted_study.sensitivity["n_agree"]) == {n_agree}
    kept = set(agree.loc[agree["all_agree"], "comparison_id"])
    reps = planted_study.representatives
    assert set(reps["comparison_id"]) <= kept
    assert set(reps["rm"]) == {"planted", "copy", "reversed"}
    con = planted_study.contrasting
    assert set(zip(con["rm_a"], con["rm_b"])) <= {
        ("planted", "copy"),
        ("planted", "reversed"),
        ("copy", "reversed"),
    }
    # contrasting examples need only the pair to agree (DESIGN §1), not every RM
    for (a, b), rows in con.groupby(["rm_a", "rm_b"]):
        pair = agree[agree[f"preferred_{a}"] == agree[f"preferred_{b}"]]
        assert set(rows["comparison_id"]) <= set(pair["comparison_id"])


# --------------------------------------------------------------------------------------------
# Skips and bad input
# --------------------------------------------------------------------------------------------


class UnavailablePerturber(BasePerturber):
    identity = "nowhere:v1"
    attribute_aware = False

    def why_unavailable(self):
        return "the model hub cannot be reached"

    def perturb_batch(self, requests, on_result=None):
        raise AssertionError("an unavailable perturber must not be asked")


def test_unavailable_perturber_is_skipped_with_its_reason():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = evaluate(
            COMPS,
            {"count": counting_rm},
            {"hand": hand_perturber, "gone": UnavailablePerturber()},
            attributes=ATTRS,
            seeds=1,
            per_seed=3,
            progress=False,
            n_boot=0,
        )
    assert study.skipped == {"gone": "the model hub cannot be reached"}
    assert set(study.quality["perturber"]) == {"hand"}
    assert study.primary == "hand"


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"rms": {}}, RMXError, "at least one reward model"),
        ({"perturbers": "rules"}, RMXError, "as a list or a dict"),
        ({"seeds": 0}, RMXError, "seeds must be at least 1"),
        ({"seeds": [1, 1]}, RMXError, "distinct"),
        ({"per_seed": 0}, RMXError, "per_seed"),
        ({"primary": "nope"}, RMXError, "primary"),
        ({"comparisons": COMPS + [COMPS[0]]}, DataError, "duplicate comparison id"),
        ({"comparisons": rmx.load_comparisons(COMPS) * 2}, DataError, "'c1' twice"),
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs, error, match):
    args = {
        "comparisons": COMPS,
        "rms": {"count": counting_rm},
        "perturbers": {"hand": hand_perturber},
    }
    args.update(kwargs)
    comps, rms, perts = args.pop("comparisons"), args.pop("rms"), args.pop("perturbers")
    with pytest.raises(error, match=match):
        evaluate(comps, rms, perts, attributes=ATTRS, progress=False, **args)


# --------------------------------------------------------------------------------------------
# The attribute-targeted rules against the random word baseline (README, "Reproducing the
# paper"): measured on the sample data with the default transparent RM, 5 seeds × 30.
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules_vs_random():
    from rmx_widgets.core.perturbers.random_words import RandomWordPerturber

    perturbers = {
        "rules": rmx.RulePerturber(),
        "random": RandomWordPerturber(),
        "random0.3": RandomWordPerturber(fraction=0.3),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = evaluate(
            rmx.sample_comparisons(),
            {"transparent": TransparentRewardModel()},
            perturbers,
            progress=False,
            n_boot=0,
        )
    s = study.quality_summary
    return s[s["kind"] == "CF"].set_index(["side", "perturber"])


def test_rules_find_more_counterfactuals_than_random_words(rules_vs_random):
    cf = rules_vs_random
    for side in ("chosen", "rejected", "either", "both"):
        for baseline in ("random", "random0.3"):
            assert cf.loc[(side, "rules"), "coverage"] > cf.loc[(side, baseline), "coverage"]
    # both sides flipped: 0.288 ± 0.063 for the rules, 0.058 ± 0.033 for random words (15 %)
    assert cf.loc[("both", "rules"), "coverage"] > 3 * cf.loc[("both", "random"), "coverage"]


def test_rule_counterfactuals_are_not_closer_than_random_ones(rules_vs_random):
    """Documents an honest negative: the rules' CFs are *further* from the original than the
    random baseline's (both sides: syntactic 0.50 vs 0.10), because the strongest transparent
    feature is a refusal and the avoid-to-answer rule replaces the whole response. At a
    matched distance on the rejected side (random at 30 % of words, ≈ 0.25 vs 0.27) the rules
    still find more CFs (0.30 vs 0.19)."""
    cf = rules_vs_random
    assert cf.loc[("both", "rules"), "syntactic"] > cf.loc[("both", "random"), "syntactic"]
    rules, matched = cf.loc[("rejected", "rules")], cf.loc[("rejected", "random0.3")]
    assert abs(rules["syntactic"] - matched["syntactic"]) < 0.05
    assert rules["coverage"] > matched["coverage"]


def test_a_rerun_on_the_same_store_recomputes_nothing(tmp_path):
    """Rewrites are cached across RMs and runs: a second RM with the same preferences asks for
    no rewrite, and a rerun of the whole study asks for none."""
    calls = []

    def counting_perturber(prompt, response, attribute, direction):
        calls.append((response, attribute.name, direction))
        return hand_perturber(prompt, response, attribute, direction)

    store = tmp_path / "study.sqlite"
    args = (
        COMPS,
        {"count": counting_rm, "same": lambda p, r: counting_rm(p, r)},
        {"hand": rmx.CallablePerturber(counting_perturber, name="hand:v1")},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = evaluate(
            *args, attributes=ATTRS, seeds=1, per_seed=3, store=store, progress=False, n_boot=0
        )
        assert len(calls) == 2 * 2 * 2  # 2 explained comparisons × 2 attributes × 2 sides
        again = evaluate(
            *args, attributes=ATTRS, seeds=1, per_seed=3, store=store, progress=False, n_boot=0
        )
    assert len(calls) == 8
    pd.testing.assert_frame_equal(first.quality, again.quality)


def test_ties_are_reported_not_silently_dropped(hand_study):
    """c3 is a tie for the counting RM: it is out of every denominator, and the study says so."""
    assert set(hand_study.quality["n_ties"]) == {1}
    agree = hand_study.agreement.set_index("comparison_id")
    assert pd.isna(agree.loc["c3", "preferred_count"]) and not agree.loc["c3", "all_agree"]


def test_polyjuice_is_checked_at_its_own_path(tmp_path):
    """The study asks the perturber about *its* model, not the default hub name."""
    from rmx_widgets.core.perturbers.polyjuice import PolyjuicePerturber

    missing = PolyjuicePerturber(str(tmp_path / "no-such-model"))
    assert "does not exist" in missing.why_unavailable()
    (tmp_path / "pj").mkdir()
    assert "config.json" in PolyjuicePerturber(str(tmp_path / "pj")).why_unavailable()
