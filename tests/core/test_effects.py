"""The naive and corrected (RATE) effect estimator on hand-made tables, every figure by hand."""

import math

import numpy as np
import pandas as pd
import pytest

import rmx_widgets as rmx
from rmx_widgets.core.effects import (
    EFFECTS_COLUMNS,
    NO_SPREAD,
    NOT_MEASURED,
    ONE_COMPARISON,
    effects,
    format_effects,
    opposite,
)
from rmx_widgets.core.sensitivity import reward_spread
from rmx_widgets.errors import RMXError

NAN = math.nan


def _rows(records):
    cols = ["comparison_id", "side", "attribute", "direction", "outcome"]
    cols += ["reward_original", "reward_other", "reward_perturbed", "back_reward", "back_failed"]
    return pd.DataFrame.from_records(records, columns=cols)


# c1: chosen 2, rejected 0; c2: chosen 3, rejected 1 -> originals 2, 0, 3, 1:
# mean 1.5, squared deviations 0.25 + 2.25 + 2.25 + 0.25 = 5, s = sqrt(5 / 3)
TABLE = _rows(
    [
        ("c1", "chosen", "x", "worse", "SF", 2.0, 0.0, 1.0, 1.5, False),  # naive -1, corr -0.5
        ("c1", "rejected", "x", "better", "CF", 0.0, 2.0, 3.0, 1.0, False),  # naive 3, corr 2
        ("c2", "chosen", "x", "worse", "SF", 3.0, 1.0, 2.0, NAN, True),  # back failed
        ("c2", "rejected", "x", "better", "SF", 1.0, 3.0, 1.5, 0.5, False),  # naive .5, corr 1
        ("c1", "chosen", "y", "worse", "SF", 2.0, 0.0, 1.0, NAN, True),  # back failed
    ]
)
S = math.sqrt(5 / 3)


def test_hand_computed_effects():
    out = effects(TABLE, n_boot=200)
    assert list(out.columns) == EFFECTS_COLUMNS
    assert reward_spread(TABLE) == pytest.approx(S)
    by = out.set_index(["attribute", "direction"])
    xw, xb = by.loc[("x", "worse")], by.loc[("x", "better")]
    assert (xw["n"], xw["n_failed"], xw["n_comparisons"]) == (1, 1, 1)
    assert xw["naive_effect"] == pytest.approx(-1 / S)
    assert xw["corrected_effect"] == pytest.approx(-0.5 / S)
    # one comparison: resampling it gives a zero-width interval, so no interval is claimed
    assert math.isnan(xw["naive_ci_low"]) and math.isnan(xw["naive_ci_high"])
    assert math.isnan(xw["corrected_ci_low"]) and xw["note"] == ONE_COMPARISON
    assert (xb["n"], xb["n_failed"], xb["n_comparisons"]) == (2, 0, 2)
    assert xb["naive_effect"] == pytest.approx(1.75 / S)
    assert xb["corrected_effect"] == pytest.approx(1.5 / S)
    # resamples: {c1,c1} -> 3/S, {c2,c2} -> 0.5/S, mixed -> 1.75/S
    assert 0.5 / S - 1e-9 <= xb["naive_ci_low"] <= xb["naive_ci_high"] <= 3 / S + 1e-9
    assert 1 / S - 1e-9 <= xb["corrected_ci_low"] <= xb["corrected_ci_high"] <= 2 / S + 1e-9
    assert xb["note"] == ""
    # y: its one back-rewrite failed (n = 0, not measured); nothing at all was tried "better"
    for direction, failed in (("worse", 1), ("better", 0)):
        row = by.loc[("y", direction)]
        assert (row["n"], row["n_failed"], row["note"]) == (0, failed, NOT_MEASURED)
        figures = row[["naive_effect", "corrected_effect", "naive_ci_low"]].astype(float)
        assert np.isnan(figures).all()
    # seeded: the same seed gives the same intervals
    pd.testing.assert_frame_equal(out, effects(TABLE, n_boot=200))
    assert effects(TABLE, n_boot=0)["naive_ci_low"].isna().all()
    text = "\n".join(format_effects(out))
    assert NOT_MEASURED in text and f"{-1 / S:+.2f}" in text


def test_all_back_rewrites_failed():
    failed = TABLE.assign(back_failed=True, back_reward=NAN)
    out = effects(failed)
    assert (out["n"] == 0).all() and (out["note"] == NOT_MEASURED).all()
    assert out["n_failed"].tolist() == [2, 2, 1, 0]
    assert out[EFFECTS_COLUMNS[3:9]].isna().all().all()


def test_constant_rewards_have_no_spread_nan_not_inf():
    flat = TABLE.assign(
        reward_original=1.0, reward_other=1.0, reward_perturbed=2.0, back_reward=1.0
    )
    out = effects(flat)
    values = out[EFFECTS_COLUMNS[3:9]].to_numpy(float)
    assert np.isnan(values).all() and not np.isinf(values).any()
    assert set(out.loc[out["n"] > 0, "note"]) == {NO_SPREAD}
    assert effects(TABLE, spread=0.0)["naive_effect"].isna().all()


def test_arguments_and_exports():
    assert (opposite("worse"), opposite("better")) == ("better", "worse")
    with pytest.raises(RMXError):
        opposite("both")
    with pytest.raises(RMXError):
        effects(TABLE, n_boot=-1)
    with pytest.raises(RMXError):
        effects(TABLE.assign(direction="both"))
    assert rmx.effects is effects and rmx.EFFECTS_COLUMNS == EFFECTS_COLUMNS


def test_a_back_rewrite_without_a_reward_is_counted_as_failed_not_dropped():
    # c1's x-better back-rewrite "succeeded" but has no reward: it leaves x-better's figures
    # (only c2's remains: naive 0.5, corrected 1) and is counted in n_failed, not lost
    missing = TABLE.copy()
    missing.loc[1, "back_reward"] = NAN
    by = effects(missing, n_boot=0, spread=S).set_index(["attribute", "direction"])
    xb = by.loc[("x", "better")]
    assert (xb["n"], xb["n_failed"]) == (1, 1)
    assert xb["naive_effect"] == pytest.approx(0.5 / S)
    assert xb["corrected_effect"] == pytest.approx(1.0 / S)
