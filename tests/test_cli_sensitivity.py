"""`rmx explain`'s terminal table of the pooled sensitivity rows (_print_sensitivity)."""

from __future__ import annotations

import pandas as pd
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.cli.explain import _print_sensitivity


def _lines(capsys, sens) -> list[str]:
    _print_sensitivity(sens)
    return capsys.readouterr().out.strip("\n").splitlines()


def test_pooled_rows_show_n_failed_interval_null_p_and_marker(capsys):
    lines = _lines(capsys, sens_frame("columns"))
    assert lines[0].startswith("Global sensitivity")
    assert lines[1].split() == [
        "attribute", "n", "failed", "CF", "SF", "PFR", "[interval]", "null", "PFR", "excess",
        "[interval]", "p", "(Holm)", "significant", "length-controlled", "PFR",
    ]  # fmt: skip
    tone, length, hostile = lines[2:5]
    # tone: n 40, 10 failed of 50, PFR 0.50 so CF = 0.50 · 40 = 20 and SF = 40 − 20 = 20,
    # [0.35, 0.65], null 0.10, excess +0.40, Holm p 0.0012; the frame has no texts, so no
    # length can be told
    assert tone.split() == [
        "tone", "40", "10/50", "(0.20)", "20", "20", "0.50", "[0.35,", "0.65]", "0.10",
        "(n=40)", "+0.40", "[+0.20,", "+0.60]", "0.001", "*", "no", "length", "data",
    ]  # fmt: skip
    # length: n 9 < 10 successful rewrites (too few), PFR 1/9: CF 1, SF 8
    assert "9 (too few)" in length and length.split()[6:8] == ["1", "8"]
    assert length.split()[-4:] == ["n.s.", "no", "length", "data"]
    assert HOSTILE in hostile and "not measured" in hostile and "5/5 (1.00)" in hostile
    assert hostile.split()[2:6] == [
        "5/5",
        "(1.00)",
        "0",
        "0",
    ]  # n = 0: counts of nothing are 0, the rate is not
    assert "0.00 [0.00" not in hostile  # never a PFR of 0 for nothing measured
    assert hostile.split()[-5:] == ["not", "tested", "no", "length", "data"]
    assert "fewer than 10" in lines[5] and "α = 0.05" in lines[5] and "Holm" in lines[5]
    assert "CF = rewrites that flipped" in lines[5]  # the summary's key, as in every face
    assert len(lines) == 6  # pooled rows only: no worse/better lines


def test_without_null_columns_the_cells_say_no_null_run(capsys):
    for null in ("absent", "na"):
        tone = _lines(capsys, sens_frame(null))[2]
        assert tone.count("no null run") == 4, null  # null PFR, excess, p, significance
        assert "0.50 [0.35, 0.65]" in tone and "10/50 (0.20)" in tone


def test_an_empty_table_prints_the_header_and_legend(capsys):
    lines = _lines(capsys, sens_frame("absent").iloc[:0])
    assert len(lines) == 3 and lines[1].startswith("attribute")


def test_the_length_controlled_cell_shows_its_rate_and_n(capsys):
    sens = sens_frame("columns")
    # 12 of tone's successful rewrites kept their length, 3 of them flipped: 3 / 12 = 0.25;
    # none of length's did: not measured, with its n = 0
    sens["pfr_length_controlled"] = [
        0.25 if a == "tone" else float("nan") for a in sens["attribute"]
    ]
    sens["n_length_controlled"] = pd.array(
        [12 if a == "tone" else 0 for a in sens["attribute"]], dtype="Int64"
    )
    tone, length = _lines(capsys, sens)[2:4]
    assert tone.endswith("0.25 (n=12)")
    assert length.endswith("not measured (n=0)")
