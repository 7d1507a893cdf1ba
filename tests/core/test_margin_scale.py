"""The scale of ``mean_margin_change`` (issue 11, defect 5): the RM's reward spread over the
original responses, not each comparison's own margin, so that a near-tie cannot dominate.

Every expected value is worked out by hand in the test.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest
import table_factory as tf

from rmx_widgets.core.sensitivity import (
    margin_change_in_spread,
    ranking,
    relative_margin_change,
    reward_spread,
    sensitivity,
)


def with_rewards(rows: list[dict], chosen: float, rejected: float) -> list[dict]:
    """A comparison's rows with reward(chosen) = ``chosen`` and reward(rejected) =
    ``rejected`` (table_factory fixes rejected = 0): margin_before = chosen − rejected."""
    for r in rows:
        r["reward_original"], r["reward_other"] = (
            (chosen, rejected) if r["side"] == "chosen" else (rejected, chosen)
        )
    return rows


def get(sens: pd.DataFrame, attribute: str) -> pd.Series:
    return sens[(sens["attribute"] == attribute) & (sens["direction"] == "both")].iloc[0]


def test_a_near_tie_no_longer_decides_the_tie_breaker():
    """X cuts a clear margin from 5.0 to 0.5; Y moves it from 5.0 to 4.9. Neither flips (PFR
    0 each), so the margin change breaks the tie. A near-tie c2 (margin 1e-4) where X happens
    to widen the margin to 3e-4 and Y leaves it alone:

    relative (old): X = (−4.5/5 + 2e-4/1e-4)/2 = (−0.9 + 2)/2 = +0.55, Y = (−0.1/5 + 0)/2 =
    −0.01 → Y "drops more" and ranked first although X's drop is 45 times larger.

    spread (new): originals 5, 0, 1e-4, 0; mean 1.250025; squared deviations 14.062313 +
    1.562563 + 1.562313 + 1.562563 = 18.749750; sample sd sqrt(18.749750 / 3) = 2.499983.
    X = (−4.5 + 2e-4)/2 / 2.499983 = −0.899966, Y = (−0.1 + 0)/2 / 2.499983 = −0.020000.
    """
    rows = tf.comparison("c1", 5.0, {"X": (0.5, None), "Y": (4.9, None)}) + tf.comparison(
        "c2", 1e-4, {"X": (3e-4, None), "Y": (1e-4, None)}
    )
    table = tf.table(rows)
    spread = math.sqrt(18.749750 / 3)
    assert reward_spread(table) == pytest.approx(spread, rel=1e-6)
    sens = sensitivity(table, n_boot=0)
    assert get(sens, "X")["pfr"] == get(sens, "Y")["pfr"] == 0.0
    assert get(sens, "X")["mean_margin_change"] == pytest.approx(-0.899966, abs=1e-5)
    assert get(sens, "Y")["mean_margin_change"] == pytest.approx(-0.020000, abs=1e-5)
    assert ranking(sens) == ["X", "Y"]  # the big drop first
    # the old per-comparison scale would have put Y first (kept for local rankings only)
    ok = table[table["outcome"] != "failed"]
    old = relative_margin_change(ok).groupby(ok["attribute"]).mean()
    assert old["X"] == pytest.approx(0.55) and old["Y"] == pytest.approx(-0.01)


def test_spread_by_hand_on_three_comparisons():
    """Originals (3, 1), (4, 2), (1, −1), each comparison once however many rows it has:
    values 3, 1, 4, 2, 1, −1; mean 10/6 = 5/3; deviations 4/3, −2/3, 7/3, 1/3, −2/3, −8/3;
    squares (16 + 4 + 49 + 1 + 4 + 64)/9 = 138/9; / (6 − 1) = 138/45 = 3.066667; sd =
    1.751190. A fourth comparison whose rewrites all failed is not averaged, so its rewards
    (100, 0) do not count."""
    rows = (
        with_rewards(tf.comparison("c1", 2.0, {"a": (1.0, 0.0), "b": (-1.0, 1.5)}), 3.0, 1.0)
        + with_rewards(tf.comparison("c2", 2.0, {"a": (0.0, None)}), 4.0, 2.0)
        + with_rewards(tf.comparison("c3", 2.0, {"a": (-2.0, 2.0)}), 1.0, -1.0)
        + with_rewards(tf.comparison("c4", 100.0, {"a": (None, None)}), 100.0, 0.0)
    )
    table = tf.table(rows)
    s = math.sqrt(138 / 45)
    assert s == pytest.approx(1.751190, abs=1e-6)
    assert reward_spread(table) == pytest.approx(s)
    per_row = margin_change_in_spread(table)
    # c1/a chosen: 1 − 2 = −1 → −1/s; c3/a rejected: 2 − 2 = 0; failed rows NaN
    assert per_row.iloc[0] == pytest.approx(-1 / s)
    assert per_row[table["outcome"] == "failed"].isna().all()
    sens = sensitivity(table, n_boot=0)
    # a: c1 (−1, −2), c2 chosen (−2), c3 (−4, 0): (−1 − 2 − 2 − 4 + 0) / 5 / s
    assert get(sens, "a")["mean_margin_change"] == pytest.approx(-9 / 5 / s)
    # b: c1 chosen −1 − 2 = −3, rejected 1.5 − 2 = −0.5: −1.75 / s
    assert get(sens, "b")["mean_margin_change"] == pytest.approx(-1.75 / s)


def test_one_comparison_is_measured():
    """One comparison (2, 0): sd of 2 and 0 = sqrt(((2 − 1)² + (0 − 1)²) / 1) = sqrt(2)."""
    table = tf.table(tf.comparison("c1", 2.0, {"a": (-1.0, 1.0)}))
    assert reward_spread(table) == pytest.approx(math.sqrt(2))
    # (−3 + −1) / 2 / sqrt(2)
    assert get(sensitivity(table, n_boot=0), "a")["mean_margin_change"] == pytest.approx(
        -2 / math.sqrt(2)
    )


def test_equal_originals_give_not_measured_never_inf():
    """Every original reward 1.0: spread 0, so no scale: NaN ("not measured"), not ±inf —
    even for rows that report a margin_before > 0 (an inconsistent table)."""
    rows = with_rewards(tf.comparison("c1", 0.5, {"a": (-1.0, 0.2)}), 1.0, 1.0) + with_rewards(
        tf.comparison("c2", 0.5, {"a": (0.1, 0.3)}), 1.0, 1.0
    )
    table = tf.table(rows)
    assert math.isnan(reward_spread(table))
    assert margin_change_in_spread(table).isna().all()
    sens = sensitivity(table, n_boot=0)
    assert sens["mean_margin_change"].isna().all()
    assert get(sens, "a")["pfr"] == pytest.approx(0.25)  # the PFR is still measured
    # fewer than two finite rewards, or no reward columns: not measured either
    one = with_rewards(tf.comparison("c1", 1.0, {"a": (0.5, None)}), 1.0, math.nan)
    assert math.isnan(reward_spread(tf.table(one)))
    bare = tf.table(tf.comparison("c1", 1.0, {"a": (0.5, 0.5)})).drop(
        columns=["reward_original", "reward_other"]
    )
    assert math.isnan(reward_spread(bare))
    assert sensitivity(bare, n_boot=0)["mean_margin_change"].isna().all()
