"""A pairwise judge through the Explainer, on a planted judge whose labels are known by hand.

The planted judge has a hidden quality per text and a first-position bias C:
P(x ≻ y) = sigmoid(Q[x] − Q[y]) + C. Averaging both orders removes C exactly, so every debiased
margin is logit(sigmoid(ΔQ)) = ΔQ: the expected margins and CF/SF labels below are differences
of the qualities, worked out by hand."""

import json
import math
import sqlite3

import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.sensitivity import reward_spread
from rmx_widgets.errors import OptionError

C = 0.05  # the planted first-position bias, in probability

Q = {
    # c1: A (1.0) beats B (0.0), margin 1.0
    "A": 1.0,
    "B": 0.0,
    "A|verbosity|worse": -0.5,  # -0.5 - 0  -> CF -0.5
    "B|verbosity|better": 0.5,  # -(0.5 - 1) -> SF 0.5
    "A|manner|worse": 0.5,  # SF 0.5
    "B|manner|better": 2.0,  # CF -1.0
    # c2: D (2.0) beats C (0.0): preferred "b", margin 2.0
    "C": 0.0,
    "D": 2.0,
    "D|verbosity|worse": 1.0,  # SF 1.0
    "C|verbosity|better": 2.5,  # CF -0.5
    "C|manner|better": -0.1,  # SF 2.1; D|manner|worse comes back unchanged -> failed
    # c3: a tie (P = 0.5 once debiased)
    "E": 0.3,
    "F": 0.3,
    # c4: G (0.1) beats H (0.0) by little: the two orders disagree (0.575 vs 0.525)
    "G": 0.1,
    "H": 0.0,
    "G|verbosity|worse": -0.4,  # CF -0.4
    "H|verbosity|better": 0.05,  # SF 0.05; orders disagree on (H', G): ΔQ = 0.05
    "G|manner|worse": 0.4,  # SF 0.4
    "H|manner|better": 1.1,  # CF -1.0
}

COMPS = [
    {"id": "c1", "prompt": "p1", "response_a": "A", "response_b": "B"},
    {"id": "c2", "prompt": "p2", "response_a": "C", "response_b": "D"},
    {"id": "c3", "prompt": "p3", "response_a": "E", "response_b": "F"},
    {"id": "c4", "prompt": "p4", "response_a": "G", "response_b": "H"},
]


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


class Planted:
    """The planted judge: counts its calls and the (first, second) pairs it judged."""

    def __init__(self):
        self.calls = 0
        self.judged = 0

    def prefer(self, prompts, responses_a, responses_b):
        self.calls += 1
        self.judged += len(responses_a)
        return [_sigmoid(Q[a] - Q[b]) + C for a, b in zip(responses_a, responses_b)]


def perturb(prompt, response, attribute, direction):
    if response == "D" and attribute.name == "manner":
        return "D"
    return f"{response}|{attribute.name}|{direction}"


def _explain(planted, store=None, **kwargs):
    judge = rmx.PairwiseRewardModel(planted.prefer, name="planted-judge:v1")
    ex = rmx.Explainer(
        judge,
        rmx.CallablePerturber(perturb, name="suffix:v1"),
        attributes=["verbosity", "manner"],
        store=store,
        progress=False,
        **kwargs,
    )
    with pytest.warns(UserWarning, match=r"1 comparison.*tie.*\|P\(a ≻ b\) − 0\.5\| < .*c3"):
        return ex.explain(COMPS)


