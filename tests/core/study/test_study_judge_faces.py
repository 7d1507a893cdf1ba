"""The study's judge in every face: the CSVs, the report and StudyView show the valid-rewrite
rate beside the failed rate (the hand case of test_study_judge, whose counts are by hand)."""

from __future__ import annotations

import html
import json
import re

import pandas as pd
import pytest
from test_study_judge import hand, judge_of

from rmx_widgets.widgets import StudyView

# a judge name a user chose: it is shown, so it must be escaped
JUDGE = "<b>a-only</b> v1"


@pytest.fixture(scope="module")
def judged():
    judge, _ = judge_of(lambda attribute, direction: attribute == "a", JUDGE)
    return hand(judge, valid_only=True)


def _cells(page: str, cls: str) -> list[list[str]]:
    block = page.split(f'<table class="{cls}">', 1)[1].split("</table>", 1)[0]
    return [
        re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr.*?</tr>", block)
    ]


def test_csvs_carry_the_counts_last(judged, tmp_path):
    paths = judged.save(tmp_path / "out")
    quality = pd.read_csv(paths["quality_summary"])
    assert list(quality.columns[-3:]) == ["n_judged", "n_valid", "valid_rate"]
    hand_both = quality[(quality["perturber"] == "hand") & (quality["side"] == "both")]
    assert hand_both["n_judged"].tolist() == [6, 6] and hand_both["n_valid"].tolist() == [4, 4]
    random = quality[quality["perturber"] == "random"]
    assert (random["n_judged"] == 0).all() and random["valid_rate"].isna().all()  # NaN
    t1 = pd.read_csv(paths["paper_table1"]).set_index("method")
    assert list(t1.columns[-9:]) == [
        f"{c}_{s}"
        for s in ("chosen", "rejected", "both")
        for c in ("n_judged", "n_valid", "valid_rate")
    ]
    assert t1.loc["hand", "valid_rate_chosen"] == pytest.approx(2 / 4)
    assert t1.loc["hand", "n_judged_rejected"] == 2
    sens = pd.read_csv(paths["sensitivity"])
    assert {"n_judged", "n_valid", "valid_rate"} <= set(sens.columns)
    tables = pd.read_parquet(paths["tables"])
    assert set(tables.loc[tables["perturber"] == "random", "validity_reason"].dropna()) == {
        "not judged: baseline"
    }
    config = json.loads(paths["study"].read_text())
    assert config["judge"] == JUDGE and config["valid_only"] is True


def test_report_shows_valid_rewrites_beside_failed(judged, tmp_path):
    page = (judged.save(tmp_path / "out")["report"]).read_text()
    table1 = _cells(page, "paper-table1")
    header = table1[0]
    assert header.index("valid rewrites") == header.index("failed rewrites") + 1
    by_method = {row[1]: dict(zip(header, row)) for row in table1[1:]}
    assert by_method["hand"]["valid rewrites"] == "0.667 (4 of 6 judged)"
    assert by_method["random"]["valid rewrites"] == "not judged"
    assert html.escape(JUDGE) in page and JUDGE not in page
    assert "Valid only: a CF (SF) counts as found only" in page
    row = re.search(r"<td>rewrite judge</td><td>(.*?)</td>", page)
    assert row is not None and row.group(1).startswith(html.escape(JUDGE) + ", judging hand")
    assert "valid only: coverage" in row.group(1)
    rates = _cells(page, "valid-rates")
    assert rates[0] == ["attribute", "count"]
    cells = {row[0]: row[1] for row in rates[1:]}
    assert cells == {"a": "4/4 (1.00)", "b": "0/2 (0.00)"}
    assert "baselines are not judged" in page


def test_report_without_a_judge_has_no_valid_column(tmp_path):
    page = hand().save(tmp_path / "out")["report"].read_text()
    assert "valid rewrites" not in _cells(page, "paper-table1")[0]
    assert "valid-rates" not in page
    assert "none (valid-rewrite rates not measured)" in page


def test_study_view_shows_the_judge_and_the_valid_rates(judged):
    view = StudyView(judged)
    assert html.escape(JUDGE) in view.header.value and JUDGE not in view.header.value
    assert "figures on valid rewrites only" in view.header.value
    table1 = view.paper_tables[1].value
    assert "valid rewrites" in table1 and "0.667 (4 of 6 judged)" in table1
    note = view.sensitivity_note.value
    # the hand perturber over a and b: 4 of 6 judged valid, 2 failed (b better, c1 and c2)
    assert "count: valid 4/6 (0.67) of judged rewrites; 2 failed" in note
    assert "count only the rewrites judged valid" in note
