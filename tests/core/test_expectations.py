"""Declared expectations (core.expectations): per-row verdicts, pass rates and Wilson intervals
checked against numbers worked out by hand on a hand-made table."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import table_factory as tf

import rmx_widgets as rmx
from rmx_widgets.core.attributes import get_attribute
from rmx_widgets.core.errors import OptionError
from rmx_widgets.core.expectations import (
    EXPECTATION_COLUMNS,
    Expectation,
    check_expectations,
    failing,
)
from rmx_widgets.core.report import report_html
from rmx_widgets.core.result import ExplanationResult

Z = 1.959963984540054  # Φ⁻¹(0.975), written out so the interval is checked independently


def wilson(k: int, n: int) -> tuple[float, float]:
    p, z2 = k / n, Z * Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(centre - half, 0.0), min(centre + half, 1.0)


def hand_table() -> pd.DataFrame:
    """margin_after − margin_before (Δ) per correctness row, and its verdict for
    "prefers correctness" (pass: Δ < 0) / "invariant to correctness" (fail: margin_after < 0):

    c1 (margin 2): chosen 1.0  Δ −1.0 pass / pass;   rejected 2.5  Δ +0.5 fail / pass
    c2 (margin 1): chosen −0.5 Δ −1.5 pass / FLIP;   rejected 1.0  Δ 0    tie  / pass
    c3 (margin 3): chosen failed;                    rejected 0.0  Δ −3.0 pass / tie
    c4 (margin 1): chosen 1.7  Δ +0.7 fail / pass;   rejected 4.0  Δ +3.0 fail / pass
    verbosity: c1 both rows Δ 0 (ties); manner: c1 both rows failed; clarity: one row, c2
    chosen 0.2 (Δ −0.8, pass).
    """
    rows = [
        *tf.comparison("c1", 2.0, {"correctness": (1.0, 2.5), "verbosity": (2.0, 2.0)}),
        *tf.comparison("c1", 2.0, {"manner": (None, None)}),
        *tf.comparison("c2", 1.0, {"correctness": (-0.5, 1.0)}),
        tf.row("c2", "clarity", "chosen", 1.0, 0.2),
        *tf.comparison("c3", 3.0, {"correctness": (None, 0.0)}),
        *tf.comparison("c4", 1.0, {"correctness": (1.7, 4.0)}),
    ]
    return tf.table(rows)


def one(frame: pd.DataFrame, label: str) -> pd.Series:
    return frame.set_index("expectation").loc[label]


def test_prefers_counts_rate_and_wilson_by_hand():
    out = check_expectations(hand_table(), [Expectation("correctness", "prefers", "better")])
    assert list(out.columns) == EXPECTATION_COLUMNS and len(out) == 1
    r = out.iloc[0]
    assert (r.expectation, r.attribute, r.kind, r.direction) == (
        "prefers correctness",
        "correctness",
        "prefers",
        "better",
    )
    # passes: c1 chosen, c2 chosen, c3 rejected; fails: c1 rejected, c4 chosen, c4 rejected
    assert (r.n, r.n_pass, r.n_fail) == (6, 3, 3)
    assert (r.n_ties, r.n_failed_rewrites, r.n_excluded) == (1, 1, 2)
    assert r.pass_rate == 0.5
    assert (r.ci_low, r.ci_high) == pytest.approx(wilson(3, 6))
    assert (r.ci_low, r.ci_high) == pytest.approx((0.1876, 0.8124), abs=1e-4)
    assert r.note is None or (isinstance(r.note, float) and math.isnan(r.note))


def test_prefers_worse_is_the_mirror():
    r = check_expectations(hand_table(), ["prefers worse correctness"]).iloc[0]
    assert (r.n, r.n_pass, r.n_fail, r.n_ties, r.direction) == (6, 3, 3, 1, "worse")


def test_invariant_fails_on_a_flip_only():
    r = check_expectations(hand_table(), ["invariant to correctness"]).iloc[0]
    # one flip (c2 chosen, margin −0.5); c3 rejected lands on margin 0: a tie, excluded
    assert (r.n, r.n_pass, r.n_fail, r.n_ties, r.n_failed_rewrites) == (6, 5, 1, 1, 1)
    assert r.pass_rate == pytest.approx(5 / 6) and r.direction is None
    assert (r.ci_low, r.ci_high) == pytest.approx((0.4365, 0.9699), abs=1e-4)


def test_n_equal_one():
    r = check_expectations(hand_table(), ["prefers clear"]).iloc[0]
    assert (r.attribute, r.n, r.n_pass, r.n_fail, r.pass_rate) == ("clarity", 1, 1, 0, 1.0)
    # k = n = 1: low = 1 / (1 + z²), high = 1
    assert r.ci_low == pytest.approx(1 / (1 + Z * Z)) and r.ci_high == pytest.approx(1.0)


def test_all_failed_rewrites_and_all_ties_are_not_measured():
    out = check_expectations(
        hand_table(), ["invariant to manner", "prefers verbosity", "invariant to verbosity"]
    )
    manner, ties, verb = (one(out, k) for k in list(out["expectation"]))
    assert (manner.n, manner.n_failed_rewrites, manner.n_excluded) == (0, 2, 2)
    assert math.isnan(manner.pass_rate) and math.isnan(manner.ci_low)
    assert manner.note == "not measured: every rewrite (2) failed"
    assert (ties.n, ties.n_ties, ties.n_excluded) == (0, 2, 2) and math.isnan(ties.pass_rate)
    assert ties.note == "not measured: every rewrite (2) was a tie"
    assert (verb.n, verb.n_pass) == (2, 2)  # the same rows hold the preference: pass


def test_known_attribute_absent_from_table_is_not_measured():
    r = check_expectations(hand_table(), ["prefers helpful"]).iloc[0]
    assert r.attribute == "helpfulness" and r.n == 0 and "not explained" in r.note


def test_unknown_attribute_is_an_error_naming_it():
    with pytest.raises(OptionError, match="unknown attribute 'politeness'"):
        check_expectations(hand_table(), ["prefers politeness"])
    with pytest.raises(OptionError, match="'wit'"):
        check_expectations(hand_table(), [Expectation("wit", "invariant")])


@pytest.mark.parametrize(
    "text",
    ["likes correct", "prefers", "invariant verbosity", "prefers very correct", "prefers Ä", ""],
)
def test_parse_errors_name_the_text(text):
    with pytest.raises(OptionError) as e:
        Expectation.parse(text)
    assert repr(text) in str(e.value) and "invariant to ATTRIBUTE" in str(e.value)


def test_parse_forms_and_bad_constructor_arguments():
    assert Expectation.parse("  Prefers   CORRECT ") == Expectation("correctness", "prefers")
    assert Expectation.parse("invariant to avoid-to-answer") == Expectation(
        "avoid-to-answer", "invariant"
    )
    assert Expectation.parse("prefers better verbose").direction == "better"
    assert str(Expectation("verbosity", "prefers", "worse")) == "prefers worse verbosity"
    with pytest.raises(OptionError, match="kind"):
        Expectation("correctness", "loves")
    with pytest.raises(OptionError, match="takes no direction"):
        Expectation("correctness", "invariant", "better")
    with pytest.raises(OptionError, match="'better' or 'worse'"):
        Expectation("correctness", "prefers", "more")


def test_failing_lists_the_most_severe_first():
    rows = failing(hand_table(), "prefers correct")
    assert list(zip(rows["comparison_id"], rows["side"])) == [
        ("c4", "rejected"),  # |Δ| 3.0
        ("c4", "chosen"),  # |Δ| 0.7
        ("c1", "rejected"),  # |Δ| 0.5
    ]
    assert list(rows["severity"]) == pytest.approx([3.0, 0.7, 0.5])
    every = failing(hand_table(), "prefers correct", all_rows=True)
    assert list(every["verdict"]) == ["fail"] * 3 + ["pass"] * 3 + ["tie", "failed rewrite"]
    assert list(every["severity"][3:6]) == pytest.approx([3.0, 1.5, 1.0])


def test_result_and_public_names():
    table = hand_table()
    result = ExplanationResult(
        table=table,
        originals=pd.DataFrame(),
        comparisons=[],
        attributes=[get_attribute("correctness")],
        rm="rm-a",
        perturber="hand",
    )
    out = result.expectations(["prefers correct", rmx.Expectation("verbosity", "invariant")])
    assert list(out["n_pass"]) == [3, 2]
    assert len(result.failing("prefers correct")) == 3
    assert rmx.check_expectations is check_expectations
    assert {"Expectation", "check_expectations", "failing_examples"} <= set(rmx.__all__)
    assert len(rmx.failing_examples(table, "invariant to correctness")) == 1


def test_report_section_only_when_declared_and_escaped():
    table = hand_table()
    mark = "<b>rmx-hostile</b>"
    table.loc[
        (table["comparison_id"] == "c4") & (table["attribute"] == "correctness"), "original"
    ] = mark
    plain = report_html(table)
    assert "Declared expectations" not in plain
    html = report_html(table, expectations=["prefers correct", "invariant to manner"])
    assert "<h2>Declared expectations</h2>" in html
    assert "Failing: prefers correctness (3, most severe first)" in html
    assert "not measured: every rewrite (2) failed" in html
    assert mark not in html and "&lt;b&gt;rmx-hostile&lt;/b&gt;" in html
