"""Length as a confounder: length_change per row and the length-controlled PFR, by hand.

Word counts are written out: ``_text(n)`` is "w0 w1 … w(n-1)", n word tokens.
"""

import math

import pandas as pd
import pytest

from rmx_widgets.core.confounders import (
    LENGTH_CONTROL,
    ORIGINAL_WORDS,
    is_length_controlled,
    length_change,
    length_controlled,
    row_length_changes,
    word_count,
)
from rmx_widgets.core.sensitivity import SENSITIVITY_COLUMNS, sensitivity
from rmx_widgets.core.table_io import TableWriter
from tests.helpers import table_factory as tf


def _text(n: int, word: str = "w") -> str:
    return " ".join(f"{word}{i}" for i in range(n))


def test_word_tokens_and_length_change_on_tiny_texts():
    # "The cat sat." -> The, cat, sat = 3; "The cat sat down quietly." -> 5
    assert word_count("The cat sat.") == 3.0
    assert length_change("The cat sat.", "The cat sat down quietly.") == 5 - 3 == 2.0
    # apostrophes and hyphens stay inside a word: It's, well-known = 2; punctuation alone is 0
    assert word_count("It's well-known!") == 2.0
    assert word_count(" ... ! ") == 0.0
    assert length_change("One two three four five.", "One.") == 1 - 5 == -4.0
    assert length_change("", "") == 0.0
    # a failed rewrite has no text: NaN, not 0
    assert math.isnan(length_change("The cat sat.", None))
    assert math.isnan(word_count(None))


def test_the_ten_percent_boundary_is_excluded_and_tiny_texts_need_zero_change():
    assert LENGTH_CONTROL == 0.10
    pairs = [
        (_text(20), _text(21)),  # |1| / 20 = 0.05 < 0.10 -> in
        (_text(20), _text(22)),  # |2| / 20 = 0.10, exactly 10 %: out
        (_text(20), _text(18)),  # |-2| / 20 = 0.10: out
        (_text(30), _text(27)),  # |-3| / 30 = 0.10: out (0.1 * 30 = 3.0000000000000004 in floats)
        (_text(30), _text(32)),  # 2 / 30 = 0.067: in
        (_text(5), _text(6)),  # a one-word edit of a 5-word text is 1/5 = 20 %: out
        (_text(5), _text(5, "v")),  # same length, every word replaced: 0 / 5 = 0: in
        (_text(10), _text(11)),  # 1 / 10 = 10 %: out (below 11 words only 0 qualifies)
        (_text(11), _text(12)),  # 1 / 11 = 0.091: in
        ("", "Hello there"),  # an empty original (0 words) never qualifies
        ("", ""),  # not even with no change
    ]
    t = pd.DataFrame(
        {
            "original": [o for o, _ in pairs],
            "perturbed": [p for _, p in pairs],
            "outcome": ["SF"] * len(pairs),
        }
    )
    assert list(row_length_changes(t)) == [1, 2, -2, -3, 2, 1, 0, 1, 1, 2, 0]
    expected = [True, False, False, False, True, False, True, False, True, False, False]
    assert list(is_length_controlled(t)) == expected


def _hand_table() -> pd.DataFrame:
    """Attribute x: three comparisons; attribute y: nothing length-controlled."""
    r = tf.row
    rows = [
        # x, worse (chosen made worse)
        r("c1", "x", "chosen", 2.0, -1.0, original=_text(10), perturbed=_text(10, "v")),  # CF, 0
        r("c2", "x", "chosen", 2.0, 0.5, original=_text(20), perturbed=_text(21)),  # SF, +1/20
        r("c3", "x", "chosen", 2.0, None, original=_text(30)),  # failed: no length
        # x, better (rejected made better)
        r("c1", "x", "rejected", 2.0, -1.0, original=_text(10), perturbed=_text(11)),  # CF 1/10
        r("c2", "x", "rejected", 2.0, 0.5, original=_text(20), perturbed=_text(18)),  # SF 2/20
        r("c3", "x", "rejected", 2.0, -0.5, original=_text(30), perturbed=_text(27)),  # CF 3/30
        # y: every rewrite changes length by 20 %
        r("c1", "y", "chosen", 2.0, -1.0, original=_text(5), perturbed=_text(6)),  # CF, 1/5
        r("c1", "y", "rejected", 2.0, 0.5, original=_text(5), perturbed=_text(4)),  # SF, 1/5
    ]
    return tf.table(rows)