def test_labels_and_logit_margins_by_hand():
    res = _explain(Planted())
    t = res.table.set_index(["comparison_id", "attribute", "side"])
    assert len(t) == 12  # 3 non-tied comparisons x 2 attributes x 2 sides
    expect = {
        ("c1", "verbosity", "chosen"): ("CF", 1.0, -0.5),
        ("c1", "verbosity", "rejected"): ("SF", 1.0, 0.5),
        ("c1", "manner", "chosen"): ("SF", 1.0, 0.5),
        ("c1", "manner", "rejected"): ("CF", 1.0, -1.0),
        ("c2", "verbosity", "chosen"): ("SF", 2.0, 1.0),
        ("c2", "verbosity", "rejected"): ("CF", 2.0, -0.5),
        ("c2", "manner", "rejected"): ("SF", 2.0, 2.1),
        ("c4", "verbosity", "chosen"): ("CF", 0.1, -0.4),
        ("c4", "verbosity", "rejected"): ("SF", 0.1, 0.05),
        ("c4", "manner", "chosen"): ("SF", 0.1, 0.4),
        ("c4", "manner", "rejected"): ("CF", 0.1, -1.0),
    }
    for key, (outcome, before, after) in expect.items():
        row = t.loc[key]
        assert row["outcome"] == outcome, key
        assert row["margin_before"] == pytest.approx(before, abs=1e-9), key
        assert row["margin_after"] == pytest.approx(after, abs=1e-9), key
        assert row["rm"] == "planted-judge:v1"
    assert t.loc[("c2", "manner", "chosen"), "outcome"] == "failed"
    assert t.loc[("c2", "verbosity", "chosen"), "original"] == "D"
    # a pairwise judge has no reward per response: NaN, and the spread is not measured
    for col in ("reward_original", "reward_perturbed", "reward_other"):
        assert res.table[col].isna().all(), col
    assert math.isnan(reward_spread(res.table))


def test_position_bias_removed_exactly_and_disagreements_counted_by_hand():
    res = _explain(Planted())
    o = res.originals.set_index("comparison_id")
    for cid, a, b in [("c1", "A", "B"), ("c2", "C", "D"), ("c3", "E", "F"), ("c4", "G", "H")]:
        assert o.loc[cid, "p_a_over_b"] == pytest.approx(_sigmoid(Q[a] - Q[b]), abs=1e-15)
        assert o.loc[cid, "p_a_first"] == pytest.approx(_sigmoid(Q[a] - Q[b]) + C, abs=1e-15)
        assert o.loc[cid, "p_b_first"] == pytest.approx(_sigmoid(Q[b] - Q[a]) + C, abs=1e-15)
        assert math.isnan(o.loc[cid, "reward_a"]) and math.isnan(o.loc[cid, "reward_b"])
    assert list(o["preferred"].drop("c3")) == ["a", "b", "a"] and pd.isna(o.loc["c3", "preferred"])
    assert list(res.ties["comparison_id"]) == ["c3"]
    # c3: 0.55 both ways (each order favours the first); c4: G first 0.575, H first 0.525
    # (sigmoid(0.1) = 0.525); c1, c2: |ΔQ| ≥ 1, both orders agree. 2 of 4.
    assert list(o["position_disagreement"]) == [False, False, True, True]
    assert res.stats.rm_kind == "pairwise"
    assert (res.stats.position_comparisons, res.stats.position_disagreements) == (4, 2)
    assert res.summary()["position_disagreement_rate"] == pytest.approx(0.5)
    # the rewrites' pairs: the two orders disagree when sigmoid(|ΔQ|) − 0.5 < C, i.e.
    # |ΔQ| < logit(0.55) ≈ 0.2007: only (H|verbosity|better, G), ΔQ = 0.05; 1 of 11
    assert res.stats.rewrite_position_comparisons == 11
    assert res.stats.rewrite_position_disagreements == 1


def test_sensitivity_on_the_pairwise_table_by_hand():
    res = _explain(Planted())
    sens = res.sensitivity(n_boot=100).set_index(["attribute", "direction"])
    by_hand = {
        ("verbosity", "worse"): (2 / 3, 3),  # c1 CF, c2 SF, c4 CF
        ("verbosity", "better"): (1 / 3, 3),  # c1 SF, c2 CF, c4 SF
        ("verbosity", "both"): (0.5, 6),
        ("manner", "worse"): (0.0, 2),  # c1 SF, c4 SF (c2 failed)
        ("manner", "better"): (2 / 3, 3),  # c1 CF, c2 SF, c4 CF
        ("manner", "both"): (0.4, 5),
    }
    for key, (pfr, n) in by_hand.items():
        assert sens.loc[key, "pfr"] == pytest.approx(pfr), key
        assert sens.loc[key, "n"] == n, key
    # the margin change is in units of the reward spread, which a judge does not have
    assert sens["mean_margin_change"].isna().all()
    assert sens.loc[("manner", "worse"), "n_failed"] == 1


