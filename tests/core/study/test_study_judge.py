"""The rewrite judge in the study (``evaluate(..., judge=..., valid_only=...)``).

The hand case: a counting RM, a perturber whose every rewrite is written out below, and a judge
with known verdicts, so every valid-rewrite count, valid-only coverage and PFR is computed by
hand here. The feature case: the rule perturber with ``FeatureJudge`` against the random-word
baseline on the sample data, checked against counts taken from the explanation tables.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.study.run import evaluate
from rmx_widgets.core.study.validity import BASELINE_REASON
from rmx_widgets.core.validity.base import CallableJudge
from rmx_widgets.core.validity.features import FeatureJudge

ATTRS = [
    {"name": "a", "definition": "how good it is"},
    {"name": "b", "definition": "an attribute the RM ignores"},
]
# c1: chosen "good" (1) vs "meh" (0); c2: "good good good" (3) vs "bad" (-1); c3: a tie
COMPS = [
    {"id": "c1", "prompt": "p1", "chosen": "good", "rejected": "meh"},
    {"id": "c2", "prompt": "p2", "chosen": "good good good", "rejected": "bad"},
    {"id": "c3", "prompt": "p3", "chosen": "same", "rejected": "also same"},
]


def counting_rm(prompts, responses):
    return [float(r.split().count("good") - r.split().count("bad")) for r in responses]


def hand_perturber(prompt, response, attribute, direction):
    """a worse: + "bad bad" (c1 flips: CF; c2 holds: SF); a better: + "good good good" (c1
    flips, c2 holds); b worse: + "x" (SF); b better: unchanged, a failed rewrite."""
    if attribute.name == "a":
        return response + (" bad bad" if direction == "worse" else " good good good")
    if direction == "worse":
        return response + " x"
    return response


def judge_of(verdict, name):
    """A judge with known verdicts that counts its calls (its name fixes its identity, so
    the count may change without changing which cached verdicts are its own)."""
    calls = []

    def fn(original, rewrite, attribute, direction):
        calls.append((original, rewrite, attribute, direction))
        return verdict(attribute, direction)

    return CallableJudge(fn, name=name), calls


def hand(judge=None, valid_only=False, store=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(
            COMPS,
            {"count": counting_rm},
            {"hand": hand_perturber, "random": RandomWordPerturber()},
            attributes=ATTRS,
            seeds=[0],
            per_seed=3,
            n_boot=20,
            progress=False,
            store=store,
            judge=judge,
            valid_only=valid_only,
        )


def rows(study, perturber):
    s = study.quality_summary
    return s[s["perturber"] == perturber].set_index(["side", "kind"])


# -- the hand case -----------------------------------------------------------------------------
def test_valid_rate_per_side_and_kind_by_hand():
    """Judge: a's rewrites valid, b's invalid. Per explained comparison (c1, c2; c3 is a tie)
    the chosen side has 2 successful rewrites (a worse, b worse): 1 valid; the rejected side 1
    (a better; b better failed): 1 valid. So chosen 2/4, rejected 2/2, either = both 4/6; the
    CF and SF rows of a side share its rewrites, as they share the failed rate."""
    judge, _ = judge_of(lambda attribute, direction: attribute == "a", "a-only-v1")
    study = hand(judge)
    expected = {"chosen": (4, 2), "rejected": (2, 2), "either": (6, 4), "both": (6, 4)}
    r = rows(study, "hand")
    for side, (judged, valid) in expected.items():
        for kind in ("CF", "SF"):
            row = r.loc[(side, kind)]
            assert (row["n_judged"], row["n_valid"]) == (judged, valid), (side, kind)
            assert row["valid_rate"] == pytest.approx(valid / judged)
    # the per-seed frame and per_comparison carry the same counts (one seed: the same rows)
    q = study.quality[study.quality["perturber"] == "hand"].set_index(["side", "kind"])
    assert q.loc[("chosen", "CF"), ["n_judged", "n_valid"]].tolist() == [4, 2]
    pc = study.per_comparison
    c1 = pc[(pc["perturber"] == "hand") & (pc["comparison_id"] == "c1")].set_index(["side", "kind"])
    assert c1.loc[("chosen", "SF"), ["n_judged", "n_valid"]].tolist() == [2, 1]
    assert c1.loc[("rejected", "CF"), ["n_judged", "n_valid"]].tolist() == [1, 1]
    # without valid_only the coverage is the judge-free one: SF chosen found in c1 and c2
    assert r.loc[("chosen", "SF"), "coverage"] == 1.0
    # the new columns are the last ones of every quality frame
    for frame in (study.quality, study.quality_summary):
        assert list(frame.columns[-3:]) == ["n_judged", "n_valid", "valid_rate"]
    assert list(study.per_comparison.columns[-2:]) == ["n_judged", "n_valid"]
    # the sensitivity rows: b's 2 successful rewrites (both "worse") judged, none valid
    sens = study.sensitivity.set_index(["attribute", "direction"])
    assert sens.loc[("b", "both"), ["n_judged", "n_valid"]].tolist() == [2, 0]
    assert sens.loc[("b", "both"), "valid_rate"] == 0.0
    assert sens.loc[("a", "both"), "valid_rate"] == 1.0
    assert sens.loc[("b", "both"), "n"] == 2  # not valid-only: every successful rewrite
    assert study.config["judge"] == "a-only-v1" and study.config["valid_only"] is False
    assert study.config["judged"] == ["hand"]


def test_the_baseline_is_not_judged():
    judge, calls = judge_of(lambda attribute, direction: True, "all-valid-v1")
    study = hand(judge)
    table = study.tables[("data", "count", "random")]
    ok = table[table["outcome"] != "failed"]
    assert len(ok) and table["valid"].isna().all()
    assert (ok["validity_reason"] == BASELINE_REASON).all()
    assert table.loc[table["outcome"] == "failed", "validity_reason"].isna().all()
    r = rows(study, "random")
    assert (r["n_judged"] == 0).all() and r["valid_rate"].isna().all()
    # the judge saw only the hand perturber's 6 successful rewrites
    hand_ok = study.tables[("data", "count", "hand")]
    assert len(calls) == int((hand_ok["outcome"] != "failed").sum()) == 6
    shown = study.paper_table(1, formatted=True).set_index("method")
    assert shown.loc["random", "valid rewrites"] == "not judged"
    assert shown.loc["hand", "valid rewrites"] == "1.000 (6 of 6 judged)"


def test_valid_only_coverage_and_pfr_by_hand():
    """a's rewrites valid, b's not. Valid-only, a CF (SF) counts only when its rewrite is
    valid: chosen SF was found in c1 by b-worse only (invalid) and in c2 by a-worse (valid),
    so 1 of 2; both SF needs a valid SF on each side: c2 only (c1's chosen SF is invalid);
    the CFs are all a's (valid), so their coverage is unchanged. The failed rate is not."""
    judge, _ = judge_of(lambda attribute, direction: attribute == "a", "a-only-v1")
    plain, only = rows(hand(judge), "hand"), hand(judge, valid_only=True)
    r = rows(only, "hand")
    # c1: chosen {a worse: CF valid, b worse: SF invalid}, rejected {a better: CF valid}
    # c2: chosen {a worse: SF valid, b worse: SF invalid}, rejected {a better: SF valid}
    expected = {
        ("chosen", "CF"): 0.5,  # c1
        ("chosen", "SF"): 0.5,  # c2 (c1's only SF is invalid)
        ("rejected", "CF"): 0.5,  # c1
        ("rejected", "SF"): 0.5,  # c2
        ("either", "CF"): 0.5,  # c1
        ("either", "SF"): 0.5,  # c2: c1 has no valid SF on either side
        ("both", "CF"): 0.5,  # c1
        ("both", "SF"): 0.5,  # c2
    }
    for key, value in expected.items():
        assert r.loc[key, "coverage"] == pytest.approx(value), key
    assert plain.loc[("chosen", "SF"), "coverage"] == 1.0
    assert plain.loc[("either", "SF"), "coverage"] == 1.0
    for key in expected:
        assert r.loc[key, "failed_rate"] == plain.loc[key, "failed_rate"]
        assert r.loc[key, "n_rewrites"] == plain.loc[key, "n_rewrites"]
        assert r.loc[key, "n_judged"] == plain.loc[key, "n_judged"]
    # distances of the SFs found (chosen side): only c2's valid one ("good good good bad bad")
    table = only.tables[("data", "count", "hand")]
    valid_sf = table[
        (table["comparison_id"] == "c2") & (table["side"] == "chosen") & (table["attribute"] == "a")
    ]
    assert r.loc[("chosen", "SF"), "syntactic"] == pytest.approx(
        float(valid_sf["syntactic_distance"].iloc[0])
    )
    # the baseline is not judged, so valid-only leaves it as it was
    assert (
        rows(only, "random")["coverage"].tolist()
        == rows(hand(judge), "random")["coverage"].tolist()
    )
    # sensitivity on valid rewrites: a keeps its 4 (2 flips: c1 worse, c1 better), b has none
    sens = only.sensitivity.set_index(["attribute", "direction"])
    assert sens.loc[("a", "both"), "n"] == 4 and sens.loc[("a", "both"), "pfr"] == 0.5
    assert sens.loc[("b", "both"), "n"] == 0 and math.isnan(sens.loc[("b", "both"), "pfr"])
    assert sens.loc[("b", "both"), ["n_judged", "n_valid"]].tolist() == [2, 0]
    assert only.config["valid_only"] is True


def test_every_rewrite_invalid_gives_coverage_0_and_pfr_not_measured():
    judge, _ = judge_of(lambda attribute, direction: False, "none-valid-v1")
    study = hand(judge, valid_only=True)
    r = rows(study, "hand")
    assert (r["coverage"] == 0.0).all()
    for m in ("syntactic", "semantic", "diversity"):
        assert r[m].isna().all() and (r[f"{m}_n"] == 0).all()
    assert (r["valid_rate"] == 0.0).all()
    assert r.loc[("both", "CF"), ["n_judged", "n_valid"]].tolist() == [6, 0]
    sens = study.sensitivity
    assert (sens["n"] == 0).all() and sens["pfr"].isna().all()
    both = sens[sens["direction"] == "both"].set_index("attribute")
    assert both["n_failed"].to_dict() == {"a": 0, "b": 2}  # b better fails in c1 and c2
    shown = study.paper_table(1, formatted=True).set_index("method")
    assert shown.loc["hand", "valid rewrites"] == "0.000 (0 of 6 judged)"
    assert shown.loc["hand", "CF Both"].startswith("0.000")


def test_an_undecided_judge_leaves_valid_only_coverage_not_measured():
    """A judge with no verdict for any rewrite: nothing is known to be valid, so valid-only
    coverage is "not measured" (NaN), never 0, and the PFRs have n = 0."""
    judge, _ = judge_of(lambda attribute, direction: None, "undecided-v1")
    study = hand(judge, valid_only=True)
    r = rows(study, "hand")
    assert r["coverage"].isna().all() and (r["coverage_n"] == 0).all()
    assert (r["n_judged"] == 0).all() and r["valid_rate"].isna().all()
    assert (study.sensitivity["n"] == 0).all() and (study.sensitivity["n_judged"] == 0).all()
    assert study.paper_table(1, formatted=True).loc[0, "CF Both"] == "not measured"


def test_without_a_judge_the_columns_say_not_measured():
    study = hand()
    s = study.quality_summary
    assert (s["n_judged"] == 0).all() and s["valid_rate"].isna().all()
    assert "valid rewrites" not in study.paper_table(1, formatted=True).columns
    assert study.paper_table1["valid_rate_both"].isna().all()
    assert study.config["judge"] is None and study.config["valid_only"] is False


def test_valid_only_without_a_judge_is_refused_before_anything_runs(tmp_path):
    store = tmp_path / "store.sqlite"
    with pytest.raises(OptionError, match="valid_only=True needs a rewrite judge"):
        hand(valid_only=True, store=store)
    assert not store.exists()
    with pytest.raises(OptionError, match="not a rewrite judge"):
        hand(judge="oracle", store=store)
    assert not store.exists()


def test_a_second_study_on_the_same_store_asks_the_judge_nothing(tmp_path):
    store = tmp_path / "store.sqlite"
    first_judge, first_calls = judge_of(lambda attribute, direction: attribute == "a", "cache-v1")
    first = hand(first_judge, store=store)
    assert len(first_calls) == 6
    again_judge, again_calls = judge_of(lambda attribute, direction: attribute == "a", "cache-v1")
    again = hand(again_judge, store=store, valid_only=True)
    assert again_calls == []
    key = ("data", "count", "hand")
    pd.testing.assert_series_equal(first.tables[key]["valid"], again.tables[key]["valid"])


# -- the feature case: rules + random + FeatureJudge on the sample data -------------------------
FEATURE_ATTRS = ["manner", "engagement", "assertiveness", "relevance"]


def feature_study(valid_only=False):
    comps = rmx.sample_comparisons()[:24]
    rms = {
        "lengthy": TransparentRewardModel({"length": 0.4, "pleasantries": 2.0}),
        "hedgy": TransparentRewardModel({"length": 0.4, "hedging": 1.0}),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return evaluate(
            comps,
            rms,
            {"rules": rmx.RulePerturber(), "random": RandomWordPerturber()},
            attributes=FEATURE_ATTRS,
            seeds=2,
            per_seed=12,
            n_boot=20,
            progress=False,
            judge=FeatureJudge(),
            valid_only=valid_only,
        )


@pytest.fixture(scope="module")
def features():
    return feature_study(), feature_study(valid_only=True)


def _scope(table: pd.DataFrame, side: str) -> pd.DataFrame:
    return table if side in ("either", "both") else table[table["side"] == side]


def test_feature_judge_counts_equal_the_tables(features):
    study, _ = features
    assert study.config["judge"] == FeatureJudge().identity
    s = study.quality_summary
    for (ds, rm, pert), table in study.tables.items():
        explained = set(study.originals[(ds, rm)].query("~tie")["comparison_id"])
        table = table[table["comparison_id"].isin(explained)]
        for side in ("chosen", "rejected", "either", "both"):
            part = _scope(table, side)
            judged = int(part["valid"].notna().sum())
            valid = int(part["valid"].fillna(False).astype(bool).sum())
            got = s[(s["rm"] == rm) & (s["perturber"] == pert) & (s["side"] == side)]
            assert len(got) == 2  # CF and SF rows: the same counts
            assert (got["n_judged"] == judged).all() and (got["n_valid"] == valid).all()
            rate = valid / judged if judged else math.nan
            np.testing.assert_allclose(got["valid_rate"], rate)
            if pert == "rules":
                assert judged > 0
            else:
                assert judged == 0
    # Table 1's "both" cells are these counts
    t1 = study.paper_table1.set_index(["rm", "method"])
    for rm in study.rms:
        both = s[(s["rm"] == rm) & (s["perturber"] == "rules") & (s["side"] == "both")].iloc[0]
        assert t1.loc[(rm, "rules"), "n_judged_both"] == both["n_judged"]
        assert t1.loc[(rm, "rules"), "valid_rate_both"] == pytest.approx(both["valid_rate"])


def test_feature_judge_valid_only_sensitivity_and_coverage(features):
    study, only = features
    agree = only.agreement[only.agreement["all_agree"]]["comparison_id"]
    for rm in only.rms:
        table = only.tables[("data", rm, "rules")]
        null = only.tables[("data", rm, "random")]
        sub = table[table["comparison_id"].isin(agree)]
        expected = sensitivity(
            sub, n_boot=20, null=null[null["comparison_id"].isin(agree)], valid_only=True
        )
        got = only.sensitivity[(only.sensitivity["rm"] == rm)].reset_index(drop=True)
        for c in ("attribute", "direction", "n", "n_failed", "n_judged", "n_valid"):
            assert got[c].tolist() == expected[c].tolist(), c
        np.testing.assert_allclose(got["pfr"], expected["pfr"])
        # valid-only n is the valid rewrites; all-rewrites n is every successful one
        plain = study.sensitivity[study.sensitivity["rm"] == rm]
        pooled = plain[plain["direction"] == "both"]
        assert int(got.loc[got["direction"] == "both", "n"].sum()) == int(pooled["n_valid"].sum())
        # coverage: a CF counts only if valid, so valid-only coverage never exceeds the plain one
        q, p = rows(only, "rules"), rows(study, "rules")
        q, p = q[q["rm"] == rm], p[p["rm"] == rm]
        assert (q["coverage"] <= p["coverage"] + 1e-12).all()
        assert (q["failed_rate"].fillna(-1) == p["failed_rate"].fillna(-1)).all()
    # the baseline's quality is untouched by valid-only
    pd.testing.assert_frame_equal(rows(only, "random"), rows(study, "random"))
    assert len(only.tau) == 4  # 2 RMs: every ordered pair, on valid rewrites