def _by_row(sens: pd.DataFrame) -> dict:
    return {
        (a, d): (p, n)
        for a, d, p, n in zip(
            sens["attribute"],
            sens["direction"],
            sens["pfr_length_controlled"],
            sens["n_length_controlled"],
        )
    }


def _assert_hand_numbers(sens: pd.DataFrame) -> None:
    got = _by_row(sens)
    # x worse: c1 chosen (0 words changed, CF) and c2 chosen (1/20, SF) qualify; c3 failed
    #   -> n = 2, PFR = 1/2
    assert got[("x", "worse")] == (1 / 2, 2)
    # x better: 1/10, 2/20, 3/30 are all exactly 10 %: none qualifies -> n = 0, not measured
    assert got[("x", "better")][1] == 0 and math.isnan(got[("x", "better")][0])
    # x both: the two worse rows -> 1/2 (the raw pooled PFR is 3 CF / 5 = 0.6)
    assert got[("x", "both")] == (1 / 2, 2)
    # y: 1/5 = 20 % both ways -> nothing qualifies anywhere
    for d in ("worse", "better", "both"):
        p, n = got[("y", d)]
        assert n == 0 and math.isnan(p)


def test_length_controlled_pfr_in_sensitivity_by_hand():
    t = _hand_table()
    assert "length_change" not in t  # a table built by hand, like one written before the column
    sens = sensitivity(t, n_boot=0)
    assert list(sens.columns) == SENSITIVITY_COLUMNS
    assert SENSITIVITY_COLUMNS[SENSITIVITY_COLUMNS.index("n_failed") + 1 :][:2] == [
        "pfr_length_controlled",
        "n_length_controlled",
    ]
    raw = sens.set_index(["attribute", "direction"])
    assert raw.loc[("x", "both"), "pfr"] == 3 / 5 and raw.loc[("x", "both"), "n"] == 5
    _assert_hand_numbers(sens)
    assert str(sens["n_length_controlled"].dtype) == "Int64"


def test_the_length_change_column_is_used_when_present_and_a_slim_table_keeps_original_words():
    t = _hand_table()
    t["length_change"] = row_length_changes(t)
    # c1 chosen, x: 0 words; c2 chosen: +1; c3 chosen failed: NaN
    assert list(t["length_change"].iloc[:3].fillna(-99)) == [0.0, 1.0, -99]
    slim = t.drop(columns=["prompt", "original", "perturbed"])
    slim[ORIGINAL_WORDS] = [10, 20, 30, 10, 20, 30, 5, 5]
    _assert_hand_numbers(sensitivity(slim, n_boot=0))
    # the column wins over the texts: claim c2 chosen changed by 5 words (5/20 = 25 %: out)
    t.loc[1, "length_change"] = 5.0
    got = _by_row(sensitivity(t, n_boot=0))
    assert got[("x", "worse")] == (1.0, 1)  # only c1 chosen (CF) is left: 1/1


def test_without_any_length_information_the_columns_are_not_measured_never_an_error():
    t = _hand_table().drop(columns=["original", "perturbed"])
    sens = sensitivity(t, n_boot=0)
    assert sens["pfr_length_controlled"].isna().all()
    assert sens["n_length_controlled"].isna().all()  # <NA>: unknown, not 0
    assert list(sens["n"]) == list(sensitivity(_hand_table(), n_boot=0)["n"])  # rest unchanged
    # length_change but no original length (neither text nor original_words): unknown too
    t["length_change"] = 0.0
    assert sensitivity(t, n_boot=0)["n_length_controlled"].isna().all()