def test_a_rerun_on_the_store_calls_the_judge_zero_times(tmp_path):
    store = tmp_path / "s.sqlite"
    planted = Planted()
    first = _explain(planted, store=store)
    # originals: 4 pairs x 2 orders; rewrites: 11 successful x 2 orders, in one batch
    assert planted.calls == 2 and planted.judged == 8 + 22
    assert first.stats.scores_computed == 30 and first.stats.scores_cached == 0
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM pair_scores").fetchone()[0] == 30
        assert db.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 0
    again = Planted()
    second = _explain(again, store=store)
    assert again.calls == 0
    assert second.stats.scores_computed == 0 and second.stats.scores_cached == 30
    assert second.stats.position_disagreements == 2  # from the stored answers
    pd.testing.assert_frame_equal(second.table, first.table)


def test_all_tied_and_a_single_comparison():
    judge = rmx.PairwiseRewardModel(lambda p, a, b: [0.5 + C] * len(a), name="tied:v1")
    ex = rmx.Explainer(judge, perturb, attributes=["verbosity"], progress=False)
    with pytest.warns(UserWarning, match="2 comparison.*tie"):
        res = ex.explain(COMPS[:2])
    assert len(res.table) == 0 and list(res.originals["tie"]) == [True, True]
    # 0.55 in both orders: each order favours its first response, so both disagree
    assert res.summary()["position_disagreement_rate"] == 1.0
    one = rmx.Explainer(
        rmx.PairwiseRewardModel(Planted().prefer, name="planted-judge:v1"),
        perturb,
        attributes=["verbosity"],
        progress=False,
    ).explain(COMPS[:1])
    assert (one.stats.position_comparisons, one.stats.position_disagreements) == (1, 0)
    assert one.summary()["position_disagreement_rate"] == 0.0
    assert list(one.table["outcome"]) == ["CF", "SF"]  # c1, verbosity: as by hand above


def test_a_scalar_rm_reports_no_position_rate():
    res = rmx.Explainer(
        lambda p, r: [Q[x] for x in r], perturb, attributes=["verbosity"], progress=False
    ).explain(COMPS[:1])
    assert res.stats.rm_kind == "scalar" and res.summary()["position_disagreement_rate"] is None
    assert "p_a_over_b" not in res.originals


def test_effects_are_refused_for_a_pairwise_judge_before_the_store_opens(tmp_path):
    judge = rmx.PairwiseRewardModel(Planted().prefer, name="planted-judge:v1")
    with pytest.raises(OptionError, match="pairwise judge.*without effects"):
        rmx.Explainer(judge, perturb, effects=True, store=tmp_path / "s.sqlite", progress=False)
    assert not (tmp_path / "s.sqlite").exists()


def _length_judge(prompts, responses_a, responses_b, scale=10.0):
    """P(a ≻ b) from the word-count difference (the longer wins; a negative ``scale``: the
    shorter), with a first-position bias of 0.05 (within [0.05, 0.95], so never clipped)."""
    return [
        0.5 + 0.4 * math.tanh((len(a.split()) - len(b.split())) / scale) + 0.05
        for a, b in zip(responses_a, responses_b)
    ]


def _concise_judge(prompts, responses_a, responses_b):
    return _length_judge(prompts, responses_a, responses_b, scale=-4.0)


def _expected_margin(rewrite, other, side):
    """By hand: the debiased P of (rewrite, other) has no bias left, its logit oriented
    towards the original preference."""
    q = 0.5 + 0.4 * math.tanh((len(rewrite.split()) - len(other.split())) / -4.0)
    m = math.log(q / (1 - q))
    return m if side == "chosen" else -m


