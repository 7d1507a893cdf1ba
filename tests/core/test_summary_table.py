"""The per-attribute summary table (core.summary_table): every figure of an attribute on one
row, read from sensitivity() (which computes them). Expected values are computed by hand here,
including n = 1, an attribute whose rewrites all failed and rewrites that all end in a tie."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sens_frames import sens_frame
from summary_cells import Z2, outcomes

from rmx_widgets.core.readability import FACE_NUMBER_COLUMNS, TEXT_COLUMNS, face_rows, legend
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.summary_table import (
    NO_LENGTH,
    SUMMARY_COLUMNS,
    SUMMARY_KEY,
    SUMMARY_TEXT_COLUMNS,
    flip_counts,
    length_text,
    summary_legend,
    summary_table,
    summary_text_columns,
)


def row(summary: pd.DataFrame, attribute: str, direction: str = "both") -> pd.Series:
    hit = summary[(summary["attribute"] == attribute) & (summary["direction"] == direction)]
    assert len(hit) == 1
    return hit.iloc[0]


# the null test's hand-checked example (tests/core/test_null_test.py): attribute "v" on c1..c6
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


def test_counts_rates_null_and_holm_by_hand():
    sens = sensitivity(outcomes(TARGET), null=outcomes(NULL, perturber="random"), n_boot=200)
    summary = summary_table(sens, directions=None)
    assert list(summary.columns) == SUMMARY_COLUMNS
    worse, better, both = (row(summary, "v", d) for d in ("worse", "better", "both"))
    # worse: 6 CF of 6; better: c1 SF, c2 CF, c3 SF, c4 failed, c5 SF, c6 CF
    assert (worse["n"], worse["n_failed"], worse["n_cf"], worse["n_sf"]) == (6, 0, 6, 0)
    assert (better["n"], better["n_failed"], better["n_cf"], better["n_sf"]) == (5, 1, 2, 3)
    assert (both["n"], both["n_failed"], both["n_cf"], both["n_sf"]) == (11, 1, 8, 3)
    assert both["pfr"] == pytest.approx(8 / 11) and better["pfr"] == pytest.approx(2 / 5)
    # null: worse pairs c1..c6, one null flip (c6): 1/6; better pairs c1, c2, c3, c6 (c4's
    # rewrite and c5's null failed): null flips c6 -> 1/4, paired target flips c2, c6 -> 2/4
    assert (worse["null_n"], worse["null_pfr"]) == (6, pytest.approx(1 / 6))
    assert (better["null_n"], better["null_pfr"]) == (4, pytest.approx(1 / 4))
    assert worse["excess_pfr"] == pytest.approx(1 - 1 / 6)
    assert better["excess_pfr"] == pytest.approx(2 / 4 - 1 / 4)
    assert both["excess_pfr"] == pytest.approx((6 + 2 - 1 - 1) / 10)  # 10 pairs
    # p: worse 5 target-only of 5 discordant: 2 · (1/2)^5 = 0.0625; better 1 of 1: 1.0; both:
    # d_c > 0 for c1..c5, 0 for c6: 0.0625. Holm over 3: 3 · 0.0625 = 0.1875 (twice), 1.0
    assert worse["p_adjusted"] == pytest.approx(0.1875)
    assert both["p_adjusted"] == pytest.approx(0.1875)
    assert better["p_adjusted"] == pytest.approx(1.0)
    assert [worse["significant"], better["significant"], both["significant"]] == [False] * 3
    # text cells: the faces' words, n with its too-few mark
    assert both["n_text"] == "11" and worse["n_text"] == "6 (too few)"
    assert both["failed_text"] == "1/12 (0.08)"  # 1 failed of 12 attempted
    assert (both["cf_text"], both["sf_text"]) == ("8", "3")
    assert both["pfr_text"].startswith("0.73 [")
    assert both["significance"] == "n.s." and both["p_text"] == "0.188"
    # "(v worse)" adds 2 words to a 4-word original (50 %): no rewrite is length-controlled
    assert both["n_length_controlled"] == 0 and math.isnan(both["pfr_length_controlled"])
    assert both["length_text"] == "not measured (n=0)"


def test_one_rewrite():
    """n = 1, one flip: CF 1, SF 0, PFR 1 with the Wilson floor at n = 1, too few to read."""
    sens = sensitivity(outcomes({("c1", "a"): ("CF", None)}, same_length=True), n_boot=200)
    both = row(summary_table(sens), "a")
    assert (both["n"], both["n_cf"], both["n_sf"], both["n_failed"]) == (1, 1, 0, 0)
    # Wilson at k = n = 1: centre (1 + z²/2)/(1 + z²), half (z²/2)/(1 + z²); high clips to 1
    low = (1 + Z2 / 2) / (1 + Z2) - (Z2 / 2) / (1 + Z2)
    assert low == pytest.approx(0.20655, abs=1e-5)
    assert (both["pfr"], both["ci_low"], both["ci_high"]) == (1.0, pytest.approx(low), 1.0)
    assert both["reading"] == "too few" and both["n_text"] == "1 (too few)"
    assert both["pfr_text"] == "1.00 [0.21, 1.00]"
    # one word swapped in 10: length change 0 < 10 %, so the one rewrite is controlled
    assert (both["n_length_controlled"], both["pfr_length_controlled"]) == (1, 1.0)
    assert both["length_text"] == "1.00 (n=1)"
    assert both["null_text"] == "no null run" and both["significance"] == "no null run"
    assert pd.isna(both["null_pfr"]) and both["significant"] is None


def test_all_failed_is_not_measured_and_all_tied_is_a_measured_zero():
    spec = {
        ("c1", "broken"): ("failed", "failed"),
        ("c2", "broken"): ("failed", None),
        ("c1", "flat"): ("tie", "tie"),
        ("c2", "flat"): ("tie", "tie"),
    }
    summary = summary_table(sensitivity(outcomes(spec, same_length=True), n_boot=0))
    broken, flat = row(summary, "broken"), row(summary, "flat")
    # every rewrite failed: counts of nothing are 0, every rate "not measured", never 0
    assert (broken["n"], broken["n_failed"], broken["n_cf"], broken["n_sf"]) == (0, 3, 0, 0)
    assert broken["reading"] == "not measured" and math.isnan(broken["pfr"])
    assert broken["pfr_text"] == "not measured" and broken["failed_text"] == "3/3 (1.00)"
    assert (broken["cf_text"], broken["sf_text"]) == ("0", "0")
    assert broken["length_text"] == "not measured (n=0)"
    # every rewrite ends in a tie (margin 0): no flip (CF needs margin < 0), so 4 SF, PFR 0
    assert (flat["n"], flat["n_cf"], flat["n_sf"], flat["pfr"]) == (4, 0, 4, 0.0)
    assert flat["pfr_text"] == "0.00" and flat["reading"] == "too few"  # n_boot=0: no interval
    assert flat["length_text"] == "0.00 (n=4)"
    # the measured attribute ranks above the unmeasured one
    assert summary["attribute"].tolist() == ["flat", "broken"]


def test_a_table_without_length_or_null_columns_says_so():
    sens = sensitivity(outcomes({("c1", "a"): ("CF", "SF")}), n_boot=0)
    old = sens[
        [c for c in sens.columns if c not in ("pfr_length_controlled", "n_length_controlled")]
    ]
    both = row(summary_table(old), "a")
    assert both["length_text"] == NO_LENGTH and pd.isna(both["n_length_controlled"])
    assert length_text(0.5, None) == NO_LENGTH
    assert length_text(0.25, 8) == "0.25 (n=8)"


def test_flip_counts_refuse_a_rate_that_is_no_count():
    cf, sf = flip_counts(pd.Series([0.5, math.nan, 1 / 3]), pd.Series([4, 0, 3]))
    assert cf.tolist() == [2, 0, 1] and sf.tolist() == [2, 0, 2]
    with pytest.raises(ValueError, match="whole number"):
        flip_counts(pd.Series([0.3]), pd.Series([4]))


def test_headers_gain_the_valid_cell_only_with_verdicts():
    sens = sensitivity(outcomes({("c1", "a"): ("CF", "SF")}), n_boot=0)
    assert summary_text_columns(sens) == SUMMARY_TEXT_COLUMNS
    sens["n_judged"] = 1
    keys = list(summary_text_columns(sens))
    assert keys[:3] == ["n_text", "failed_text", "valid_text"]


def test_the_summary_is_the_face_rows_plus_its_own_columns():
    """One base list (core.readability.FACE_NUMBER_COLUMNS): the summary's shared numbers and
    the faces' shared text cells are the face rows' own, value for value."""
    sens = sens_frame("columns")
    summary, face = summary_table(sens, directions=None), face_rows(sens, directions=None)
    assert list(summary.columns[: len(FACE_NUMBER_COLUMNS)]) == FACE_NUMBER_COLUMNS
    pd.testing.assert_frame_equal(summary[FACE_NUMBER_COLUMNS], face[FACE_NUMBER_COLUMNS])
    shared = [c for c in SUMMARY_TEXT_COLUMNS if c in TEXT_COLUMNS]
    assert shared == list(TEXT_COLUMNS)  # every face cell, in the faces' order
    assert summary[shared].equals(face[shared])
    assert {SUMMARY_TEXT_COLUMNS[c] for c in shared} == set(TEXT_COLUMNS.values())


def test_the_legend_follows_the_table():
    sens = sens_frame("columns")
    assert summary_legend(sens) == summary_legend() == f"{legend()} {SUMMARY_KEY}"
    sens.attrs.update(alpha=0.01, valid_only=True)
    sens["n_judged"] = 1
    text = summary_legend(sens)
    assert "α = 0.01" in text and "valid (judged) = " in text
    assert text.startswith("Figures on rewrites judged valid only.")
    assert text.endswith(SUMMARY_KEY)
