"""The null test (core.null_test): paired exact tests, Holm, the excess interval, validation,
and planted RMs run through the real Explainer. Expected values are computed by hand here."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import table_factory as tf
from planted import AnyChangeRM, RefusalPenaltyRM
from scipy import stats

import rmx_widgets as rmx
from rmx_widgets.core.data import sample_comparisons
from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.explain import Explainer
from rmx_widgets.core.null_test import (
    DEFAULT_ALPHA,
    NULL_COLUMNS,
    holm,
    newcombe_paired_interval,
    null_columns,
    sign_test,
)
from rmx_widgets.core.perturbers.random_words import RandomWordPerturber
from rmx_widgets.core.perturbers.rules import RulePerturber
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, sensitivity

Z = float(stats.norm.ppf(0.975))  # 1.959964
Z2 = Z * Z  # 3.841459


def outcomes_table(spec: dict, *, rm: str = "rm-a", perturber: str = "hand") -> pd.DataFrame:
    """spec[(comparison, attribute)] = (worse outcome, better outcome), each "CF", "SF",
    "failed" or None (no row). Margin 1 before; CF → margin −1 after, SF → +1."""
    after = {"CF": -1.0, "SF": 1.0, "failed": None}
    rows = []
    for (cid, attribute), pair in spec.items():
        for side, outcome in zip(("chosen", "rejected"), pair):
            if outcome is not None:
                rows.append(
                    tf.row(cid, attribute, side, 1.0, after[outcome], rm=rm, perturber=perturber)
                )
    return tf.table(rows)


def get(sens: pd.DataFrame, attribute: str, direction: str) -> pd.Series:
    rows = sens[(sens["attribute"] == attribute) & (sens["direction"] == direction)]
    assert len(rows) == 1
    return rows.iloc[0]


# c1..c6, attribute "v". worse: 5 target-only flips (c1-c5) and one concordant flip (c6).
# better: c1 SF/SF, c2 CF/SF, c3 SF/SF, c4 target failed, c5 null failed, c6 CF/CF.
TARGET = {
    ("c1", "v"): ("CF", "SF"),
    ("c2", "v"): ("CF", "CF"),
    ("c3", "v"): ("CF", "SF"),
    ("c4", "v"): ("CF", "failed"),
    ("c5", "v"): ("CF", "SF"),
    ("c6", "v"): ("CF", "CF"),
}
NULL = {
    ("c1", "v"): ("SF", "SF"),
    ("c2", "v"): ("SF", "SF"),
    ("c3", "v"): ("SF", "SF"),
    ("c4", "v"): ("SF", "SF"),
    ("c5", "v"): ("SF", "failed"),
    ("c6", "v"): ("CF", "CF"),
}


def tiny() -> pd.DataFrame:
    return sensitivity(
        outcomes_table(TARGET), null=outcomes_table(NULL, perturber="random"), n_boot=300
    )


def test_columns_appended_in_contract_order():
    sens = tiny()
    assert list(sens.columns) == SENSITIVITY_COLUMNS
    # the valid-rewrite columns (core.validity_rates) were appended after the null test's
    assert (
        SENSITIVITY_COLUMNS[-11:-3]
        == NULL_COLUMNS
        == [
            "null_pfr",
            "null_n",
            "excess_pfr",
            "excess_ci_low",
            "excess_ci_high",
            "p_value",
            "p_adjusted",
            "significant",
        ]
    )
    assert str(sens["significant"].dtype) == "boolean"
    assert DEFAULT_ALPHA == 0.05


def test_exact_mcnemar_per_direction_by_hand():
    sens = tiny()
    w = get(sens, "v", "worse")
    # 6 pairs: b = 5 target-only flips (c1..c5), c = 0, one concordant flip (c6).
    # McNemar exact: 5 of 5 discordant one way -> p = 2 * 0.5**5 = 0.0625
    assert (w["null_n"], w["null_pfr"]) == (6, pytest.approx(1 / 6))
    assert w["excess_pfr"] == pytest.approx(6 / 6 - 1 / 6)
    assert w["p_value"] == pytest.approx(2 * 0.5**5)
    b = get(sens, "v", "better")
    # pairs c1 (SF,SF), c2 (CF,SF), c3 (SF,SF), c6 (CF,CF); c4/c5 have no successful partner.
    # b = 1 (c2), c = 0 -> p = 2 * 0.5**1 = 1.0
    assert (b["null_n"], b["null_pfr"]) == (4, pytest.approx(1 / 4))
    assert b["p_value"] == pytest.approx(1.0)
    # excess is on the 4 paired units: 2/4 - 1/4 = 0.25, not pfr - null_pfr = 2/5 - 1/4
    assert b["pfr"] == pytest.approx(2 / 5)
    assert b["excess_pfr"] == pytest.approx(2 / 4 - 1 / 4)


def test_pooled_row_is_a_sign_test_over_comparisons():
    sens = tiny()
    both = get(sens, "v", "both")
    # d_c = (worse diff) + (better diff): c1 1+0, c2 1+1 = 2, c3 1+0, c4 1 (better unpaired),
    # c5 1 (better unpaired), c6 0+0 -> 5 positive of 5 non-zero: p = 2 * 0.5**5 = 0.0625.
    # (A McNemar on the 10 pooled pairs, b = 6, c = 0, would give 2 * 0.5**6 = 0.03125.)
    assert both["p_value"] == pytest.approx(0.0625)
    # null flips 1 (worse c6) + 1 (better c6) over 6 + 4 pairs; target flips 6 + 2
    assert (both["null_n"], both["null_pfr"]) == (10, pytest.approx(2 / 10))
    assert both["excess_pfr"] == pytest.approx((8 - 2) / 10)


def test_holm_over_all_rows_and_alpha():
    sens = tiny()
    # p = 0.0625 (worse), 1.0 (better), 0.0625 (both); m = 3:
    # sorted 0.0625, 0.0625, 1 -> 3*0.0625 = 0.1875, max(0.1875, 2*0.0625) = 0.1875, 1
    assert get(sens, "v", "worse")["p_adjusted"] == pytest.approx(0.1875)
    assert get(sens, "v", "both")["p_adjusted"] == pytest.approx(0.1875)
    assert get(sens, "v", "better")["p_adjusted"] == pytest.approx(1.0)
    assert not sens["significant"].any()
    loose = sensitivity(
        outcomes_table(TARGET), null=outcomes_table(NULL), n_boot=0, alpha=0.2
    ).set_index("direction")
    assert loose["significant"].tolist() == [True, False, True]  # 0.1875 < 0.2
    assert loose["excess_ci_low"].isna().all()  # n_boot=0 skips intervals, not the test


def test_holm_by_hand_with_monotonicity_fix_up():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # m = 4 finite; sorted 0.005, 0.01, 0.03, 0.04 -> 4*0.005 = 0.02, 3*0.01 = 0.03,
    # 2*0.03 = 0.06, 1*0.04 = 0.04 -> running max fixes the last to 0.06.
    got = holm(p)
    assert got[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert math.isnan(got[4])
    # capped at 1: 3 * 0.5 = 1.5 -> 1
    assert holm(np.array([0.5, 0.6, 0.7])) == pytest.approx([1.0, 1.0, 1.0])
    assert holm(np.array([0.01, 0.02, 0.04])) == pytest.approx([0.03, 0.04, 0.04])
    assert np.isnan(holm(np.array([np.nan]))).all()


def test_sign_test_degenerate_samples():
    assert math.isnan(sign_test(np.array([])))  # no pair: not measured
    assert sign_test(np.array([0, 0, 0])) == 1.0  # all tied: nothing differs
    assert sign_test(np.array([1])) == pytest.approx(1.0)  # 2 * 0.5**1
    assert sign_test(np.array([2, 1, -1, 0])) == pytest.approx(1.0)  # 2 of 3: p = 1
    # 1 of 6: P(X <= 1) = (1 + 6) / 64, two-sided doubled: 14/64
    assert sign_test(np.array([-1, -1, -2, -1, -1, 1])) == pytest.approx(14 / 64)


def test_no_discordance_gives_p_one_and_n_one():
    same = {("c1", "v"): ("CF", "SF"), ("c2", "v"): ("SF", "CF")}
    sens = sensitivity(outcomes_table(same), null=outcomes_table(same), n_boot=100)
    assert (sens["p_value"] == 1.0).all() and (sens["p_adjusted"] == 1.0).all()
    assert (sens["excess_pfr"] == 0.0).all()
    one = sensitivity(
        outcomes_table({("c1", "v"): ("CF", None)}),
        null=outcomes_table({("c1", "v"): ("SF", None)}),
        n_boot=100,
    )
    w = get(one, "v", "worse")
    assert (w["null_n"], w["excess_pfr"], w["p_value"]) == (1, 1.0, 1.0)
    # the bootstrap of one comparison is always 1; Newcombe at b = 1, n = 1 (below) is
    # [1 - sqrt(2) * z²/(1 + z²), 1] = [-0.1221, 1]
    assert w["excess_ci_low"] == pytest.approx(1 - math.sqrt(2) * Z2 / (1 + Z2))
    assert w["excess_ci_high"] == 1.0
    b = get(one, "v", "better")  # no better rows at all
    assert b["null_n"] == 0 and math.isnan(b["p_value"]) and b["significant"] is pd.NA


def test_all_failed_is_not_measured():
    spec = {("c1", "v"): ("failed", "failed"), ("c2", "v"): ("failed", "failed")}
    sens = sensitivity(outcomes_table(spec), null=outcomes_table(spec), n_boot=50)
    assert (sens["null_n"] == 0).all()
    for col in ("null_pfr", "excess_pfr", "excess_ci_low", "excess_ci_high", "p_value"):
        assert sens[col].isna().all(), col
    assert sens["significant"].isna().all()


def test_without_null_columns_are_nan_and_na():
    sens = sensitivity(outcomes_table(TARGET), n_boot=50)
    assert list(sens.columns) == SENSITIVITY_COLUMNS
    assert sens[NULL_COLUMNS[:-1]].isna().all().all()
    assert sens["significant"].isna().all() and str(sens["significant"].dtype) == "boolean"
    # the package-level entry point takes null= too
    top = rmx.sensitivity(outcomes_table(TARGET), null=outcomes_table(NULL), n_boot=50)
    assert get(top, "v", "worse")["p_value"] == pytest.approx(0.0625)


def test_newcombe_paired_interval_by_hand():
    # n = 1, one target-only flip (b = 1): p1 = 1, p2 = 0, θ = 1. Wilson 1/1 = [1/(1+z²), 1],
    # 0/1 = [0, z²/(1+z²)]; a margin is 0 so φ = 0. δ = sqrt((1 - 1/(1+z²))² + (z²/(1+z²))²)
    # = sqrt(2)·z²/(1+z²) = 1.1221; ε = sqrt(0² + 0²) = 0 -> [1 - 1.1221, 1].
    low, high = newcombe_paired_interval(0, 1, 0, 0, 0.95)
    assert float(low) == pytest.approx(1 - math.sqrt(2) * Z2 / (1 + Z2))
    assert float(low) == pytest.approx(-0.1221, abs=1e-4)
    assert float(high) == 1.0
    # n = 1, a concordant flip (a = 1): θ = 0, δ = ε = z²/(1+z²) = 0.79345: never zero-width
    low, high = newcombe_paired_interval(1, 0, 0, 0, 0.95)
    assert (float(low), float(high)) == pytest.approx((-Z2 / (1 + Z2), Z2 / (1 + Z2)))
    assert float(high) - float(low) > 1.5
    # a = 5, b = 1, c = 1, d = 5 (n = 12): p1 = p2 = 6/12 = 0.5, θ = 0. Wilson of 6/12:
    # centre 0.5, half = z·sqrt(0.25/12 + z²/576)/(1 + z²/12). ad - bc = 24 > n/2 = 6, so
    # φ = (24 - 6)/sqrt(6·6·6·6) = 18/36 = 0.5; δ = ε = half·sqrt(1 - 2·0.5 + 1) = half.
    half = Z * math.sqrt(0.25 / 12 + Z2 / 576) / (1 + Z2 / 12)
    low, high = newcombe_paired_interval(5, 1, 1, 5, 0.95)
    assert (float(low), float(high)) == pytest.approx((-half, half))
    # no pairs: NaN
    low, high = newcombe_paired_interval(0, 0, 0, 0, 0.95)
    assert math.isnan(float(low)) and math.isnan(float(high))


def test_excess_interval_contains_estimate_and_is_floored():
    sens = tiny()
    for direction in ("worse", "better", "both"):
        r = get(sens, "v", direction)
        assert r["excess_ci_low"] <= r["excess_pfr"] <= r["excess_ci_high"]
        assert r["excess_ci_high"] > r["excess_ci_low"]
    # worse: a = 1, b = 5, c = 0, d = 0, so the interval is at most [newcombe low, 1]
    low, _ = newcombe_paired_interval(1, 5, 0, 0, 0.95)
    assert get(sens, "v", "worse")["excess_ci_low"] <= float(low)


def test_validation_errors():
    table = outcomes_table(TARGET)
    null = outcomes_table(NULL)
    with pytest.raises(DataError, match="lacks the column"):
        sensitivity(table, null=null.drop(columns=["outcome"]), n_boot=0)
    with pytest.raises(DataError, match="attribute-blind"):
        sensitivity(table, null="not a table", n_boot=0)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="repeats"):
        sensitivity(table, null=pd.concat([null, null.iloc[:1]]), n_boot=0)
    with pytest.raises(DataError, match="shares no comparison"):
        sensitivity(table, null=null.assign(comparison_id=null["comparison_id"] + "-x"), n_boot=0)
    with pytest.raises(DataError, match="explained by RM"):
        sensitivity(table, null=outcomes_table(NULL, rm="rm-b"), n_boot=0)
    with pytest.raises(DataError, match="direction"):
        sensitivity(table, null=null.assign(direction="sideways"), n_boot=0)
    with pytest.raises(RMXError, match="alpha"):
        sensitivity(table, null=null, n_boot=0, alpha=1.5)
    with pytest.raises(DataError, match="successful rows"):
        sensitivity(pd.concat([table, table.iloc[:1]]), null=null, n_boot=0)
    # failed null rows without a direction are not duplicate keys
    loose = tf.table([tf.row("c1", "v", "chosen", 1.0, None) for _ in range(2)])
    loose["direction"] = None
    ok = sensitivity(table, null=pd.concat([null, loose], ignore_index=True), n_boot=0)
    assert get(ok, "v", "worse")["null_n"] == 6
    # unknown attributes in the null are ignored; attributes without a null partner are NaN
    extra = outcomes_table({**NULL, ("c1", "w"): ("CF", "CF")})
    out = null_columns(outcomes_table({**TARGET, ("c1", "u"): ("CF", "CF")}), extra, n_boot=0)
    assert set(out["attribute"]) == {"v", "u"}
    assert (out.loc[out["attribute"] == "u", "null_n"] == 0).all()


# -- planted RMs through the real Explainer --------------------------------------------------

ATTRIBUTES = ["avoid-to-answer", "coherence", "relevance", "assertiveness", "verbosity"]


def length_embedder(texts: list[str]) -> np.ndarray:
    """A cheap embedder: the distance columns play no part in the null test."""
    return np.array([[len(t), 1.0] for t in texts])


def explain(rm, perturber) -> pd.DataFrame:
    comps = sample_comparisons()
    explainer = Explainer(
        rm, perturber, ATTRIBUTES, store=None, progress=False, embedder=length_embedder
    )
    return explainer.explain(comps).table


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_any_change_rm_has_no_significant_attribute(seed):
    """An RM that reacts to any edit the same way: targeted rewrites flip no more often than
    random words, so after Holm no row may be significant (the FWER is measured over many
    seeds in bench/null_calibration.py)."""
    rm = AnyChangeRM(sample_comparisons(), salt=seed)
    table = explain(rm, RulePerturber())
    null = explain(rm, RandomWordPerturber(seed=seed))
    sens = sensitivity(table, null=null, n_boot=100, seed=seed)
    assert sens["p_value"].notna().all() and (sens["null_n"] > 0).all()
    assert not sens["significant"].any()


def test_planted_refusal_effect_is_significant_and_nothing_else():
    comps = sample_comparisons()
    rm = RefusalPenaltyRM(comps, salt=0)
    sens = sensitivity(
        explain(rm, RulePerturber()), null=explain(rm, RandomWordPerturber(seed=0)), n_boot=200
    )
    hits = sens.loc[sens["significant"].fillna(False), ["attribute", "direction"]]
    assert set(map(tuple, hits.to_numpy())) == {
        ("avoid-to-answer", "worse"),
        ("avoid-to-answer", "both"),
    }
    w = get(sens, "avoid-to-answer", "worse")
    assert w["excess_ci_low"] > 0 and w["null_n"] == 52
