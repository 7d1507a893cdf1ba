"""Preference flip rates, bootstrap CIs and rankings on hand-built tables."""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import pytest
import table_factory as tf
from scipy import stats

from rmx_widgets.core.errors import DataError, RMXError
from rmx_widgets.core.sensitivity import (
    SENSITIVITY_COLUMNS,
    ranking,
    sensitivity,
    wilson_interval,
)


def small_table() -> pd.DataFrame:
    """c1 (margin 2): verbosity chosen -1 (CF), rejected 1 (SF); correctness chosen 1 (SF),
    rejected failed; clarity both failed.
    c2 (margin 1): verbosity -0.5/-0.5 (CF, CF); correctness 0.5/0.5 (SF, SF)."""
    return tf.table(
        tf.comparison(
            "c1",
            2.0,
            {"verbosity": (-1.0, 1.0), "correctness": (1.0, None), "clarity": (None, None)},
        )
        + tf.comparison("c2", 1.0, {"verbosity": (-0.5, -0.5), "correctness": (0.5, 0.5)})
    )


def get(sens: pd.DataFrame, attribute: str, direction: str) -> pd.Series:
    rows = sens[(sens["attribute"] == attribute) & (sens["direction"] == direction)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_columns_and_row_layout():
    sens = sensitivity(small_table(), n_boot=200)
    assert list(sens.columns) == SENSITIVITY_COLUMNS
    assert len(sens) == 9  # 3 attributes x (worse, better, both)
    assert list(sens["direction"]) == ["worse", "better", "both"] * 3
    assert list(sens["attribute"]) == ["verbosity"] * 3 + ["correctness"] * 3 + ["clarity"] * 3


# small_table's originals (reward(chosen) = margin_before, reward(rejected) = 0): c1 (2, 0) and
# c2 (1, 0); mean 0.75, squared deviations 1.5625 + 0.5625 + 0.0625 + 0.5625 = 2.75, sample sd
# sqrt(2.75 / 3) = 0.957427: margin changes are in these units.
SMALL_SPREAD = math.sqrt(2.75 / 3)


def test_pfr_n_and_margin_change_by_hand():
    sens = sensitivity(small_table(), n_boot=200)
    s = SMALL_SPREAD
    assert s == pytest.approx(0.957427, abs=1e-6)
    w = get(sens, "verbosity", "worse")
    # two chosen rewrites, both flip; changes -1 - 2 = -3 and -0.5 - 1 = -1.5
    assert (w["pfr"], w["n"]) == (1.0, 2)
    assert w["mean_margin_change"] == pytest.approx((-3 - 1.5) / 2 / s)
    b = get(sens, "verbosity", "better")
    # c1 holds (SF), c2 flips (CF); changes 1 - 2 = -1 and -0.5 - 1 = -1.5
    assert (b["pfr"], b["n"]) == (0.5, 2)
    assert b["mean_margin_change"] == pytest.approx((-1 - 1.5) / 2 / s)
    both = get(sens, "verbosity", "both")
    assert (both["pfr"], both["n"]) == (0.75, 4)
    assert both["mean_margin_change"] == pytest.approx((-3 - 1.5 - 1 - 1.5) / 4 / s)
    # the failed rejected rewrite of c1 is excluded everywhere
    cb = get(sens, "correctness", "better")
    assert (cb["pfr"], cb["n"]) == (0.0, 1)
    assert cb["mean_margin_change"] == pytest.approx((0.5 - 1) / s)
    cboth = get(sens, "correctness", "both")
    assert (cboth["pfr"], cboth["n"]) == (0.0, 3)
    # c1 chosen 1 - 2 = -1, c2 chosen and rejected 0.5 - 1 = -0.5 each
    assert cboth["mean_margin_change"] == pytest.approx((-1 - 0.5 - 0.5) / 3 / s)


def test_attribute_with_only_failures_has_n_zero_and_nan():
    sens = sensitivity(small_table(), n_boot=50)
    for direction in ("worse", "better", "both"):
        r = get(sens, "clarity", direction)
        assert r["n"] == 0
        assert all(math.isnan(r[c]) for c in ("pfr", "ci_low", "ci_high", "mean_margin_change"))


Z95 = 1.959963984540054  # Φ⁻¹(0.975)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval written out: (p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) /
    (1 + z²/n) with p = k/n."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def test_wilson_by_hand_matches_scipy():
    # 1/2: p = 0.5, z²/n = 1.9208; centre 0.5; half = 1.96/2.9208 * sqrt(0.125 + 0.2401)
    assert wilson(1, 2) == pytest.approx((0.0945, 0.9055), abs=1e-4)
    # 1/1: centre (1 + 1.9208)/4.8416 = 0.6033; half = 1.96/4.8416 * sqrt(0.9604) = 0.3967
    assert wilson(1, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)
    ci = stats.binomtest(1, 2).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(1, 2) == pytest.approx((ci.low, ci.high))
    low, high = wilson_interval(np.array([1.0, 1.0, 0.0]), np.array([2.0, 1.0, 0.0]), 0.95)
    assert low[:2] == pytest.approx([wilson(1, 2)[0], wilson(1, 1)[0]])
    assert high[:2] == pytest.approx([wilson(1, 2)[1], wilson(1, 1)[1]])
    assert math.isnan(low[2]) and math.isnan(high[2])  # 0/0: not measured


def test_one_comparison_gets_the_wilson_interval_not_zero_width():
    # one comparison: the chosen rewrite flips (CF), the rejected one holds (SF). Every
    # bootstrap resample is that comparison again (PFR 1/2, 1/1, 0/1), so the bootstrap
    # alone gives zero width; the Wilson floor gives the small-sample interval.
    sens = sensitivity(tf.table(tf.comparison("c1", 1.0, {"x": (-1.0, 0.5)})), n_boot=200)
    both, worse, better = (get(sens, "x", d) for d in ("both", "worse", "better"))
    assert (both["pfr"], both["n"], both["n_rewrites"], both["n_comparisons"]) == (0.5, 2, 2, 1)
    assert (both["ci_low"], both["ci_high"]) == pytest.approx(wilson(1, 2))
    assert (both["ci_low"], both["ci_high"]) == pytest.approx((0.0945, 0.9055), abs=1e-4)
    assert (worse["pfr"], worse["n"], worse["n_comparisons"]) == (1.0, 1, 1)
    assert (worse["ci_low"], worse["ci_high"]) == pytest.approx((0.2065, 1.0), abs=1e-4)
    # 0/1: Wilson is the mirror image of 1/1
    assert (better["ci_low"], better["ci_high"]) == pytest.approx((0.0, 1 - 0.2065), abs=1e-4)
    assert (sens["n_failed"] == 0).all()


def test_all_failed_is_not_measured_and_counts_the_failures():
    table = tf.table(tf.comparison("c1", 1.0, {"x": (None, None), "y": (-1.0, None)}))
    sens = sensitivity(table, n_boot=100)
    for direction, failed in (("worse", 1), ("better", 1), ("both", 2)):
        r = get(sens, "x", direction)
        assert (r["n"], r["n_rewrites"], r["n_comparisons"], r["n_failed"]) == (0, 0, 0, failed)
        assert math.isnan(r["pfr"]) and math.isnan(r["ci_low"]) and math.isnan(r["ci_high"])
    y = get(sens, "y", "both")  # 1 flip of 1 successful rewrite, 1 failed
    assert (y["pfr"], y["n"], y["n_comparisons"], y["n_failed"]) == (1.0, 1, 1, 1)
    assert (y["ci_low"], y["ci_high"]) == pytest.approx(wilson(1, 1))


def test_counts_per_row_by_hand():
    sens = sensitivity(small_table(), n_boot=0)
    # (n_rewrites, n_comparisons, n_failed): verbosity worse c1+c2; correctness better only
    # c2 succeeded (c1 failed); clarity failed on both sides of c1
    want = {
        ("verbosity", "worse"): (2, 2, 0),
        ("verbosity", "both"): (4, 2, 0),
        ("correctness", "worse"): (2, 2, 0),
        ("correctness", "better"): (1, 1, 1),
        ("correctness", "both"): (3, 2, 1),
        ("clarity", "worse"): (0, 0, 1),
        ("clarity", "both"): (0, 0, 2),
    }
    for (attribute, direction), counts in want.items():
        r = get(sens, attribute, direction)
        assert (r["n_rewrites"], r["n_comparisons"], r["n_failed"]) == counts
        assert r["n"] == r["n_rewrites"]


def test_ci_degenerate_when_all_rows_agree():
    sens = sensitivity(small_table(), n_boot=300, seed=3)
    # every resample is all-CF, so the bootstrap is [1, 1]; the Wilson floor on 2/2 widens it
    w = get(sens, "verbosity", "worse")
    assert (w["ci_low"], w["ci_high"]) == pytest.approx(wilson(2, 2))
    assert w["ci_high"] == 1.0 and w["ci_low"] < 1.0
    c = get(sens, "correctness", "both")  # every resample is all-SF: Wilson on 0/3
    assert (c["ci_low"], c["ci_high"]) == pytest.approx(wilson(0, 3))
    assert c["ci_low"] == 0.0 and c["ci_high"] > 0.0
    # verbosity/better: a resample of two comparisons is {c1,c1} -> 0, {c2,c2} -> 1, mixed
    # -> 0.5; each pure case has probability 1/4, so the 2.5/97.5 percentiles are 0 and 1.
    b = get(sens, "verbosity", "better")
    assert (b["ci_low"], b["ci_high"]) == (0.0, 1.0)


def test_bootstrap_resamples_comparisons_not_rows():
    # c1: ten flipping rows, c2: ten holding rows on the same attribute. Row resampling would
    # give a narrow interval around 0.5; comparison resampling gives [0, 1] because a
    # resample {c1, c1} has PFR 1 and {c2, c2} has PFR 0 (each with probability 1/4).
    rows = [tf.row("c1", "x", "chosen", 1.0, -1.0) for _ in range(10)]
    rows += [tf.row("c2", "x", "chosen", 1.0, 1.0) for _ in range(10)]
    r = get(sensitivity(tf.table(rows), n_boot=500), "x", "worse")
    assert (r["pfr"], r["n"]) == (0.5, 20)
    assert (r["ci_low"], r["ci_high"]) == (0.0, 1.0)
    # the bootstrap is wider than Wilson on 10/20 ([0.299, 0.701]), so its bounds are kept
    low, high = wilson(10, 20)
    assert low == pytest.approx(0.2993, abs=1e-4) and high == pytest.approx(0.7007, abs=1e-4)
    assert r["n_comparisons"] == 2


def test_bootstrap_bound_kept_on_many_comparisons():
    # 30 comparisons of 20 rows each, all flipping or all holding (15 each): clustering makes
    # the bootstrap interval wider than Wilson on 300/600 rewrites, so both bounds come from it
    rows = []
    for c in range(30):
        after = -1.0 if c % 2 == 0 else 1.0
        rows += [tf.row(f"c{c:02d}", "x", "chosen", 1.0, after) for _ in range(20)]
    sens = sensitivity(tf.table(rows), n_boot=400, seed=1)
    r = get(sens, "x", "worse")
    w_low, w_high = wilson(300, 600)
    assert (r["pfr"], r["n"], r["n_comparisons"]) == (0.5, 600, 30)
    assert r["ci_low"] < w_low and r["ci_high"] > w_high
    # the bootstrap is kept: the same bounds as a run whose Wilson floor could not bind
    # (a resample's PFR is (flipping comparisons drawn) / 30, its spread ~ 0.5/sqrt(30) = 0.09,
    # Wilson's ~ 0.5/sqrt(600) = 0.02)
    assert r["ci_high"] - r["ci_low"] > 2 * (w_high - w_low)
    pd.testing.assert_frame_equal(sens, sensitivity(tf.table(rows), n_boot=400, seed=1))


def random_table(n_comp: int, attrs: list[str], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(n_comp):
        margin = float(rng.uniform(0.2, 3.0))
        rows += tf.comparison(
            f"c{c:04d}",
            margin,
            {a: (float(rng.normal(0.5, 1.5)), float(rng.normal(0.5, 1.5))) for a in attrs},
        )
    return tf.table(rows)


def test_seed_determinism_and_ci_contains_estimate():
    table = random_table(40, ["a", "b", "c"], seed=1)
    s1 = sensitivity(table, n_boot=300, seed=7)
    s2 = sensitivity(table, n_boot=300, seed=7)
    pd.testing.assert_frame_equal(s1, s2)
    s3 = sensitivity(table, n_boot=300, seed=8)
    assert not np.allclose(s1["ci_low"], s3["ci_low"]) or not np.allclose(
        s1["ci_high"], s3["ci_high"]
    )
    assert (s1["ci_low"] <= s1["pfr"]).all() and (s1["pfr"] <= s1["ci_high"]).all()
    # narrower confidence -> interval no wider
    narrow = sensitivity(table, n_boot=300, seed=7, confidence=0.5)
    assert ((narrow["ci_high"] - narrow["ci_low"]) <= (s1["ci_high"] - s1["ci_low"]) + 1e-12).all()


def test_n_boot_zero_skips_bootstrap():
    sens = sensitivity(small_table(), n_boot=0)
    assert sens["ci_low"].isna().all() and sens["ci_high"].isna().all()
    assert get(sens, "verbosity", "both")["pfr"] == 0.75


def test_sort_ties_broken_by_margin_change_then_name():
    # All three attributes have pooled PFR 0.5. "beta" drops the margin most (change -1.5 and
    # -0.5 -> mean -1.0); "alpha" and "gamma" both average -0.75, so name decides.
    rows = tf.comparison(
        "c1", 1.0, {"gamma": (-0.25, 0.75), "alpha": (-0.25, 0.75), "beta": (-0.5, 0.5)}
    )
    sens = sensitivity(tf.table(rows), n_boot=0)
    assert list(sens["attribute"].unique()) == ["beta", "alpha", "gamma"]
    assert ranking(sens) == ["beta", "alpha", "gamma"]
    # originals (1, 0): sample sd sqrt(((1 - 0.5)² + (0 - 0.5)²) / 1) = sqrt(0.5)
    assert get(sens, "beta", "both")["mean_margin_change"] == pytest.approx(-1.0 / math.sqrt(0.5))


def test_ranking_orders_by_pooled_pfr_and_drops_untried():
    assert ranking(sensitivity(small_table(), n_boot=0)) == ["verbosity", "correctness"]


def test_twenty_thousand_rows_thousand_boots_fast():
    table = random_table(667, [f"attr{i}" for i in range(15)], seed=2)
    assert len(table) == 20_010
    sensitivity(table, n_boot=10)  # warm-up (imports, first allocation)
    start = time.perf_counter()
    sens = sensitivity(table, n_boot=1000, seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"sensitivity took {elapsed:.2f}s"
    assert sens["n"].sum() == 2 * len(table)  # worse + better count each row once, both again
    assert sens["ci_low"].notna().all()


def test_user_errors_are_typed():
    with pytest.raises(DataError, match="margin_after"):
        sensitivity(small_table().drop(columns=["margin_after"]))
    with pytest.raises(RMXError, match="n_boot"):
        sensitivity(small_table(), n_boot=-1)
    with pytest.raises(RMXError, match="confidence"):
        sensitivity(small_table(), confidence=95)
    bad = small_table()
    bad.loc[0, "direction"] = "sideways"
    with pytest.raises(DataError, match="sideways"):
        sensitivity(bad)


def test_a_successful_row_without_a_direction_is_refused_not_counted_as_worse():
    rows = tf.comparison("c1", 1.0, {"verbosity": (-1.0, 2.0)})  # worse CF, better SF
    table = tf.table(rows)
    assert sensitivity(table, n_boot=0).set_index("direction").loc["worse", "n"] == 1
    table.loc[table["direction"] == "better", "direction"] = None
    with pytest.raises(DataError, match="1 successful rewrite.*direction is not worse or better"):
        sensitivity(table, n_boot=0)
    cased = tf.table(rows)
    cased.loc[0, "outcome"] = "cf"
    with pytest.raises(DataError, match="outcome other than CF, SF or failed.*cf"):
        sensitivity(cased, n_boot=0)
    # a failed row may lack its direction (it counts only in the pooled row)
    failed = tf.table(tf.comparison("c1", 1.0, {"verbosity": (None, 2.0)}))
    failed.loc[failed["outcome"] == "failed", "direction"] = None
    both = sensitivity(failed, n_boot=0).set_index("direction").loc["both"]
    assert (both["n"], both["n_failed"]) == (1, 1)
    # the null table is held to the same rule
    null = tf.table(rows)
    null.loc[null["direction"] == "better", "direction"] = None
    with pytest.raises(DataError, match="the null table: 1 successful rewrite"):
        sensitivity(tf.table(rows), n_boot=0, null=null)
