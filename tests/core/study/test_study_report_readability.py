"""The study report's sensitivity part shows, per RM, the Explorer's per-attribute summary
(n, failed, CF, SF, interval, null, excess, Holm p, significance, length-controlled PFR) and the
readability marks, reading the null-run columns when the study has them."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from sens_frames import HOSTILE, sens_frame
from summary_cells import HEADERS, POOLED_CELLS, without_null

from rmx_widgets.core.html import ChartSet
from rmx_widgets.core.study.report import _sensitivity_html


def _study(null: str) -> SimpleNamespace:
    frames = []
    for rm in ("rm-a", "rm-b"):
        frame = sens_frame(null if rm == "rm-a" else "absent")
        frames.append(frame.assign(dataset="data", rm=rm, perturber="rules", n_agree=20))
    sens = pd.concat(frames, ignore_index=True)
    return SimpleNamespace(sensitivity=sens, rms=["rm-a", "rm-b"], config={"attributes": []})


def _escaped(attribute: str) -> str:
    return attribute if attribute != HOSTILE else "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"


def _table(html_text: str, cls: str) -> list[list[str]]:
    block = html_text.split(f'<table class="{cls}">', 1)[1].split("</table>", 1)[0]
    return [
        re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row) for row in re.findall(r"<tr.*?</tr>", block)
    ]


@pytest.mark.parametrize("null", ["columns", "na"])
def test_pooled_pfr_table_marks_too_few_and_not_measured(null):
    text = _sensitivity_html(_study(null), "data", ChartSet("c-"))
    rows = _table(text, "pfr")
    assert rows[0] == ["attribute", "rm-a", "rm-b"]
    cells = {row[0]: row[1:] for row in rows[1:]}
    assert cells["tone"] == ["0.500 [0.350, 0.650]"] * 2
    assert cells["length"] == ["0.111 [0.020, 0.430] (too few, n=9)"] * 2  # 1/9, n 9 < 10
    escaped = "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"
    assert cells[escaped] == ["not measured"] * 2  # never 0, never a bare dash
    assert HOSTILE not in text


def test_per_rm_detail_is_the_summary_table():
    text = _sensitivity_html(_study("columns"), "data", ChartSet("c-"))
    details = text.split('<table class="pfr-detail">')[1:]
    assert len(details) == 2  # one per RM, beside its chart
    a = _table('<table class="pfr-detail">' + details[0], "pfr-detail")
    b = _table('<table class="pfr-detail">' + details[1], "pfr-detail")
    # the Explorer's summary cells (tests/helpers/summary_cells.py), header row first
    assert a[0] == HEADERS and b[0] == HEADERS
    assert a[1:] == [[_escaped(k), *cells] for k, (_, cells) in POOLED_CELLS.items()]
    assert b[1:] == [[_escaped(k), *without_null(c)] for k, (_, c) in POOLED_CELLS.items()]
    assert "fewer than 10 successful rewrites" in text and "Holm" in text
