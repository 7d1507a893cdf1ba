"""The run report's sensitivity table: n, failed rate, interval, null PFR, excess, Holm p,
significance and the too-few / not-measured marks, escaped, with the caption's min n, alpha and
correction."""

from __future__ import annotations

import re

import pytest
import table_factory as tf
from sens_frames import HOSTILE, sens_frame

from rmx_widgets.core.html import readability_caption, sensitivity_table_html
from rmx_widgets.core.report import _sensitivity_section, report_html


def _rows(html_text: str) -> list[tuple[str, list[str]]]:
    """(class, cell texts) per body row."""
    body = html_text.split("<tbody>", 1)[1]
    return [
        (cls, re.findall(r"<td[^>]*>(.*?)</td>", cells))
        for cls, cells in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', body)
    ]


def test_report_table_columns_and_marks_with_a_null_run():
    section = "\n".join(_sensitivity_section(sens_frame("columns")))
    head = re.findall(r"<th>(.*?)</th>", section.split("<tbody>")[0])
    assert head == [
        "attribute",
        "direction",
        "n",
        "failed",
        "PFR [interval]",
        "null PFR",
        "excess [interval]",
        "p (Holm)",
        "significant",
        "mean_margin_change",
        "n_comparisons",
    ]
    rows = _rows(section)
    assert len(rows) == 9  # worse, better, pooled per attribute
    cls, tone = rows[2]
    assert cls == "" and tone[:9] == [
        "tone",
        "both",
        "40",
        "10/50 (0.20)",
        "0.50 [0.35, 0.65]",
        "0.10 (n=40)",
        "+0.40 [+0.20, +0.60]",
        "0.001",
        "*",
    ]
    assert tone[9:] == ["-0.800", "20"]
    cls, length = rows[5]
    assert cls == "too-few" and length[2] == "9 (too few)" and length[8] == "n.s."
    cls, hostile = rows[8]
    assert cls == "not-measured"
    assert hostile[0] == "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"  # escaped
    assert hostile[2:5] == ["0", "5/5 (1.00)", "not measured"]
    assert HOSTILE not in section


@pytest.mark.parametrize("null", ["na", "absent"])
def test_report_table_without_a_null_run_says_so(null):
    rows = _rows(sensitivity_table_html(sens_frame(null), directions=("both",)))
    assert [r[1][0] for r in rows] == ["tone", "length", "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"]
    for _, cells in rows:  # no direction column when only pooled rows are shown
        assert cells[4:] == ["no null run"] * 4


def test_caption_states_min_n_alpha_and_holm():
    sens = sens_frame("columns")
    text = readability_caption(sens)
    assert "fewer than 10 successful rewrites" in text
    assert "α = 0.05" in text and "Holm" in text
    sens.attrs["alpha"] = 0.01  # a table tested at another level says so
    assert "α = 0.01" in readability_caption(sens)
    assert "&quot;too few&quot;" in text  # escaped like every other piece of text


def test_a_real_report_marks_too_few_rows():
    """One comparison: every attribute has n = 1 per direction, 2 pooled: all too few."""
    table = tf.table(tf.comparison("c1", 1.0, {"verbosity": (-1.0, 0.5)}))
    html_text = report_html(table)
    assert '<tr class="too-few"><td>verbosity</td><td>both</td><td>2 (too few)</td>' in html_text
    assert "no null run" in html_text
