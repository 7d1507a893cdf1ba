"""`rmx explain`'s terminal table of the pooled sensitivity rows (_print_sensitivity)."""

from __future__ import annotations

from sens_frames import HOSTILE, sens_frame

from rmx_widgets.cli.explain import _print_sensitivity


def _lines(capsys, sens) -> list[str]:
    _print_sensitivity(sens)
    return capsys.readouterr().out.strip("\n").splitlines()


def test_pooled_rows_show_n_failed_interval_null_p_and_marker(capsys):
    lines = _lines(capsys, sens_frame("columns"))
    assert lines[0].startswith("Global sensitivity")
    assert lines[1].split() == [
        "attribute", "n", "failed", "PFR", "[interval]", "null", "PFR", "excess",
        "[interval]", "p", "(Holm)", "significant",
    ]  # fmt: skip
    tone, length, hostile = lines[2:5]
    # tone: n 40, 10 failed of 50, PFR 0.50 [0.35, 0.65], null 0.10, excess +0.40, Holm p 0.0012
    assert tone.split() == [
        "tone", "40", "10/50", "(0.20)", "0.50", "[0.35,", "0.65]", "0.10", "(n=40)",
        "+0.40", "[+0.20,", "+0.60]", "0.001", "*",
    ]  # fmt: skip
    assert "9 (too few)" in length and length.endswith("n.s.")  # 9 < 10 successful rewrites
    assert HOSTILE in hostile and "not measured" in hostile and "5/5 (1.00)" in hostile
    assert "0.00 [0.00" not in hostile  # never a PFR of 0 for nothing measured
    assert hostile.endswith("not tested")
    assert "fewer than 10" in lines[5] and "α = 0.05" in lines[5] and "Holm" in lines[5]
    assert len(lines) == 6  # pooled rows only: no worse/better lines


def test_without_null_columns_the_cells_say_no_null_run(capsys):
    for null in ("absent", "na"):
        tone = _lines(capsys, sens_frame(null))[2]
        assert tone.count("no null run") == 4, null  # null PFR, excess, p, significance
        assert "0.50 [0.35, 0.65]" in tone and "10/50 (0.20)" in tone


def test_an_empty_table_prints_the_header_and_legend(capsys):
    lines = _lines(capsys, sens_frame("absent").iloc[:0])
    assert len(lines) == 3 and lines[1].startswith("attribute")