def test_end_to_end_with_the_rules_perturber_and_files(tmp_path):
    judge = rmx.PairwiseRewardModel(_concise_judge, name="concise-judge:v1")
    comps = rmx.sample_comparisons()[:8]
    ex = rmx.Explainer(
        judge, rmx.RulePerturber(), attributes=["verbosity", "clarity"], progress=False
    )
    saved = ex.explain_to(comps, tmp_path / "out")
    t = pd.read_parquet(saved.paths["table_parquet"])
    ok = t[t["outcome"] != "failed"]
    assert set(ok["outcome"]) == {"CF", "SF"}  # verbosity made worse flips some pairs
    for r in ok.itertuples():
        assert r.margin_after == pytest.approx(_expected_margin(r.perturbed, _other(r), r.side))
        assert r.outcome == ("CF" if r.margin_after < 0 else "SF")
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["run_rm_kind"] == "pairwise" and summary["rm"] == "concise-judge:v1"
    assert summary["position_disagreement_rate"] == pytest.approx(
        summary["run_position_disagreements"] / 8
    )
    originals = pd.read_csv(tmp_path / "out" / "originals.csv")
    assert {"p_a_over_b", "position_disagreement"} <= set(originals.columns)
    sens = rmx.sensitivity(ok, n_boot=50).set_index(["attribute", "direction"])
    for (attr, direction), g in ok.groupby(["attribute", "direction"]):
        assert sens.loc[(attr, direction), "pfr"] == pytest.approx((g["outcome"] == "CF").mean())
    assert sens["mean_margin_change"].isna().all()
    assert "reward –" in (tmp_path / "out" / "report.html").read_text()  # not measured


def _other(row):
    """The unchanged response a rewrite is judged against: the sample's other side."""
    comp = next(c for c in rmx.sample_comparisons() if c.id == row.comparison_id)
    return comp.response_b if row.original == comp.response_a else comp.response_a


def test_evaluate_with_a_pairwise_judge_beside_a_scalar_rm():
    judge = rmx.PairwiseRewardModel(_length_judge, name="length-judge:v1")
    scalar = rmx.CallableRewardModel(
        lambda p, r: [len(x.split()) / 10 for x in r], name="length-rm:v1"
    )
    study = rmx.evaluate(
        rmx.sample_comparisons(),
        rms={"judge": judge, "scalar": scalar},
        perturbers={"rules": rmx.RulePerturber()},
        attributes=["verbosity"],
        seeds=1,
        per_seed=4,
        n_boot=20,
        progress=False,
    )
    assert study.config["rms"] == {"judge": "length-judge:v1", "scalar": "length-rm:v1"}
    judged = study.originals[("data", "judge")]
    assert judged["reward_a"].isna().all() and "position_disagreement" in judged
    # both models prefer the longer response of every pair: the same preferences
    scored = study.originals[("data", "scalar")]
    assert list(judged["preferred"]) == list(scored["preferred"])


def test_the_bradley_terry_judge_of_a_scalar_rm_explains_like_the_rm():
    """sigmoid(r(a) − r(b)) has logit r(a) − r(b): the pairwise path must give the scalar
    path's labels and margins, row for row."""
    from rmx_widgets.core.reward_models.pairwise import BradleyTerryJudge

    scalar = rmx.CallableRewardModel(lambda p, r: [Q[x] for x in r], name="q-rm:v1")
    runs = []
    for rm in (scalar, BradleyTerryJudge(scalar)):
        ex = rmx.Explainer(rm, perturb, attributes=["verbosity", "manner"], progress=False)
        with pytest.warns(UserWarning, match="tie.*c3"):
            runs.append(ex.explain(COMPS))
    s, p = (r.table.set_index(["comparison_id", "attribute", "side"]) for r in runs)
    assert runs[1].table["rm"].unique().tolist() == ["bt(q-rm:v1)"]
    assert list(p["outcome"]) == list(s["outcome"])
    for col in ("margin_before", "margin_after"):
        assert p[col].to_numpy() == pytest.approx(s[col].to_numpy(), abs=1e-9, nan_ok=True)
    assert runs[1].stats.position_disagreements == 0  # a symmetric judge has no position bias
