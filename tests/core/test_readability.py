"""The readability marks and text cells every face shows (rmx_widgets.core.readability)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.core.readability import (
    FACE_COLUMNS,
    MIN_READABLE_N,
    NO_NULL,
    face_rows,
    failed_rate,
    failed_text,
    interval_text,
    legend,
    p_text,
    reading,
    significance_marker,
)


def test_min_readable_n_is_ten_successful_rewrites():
    assert MIN_READABLE_N == 10


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "not measured"),  # no successful rewrite: never PFR 0
        (None, "not measured"),
        (math.nan, "not measured"),
        (pd.NA, "not measured"),
        (1, "too few"),  # 0 < 1 < 10
        (9, "too few"),  # the last n below the minimum
        (10, "ok"),  # the minimum itself reads
        (11, "ok"),
    ],
)
def test_reading_marks_not_measured_and_too_few(n, expected):
    assert reading(n) == expected


def test_failed_rate_is_failed_over_attempted():
    assert failed_rate(30, 10) == pytest.approx(10 / 40)  # 10 failed of 30 + 10 attempted
    assert failed_rate(0, 5) == 1.0  # all failed: 5 / (0 + 5)
    assert failed_rate(1, 0) == 0.0  # n = 1, none failed: 0 / 1
    assert math.isnan(failed_rate(0, 0))  # nothing attempted: no rate, not 0
    assert failed_text(30, 10) == "10/40 (0.25)"
    assert failed_text(0, 5) == "5/5 (1.00)"
    assert failed_text(0, 0) == "0/0"


def test_interval_text_and_its_missing_parts():
    assert interval_text(0.42, 0.3, 0.55) == "0.42 [0.30, 0.55]"
    assert interval_text(0.42, math.nan, math.nan) == "0.42"  # n_boot = 0: no interval
    assert interval_text(math.nan, math.nan, math.nan) == "not measured"
    # signed for an excess over the null; a rounded zero has no sign
    assert interval_text(0.1, -0.2, 0.4, signed=True) == "+0.10 [-0.20, +0.40]"
    assert interval_text(-0.001, -0.3, 0.3, signed=True) == "0.00 [-0.30, +0.30]"


def test_p_text_and_the_significance_marker():
    assert p_text(0.0123) == "0.012"
    assert p_text(0.0004) == "<0.001"
    assert p_text(pd.NA) == "–"
    assert significance_marker(True) == "*"
    assert significance_marker(False) == "n.s."
    assert significance_marker(pd.NA) == "not tested"  # a null ran, this row has no test
    assert significance_marker(pd.NA, has_null=False) == "no null run"
    assert significance_marker(True, has_null=False) == "no null run"


def test_face_rows_with_a_null_run():
    rows = face_rows(sens_frame("columns")).set_index("attribute")
    assert list(face_rows(sens_frame("columns")).columns) == FACE_COLUMNS
    tone, length, hostile = rows.loc["tone"], rows.loc["length"], rows.loc[HOSTILE]
    assert (tone["reading"], tone["n_text"]) == ("ok", "40")
    assert tone["failed_rate"] == pytest.approx(10 / 50)  # 10 failed of 40 + 10
    assert tone["failed_text"] == "10/50 (0.20)"
    assert tone["pfr_text"] == "0.50 [0.35, 0.65]"
    assert tone["null_text"] == "0.10 (n=40)"
    assert tone["excess_text"] == "+0.40 [+0.20, +0.60]"
    assert (tone["p_text"], tone["significance"]) == ("0.001", "*")  # Holm p 0.0012
    assert (length["reading"], length["n_text"]) == ("too few", "9 (too few)")
    assert length["pfr_text"] == "0.11 [0.02, 0.43]"  # 1/9 = 0.111
    assert length["failed_text"] == "1/10 (0.10)"
    assert (length["excess_text"], length["p_text"], length["significance"]) == (
        "0.00 [-0.30, +0.30]",
        "1.000",
        "n.s.",
    )
    assert hostile["reading"] == "not measured" and hostile["n"] == 0
    assert hostile["pfr_text"] == "not measured" and math.isnan(hostile["pfr"])
    assert hostile["failed_text"] == "5/5 (1.00)"  # every rewrite failed
    assert hostile["null_text"] == "0.20 (n=10)"  # the null ran on it
    assert (hostile["excess_text"], hostile["p_text"], hostile["significance"]) == (
        "–",
        "–",
        "not tested",
    )


@pytest.mark.parametrize("null", ["na", "absent"])
def test_face_rows_without_a_null_run_say_so(null):
    rows = face_rows(sens_frame(null))
    assert list(rows["attribute"]) == ["tone", "length", HOSTILE]  # the table's order
    for column in ("null_text", "excess_text", "p_text", "significance"):
        assert set(rows[column]) == {NO_NULL}, column
    assert rows["null_pfr"].isna().all() and rows["p_adjusted"].isna().all()
    assert rows["significant"].isna().all()
    assert list(rows["pfr_text"]) == ["0.50 [0.35, 0.65]", "0.11 [0.02, 0.43]", "not measured"]


def test_face_rows_never_show_pfr_zero_for_nothing_measured():
    """A hand-made table that says PFR 0 with n = 0 still reads "not measured"."""
    sens = sens_frame("absent").iloc[[8]].assign(pfr=0.0, ci_low=0.0, ci_high=0.0)
    row = face_rows(sens).iloc[0]
    assert row["pfr_text"] == "not measured" and math.isnan(row["pfr"])


def test_face_rows_keeps_the_directions_asked_for():
    rows = face_rows(sens_frame("columns"), directions=None)
    assert len(rows) == 9
    assert list(rows["direction"][:3]) == ["worse", "better", "both"]
    assert rows.loc[3, "failed_text"] == "1/6 (0.17)"  # length worse: 1 of 5 + 1


def test_legend_states_min_n_alpha_and_holm():
    text = legend()
    assert "fewer than 10 successful rewrites" in text
    assert "α = 0.05" in text and "Holm" in text and "not measured" in text
    assert "α = 0.01" in legend(alpha=0.01)