def test_all_failed_rows_measure_nothing_and_one_row_is_its_own_rate():
    failed = tf.table(
        [tf.row("c1", "x", "chosen", 1.0, None), tf.row("c1", "x", "rejected", 1.0, None)]
    )
    sens = sensitivity(failed, n_boot=0)
    assert list(sens["n_length_controlled"]) == [0, 0, 0]
    assert sens["pfr_length_controlled"].isna().all()
    one = tf.table([tf.row("c1", "x", "chosen", 1.0, -0.2, original="a b c", perturbed="a x c")])
    got = _by_row(sensitivity(one, n_boot=0))  # n = 1 (3 words -> 3 words), 1 CF: 1/1
    assert got[("x", "worse")] == (1.0, 1) and got[("x", "both")] == (1.0, 1)
    assert got[("x", "better")][1] == 0 and math.isnan(got[("x", "better")][0])


def test_length_controlled_frame_on_an_empty_table():
    empty = tf.table([])
    assert len(length_controlled(empty, ("worse", "better", "both"))) == 0
    assert list(sensitivity(empty, n_boot=0).columns) == SENSITIVITY_COLUMNS


def test_the_streamed_slim_table_gives_the_same_length_controlled_numbers(tmp_path):
    t = _hand_table()
    t["length_change"] = row_length_changes(t)
    writer = TableWriter(tmp_path)
    writer.write(t.iloc[:4])
    writer.write(t.iloc[4:])
    writer.close()
    slim = writer.slim_table()
    assert "original" not in slim and "length_change" in slim
    assert list(slim[ORIGINAL_WORDS]) == [10, 20, 30, 10, 20, 30, 5, 5]
    _assert_hand_numbers(sensitivity(slim, n_boot=0))
    back = pd.read_parquet(tmp_path / "table.parquet")
    assert ORIGINAL_WORDS not in back  # only the in-memory slim copy carries it
    assert back["length_change"].iloc[:2].tolist() == [0.0, 1.0]


@pytest.mark.parametrize("n_words", [1, 9, 10])
def test_up_to_ten_words_any_net_change_is_out(n_words):
    # 0.10 × n ≤ 1 word for n ≤ 10 (and |Δ| = 1 at n = 10 is exactly 10 %, excluded): only a
    # change of 0 words qualifies
    t = pd.DataFrame(
        {
            "original": [_text(n_words)] * 2,
            "perturbed": [_text(n_words, "v"), _text(n_words + 1)],
            "outcome": ["CF", "CF"],
        }
    )
    assert list(is_length_controlled(t)) == [True, False]


def test_not_measured_length_columns_render_as_a_dash_in_the_report_and_chart(tmp_path):
    from rmx_widgets.core.charts import sensitivity_chart
    from rmx_widgets.core.html import fmt
    from rmx_widgets.core.report import write_report

    assert fmt(pd.NA) == "–"
    full = _hand_table()
    t = full.drop(columns=["original", "perturbed"])  # no length information
    sens = sensitivity(t, n_boot=0)
    sensitivity_chart(sens).to_dict()  # <NA> counts serialise

    def rows(ids):
        return full[full["comparison_id"].isin(ids)]

    html = write_report(t, tmp_path / "r.html", sens=sens, example_rows=rows)
    text = html.read_text(encoding="utf-8")
    # the summary's length cell says the table cannot tell lengths; no raw <NA> anywhere
    assert "<th>length-controlled PFR</th>" in text
    assert "<td>no length data</td>" in text and "&lt;NA&gt;" not in text
    sens.to_csv(tmp_path / "s.csv", index=False)
    back = pd.read_csv(tmp_path / "s.csv")
    assert back["n_length_controlled"].isna().all()
