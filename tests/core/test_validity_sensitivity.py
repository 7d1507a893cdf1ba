"""Valid-rewrite rates and ``sensitivity(valid_only=True)`` on a hand-built table.

Every expected number is computed by hand below from the eight rows of ``table()``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import table_factory as tf
from scipy import stats

from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.readability import face_rows
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, sensitivity
from rmx_widgets.core.validity_rates import (
    VALIDITY_COLUMNS,
    valid_flags,
    valid_text,
    validity_totals,
)

NA = pd.NA

# (comparison, attribute, side, margin_before, margin_after or None = failed, valid, length Δ)
ROWS = [
    ("c1", "tone", "chosen", 2.0, -1.0, True, 0),  # r1 CF, valid, length-controlled
    ("c1", "tone", "rejected", 2.0, 1.0, False, 0),  # r2 SF, invalid, controlled
    ("c2", "tone", "chosen", 1.0, 0.5, True, 10),  # r3 SF, valid
    ("c2", "tone", "rejected", 1.0, -0.5, NA, 10),  # r4 CF, undecided
    ("c3", "tone", "chosen", 4.0, None, NA, None),  # r5 failed
    ("c3", "tone", "rejected", 4.0, -2.0, True, 0),  # r6 CF, valid, controlled
    ("c1", "length", "chosen", 2.0, 1.0, False, 10),  # r7 SF, invalid
    ("c2", "length", "rejected", 1.0, -1.0, False, 10),  # r8 CF, invalid
]


def table(rows=ROWS) -> pd.DataFrame:
    t = tf.table(tf.row(c, a, s, mb, ma) for c, a, s, mb, ma, _, _ in rows)
    t["length_change"] = [math.nan if d is None else float(d) for *_, d in rows]
    t["valid"] = pd.array([v for *_, v, _ in rows], dtype="boolean")
    t["validity_reason"] = [None if v is NA else "hand" for *_, v, _ in rows]
    return t


def null_table() -> pd.DataFrame:
    """The attribute-blind rewrites of the same keys (CF = margin_after < 0)."""
    rows = [
        ("c1", "tone", "chosen", 2.0, 1.0),  # SF
        ("c1", "tone", "rejected", 2.0, -1.0),  # CF
        ("c2", "tone", "chosen", 1.0, 0.5),  # SF
        ("c2", "tone", "rejected", 1.0, -0.5),  # CF
        ("c3", "tone", "rejected", 4.0, 1.0),  # SF
        ("c1", "length", "chosen", 2.0, -1.0),  # CF
        ("c2", "length", "rejected", 1.0, 0.5),  # SF
    ]
    return tf.table(tf.row(c, a, s, mb, ma, perturber="random") for c, a, s, mb, ma in rows)


def get(sens: pd.DataFrame, attribute: str, direction: str) -> pd.Series:
    rows = sens[(sens["attribute"] == attribute) & (sens["direction"] == direction)]
    assert len(rows) == 1
    return rows.iloc[0]


def spread() -> float:
    """The reward spread: c1 (2, 0), c2 (1, 0), c3 (0, 4), from each comparison's first
    successful row (the same comparisons keep a valid rewrite, so valid-only shares it)."""
    return float(np.std([2.0, 0.0, 1.0, 0.0, 0.0, 4.0], ddof=1))


def test_columns_are_appended_last():
    sens = sensitivity(table(), n_boot=0)
    assert list(sens.columns) == SENSITIVITY_COLUMNS
    assert SENSITIVITY_COLUMNS[-3:] == VALIDITY_COLUMNS == ["n_judged", "n_valid", "valid_rate"]


def test_valid_rates_by_hand_undecided_counted_neither_way():
    sens = sensitivity(table(), n_boot=0)
    # tone worse: r1 True, r3 True (r5 failed: never judged) -> 2 judged, 2 valid
    # tone better: r2 False, r4 undecided (not judged), r6 True -> 2 judged, 1 valid
    # length: r7, r8 False -> 1 judged 0 valid per direction
    expected = {
        ("tone", "worse"): (2, 2, 1.0),
        ("tone", "better"): (2, 1, 0.5),
        ("tone", "both"): (4, 3, 0.75),
        ("length", "worse"): (1, 0, 0.0),
        ("length", "better"): (1, 0, 0.0),
        ("length", "both"): (2, 0, 0.0),
    }
    for (a, d), (judged, valid, rate) in expected.items():
        row = get(sens, a, d)
        assert (row["n_judged"], row["n_valid"]) == (judged, valid), (a, d)
        assert row["valid_rate"] == pytest.approx(rate), (a, d)
    # the other figures still count every successful rewrite
    assert (get(sens, "tone", "better")["n"], get(sens, "tone", "better")["pfr"]) == (3, 2 / 3)
    totals = validity_totals(table())
    assert totals == {
        "judged": 6,
        "valid": 3,
        "invalid": 3,
        "undecided": 1,
        "valid_rate": 0.5,
    }


def test_valid_only_by_hand():
    full = sensitivity(table(), n_boot=0)
    sens = sensitivity(table(), n_boot=0, valid_only=True)
    assert sens.attrs["valid_only"] is True and full.attrs["valid_only"] is False
    s = spread()
    # kept: r1 (CF), r3 (SF), r6 (CF); r5 stays as a failed row
    worse, better, both = (get(sens, "tone", d) for d in ("worse", "better", "both"))
    assert (worse["n"], worse["pfr"], worse["n_failed"], worse["n_comparisons"]) == (2, 0.5, 1, 2)
    assert (better["n"], better["pfr"], better["n_failed"], better["n_comparisons"]) == (1, 1, 0, 1)
    assert (both["n"], both["pfr"], both["n_failed"], both["n_comparisons"]) == (3, 2 / 3, 1, 3)
    assert worse["n_rewrites"] == 2
    # margin change in units of the spread: r1 (-1 - 2), r3 (0.5 - 1), r6 (-2 - 4)
    assert worse["mean_margin_change"] == pytest.approx((-3.0 - 0.5) / 2 / s)
    assert better["mean_margin_change"] == pytest.approx(-6.0 / s)
    assert both["mean_margin_change"] == pytest.approx((-3.0 - 0.5 - 6.0) / 3 / s)
    # length-controlled (|Δ| < 10 % of the 4-word original): r1 and r6 among the valid ones
    assert (worse["n_length_controlled"], worse["pfr_length_controlled"]) == (1, 1.0)
    assert (better["n_length_controlled"], better["pfr_length_controlled"]) == (1, 1.0)
    full_better = get(full, "tone", "better")  # r2 (SF) and r6 (CF) without the filter
    assert (full_better["n_length_controlled"], full_better["pfr_length_controlled"]) == (2, 0.5)
    # the valid-rewrite columns describe every successful rewrite, with or without the filter
    pd.testing.assert_frame_equal(
        sens[["attribute", "direction", *VALIDITY_COLUMNS]],
        full[["attribute", "direction", *VALIDITY_COLUMNS]],
    )


def test_all_invalid_attribute_is_not_measured_never_zero():
    sens = sensitivity(table(), n_boot=200, valid_only=True, null=null_table())
    for d in ("worse", "better", "both"):
        row = get(sens, "length", d)
        assert row["n"] == 0 and row["n_comparisons"] == 0 and row["n_failed"] == 0
        for col in ("pfr", "ci_low", "ci_high", "mean_margin_change", "pfr_length_controlled"):
            assert math.isnan(row[col]), (d, col)
        assert row["n_length_controlled"] == 0
        assert row["null_n"] == 0 and math.isnan(row["null_pfr"])
        assert row["n_judged"] > 0 and row["valid_rate"] == 0.0
    faces = face_rows(sens)
    assert faces.set_index("attribute").loc["length", "reading"] == "not measured"
    assert faces.set_index("attribute").loc["length", "pfr_text"] == "not measured"


def test_whole_table_invalid():
    rows = [(*r[:5], False if r[4] is not None else NA, r[6]) for r in ROWS]
    sens = sensitivity(table(rows), n_boot=100, valid_only=True, null=null_table())
    assert (sens["n"] == 0).all() and sens["pfr"].isna().all()
    assert (sens["null_n"] == 0).all() and sens["null_pfr"].isna().all()
    assert get(sens, "tone", "both")["n_failed"] == 1  # r5 still counted as failed
    assert get(sens, "tone", "both")["valid_rate"] == 0.0


def test_one_valid_rewrite_interval_is_wilson_floored():
    sens = sensitivity(table(), n_boot=500, seed=3, valid_only=True)
    row = get(sens, "tone", "better")  # r6 only: k = 1 of n = 1
    z = stats.norm.ppf(0.975)
    assert row["pfr"] == 1.0
    assert row["ci_low"] == pytest.approx(1 / (1 + z**2))  # Wilson's low at p = 1, n = 1
    assert row["ci_high"] == pytest.approx(1.0)
    # the same figures as a table from which the not-valid rewrites were removed by hand
    by_hand = table().iloc[[0, 2, 4, 5]]
    pd.testing.assert_series_equal(
        sens[sens["attribute"] == "tone"]["ci_low"].reset_index(drop=True),
        sensitivity(by_hand, n_boot=500, seed=3)["ci_low"].reset_index(drop=True),
    )


def test_null_test_pairs_only_the_valid_rewrites():
    full = sensitivity(table(), n_boot=0, null=null_table())
    sens = sensitivity(table(), n_boot=0, null=null_table(), valid_only=True)
    # valid-only worse: r1 CF / null SF, r3 SF / null SF -> 2 pairs, null 0/2, excess 1/2
    worse = get(sens, "tone", "worse")
    assert (worse["null_n"], worse["null_pfr"], worse["excess_pfr"]) == (2, 0.0, 0.5)
    # valid-only better: r6 CF / null SF -> 1 pair, excess 1
    better = get(sens, "tone", "better")
    assert (better["null_n"], better["null_pfr"], better["excess_pfr"]) == (1, 0.0, 1.0)
    both = get(sens, "tone", "both")
    assert (both["null_n"], both["null_pfr"]) == (3, 0.0)
    assert both["excess_pfr"] == pytest.approx(2 / 3)
    # unfiltered better: r2 SF / CF, r4 CF / CF, r6 CF / SF -> 3 pairs, null 2/3
    fb = get(full, "tone", "better")
    assert fb["null_n"] == 3 and fb["null_pfr"] == pytest.approx(2 / 3)
    # sign test over comparisons, valid-only worse: d(c1) = 1 - 0, d(c2) = 0 - 0 -> 1 of 1
    assert worse["p_value"] == pytest.approx(stats.binomtest(1, 1, 0.5).pvalue)


def test_without_a_judge_rates_are_not_measured_and_valid_only_refuses():
    plain = table().drop(columns=["valid", "validity_reason"])
    sens = sensitivity(plain, n_boot=0)
    assert (sens["n_judged"] == 0).all() and (sens["n_valid"] == 0).all()
    assert sens["valid_rate"].isna().all()  # not measured, never 0
    with pytest.raises(OptionError, match=r"valid_only=True needs judged rewrites: run with"):
        sensitivity(plain, n_boot=0, valid_only=True)
    undecided = table()
    undecided["valid"] = pd.array([NA] * len(undecided), dtype="boolean")
    with pytest.raises(OptionError, match="needs judged rewrites"):
        sensitivity(undecided, n_boot=0, valid_only=True)


def test_valid_column_as_files_give_it_back():
    # Parquet: None objects; JSON lines: 1.0 / 0.0 / NaN; a verdict on a failed row is ignored
    objects = pd.DataFrame(
        {"outcome": ["CF", "SF", "failed", "SF"], "valid": [True, None, True, False]}
    )
    floats = objects.assign(valid=[1.0, math.nan, 1.0, 0.0])
    for t in (objects, floats):
        assert valid_flags(t).tolist() == [True, NA, NA, False]
    assert valid_text(3, 4) == "3/4 (0.75)"
    assert valid_text(0, 0) == "not measured"
    assert valid_text(math.nan, math.nan) == "not measured"
