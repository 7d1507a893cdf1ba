"""The run report's sensitivity table is the per-attribute summary the Explorer shows
(core.summary_table): n, failed, CF, SF, PFR [interval], null PFR, excess [interval], Holm p,
significance and length-controlled PFR, with the too-few / not-measured marks, escaped, and the
definitions line of every column under it. Expected cells: tests/helpers/summary_cells.py,
worked out by hand."""

from __future__ import annotations

import re

import pytest
import table_factory as tf
from sens_frames import HOSTILE, sens_frame
from summary_cells import (
    DEGENERATE,
    DEGENERATE_CELLS,
    HEADERS,
    POOLED_CELLS,
    SENS_FRAME_CELLS,
    outcomes,
    without_null,
)

from rmx_widgets.core.html import readability_caption, summary_table_html
from rmx_widgets.core.report import _sensitivity_section, report_html
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.summary_table import SUMMARY_KEY

ROW_CLASS = {"ok": "", "too few": "too-few", "not measured": "not-measured"}
ESCAPED_HOSTILE = "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"


def _head(html_text: str) -> list[str]:
    return re.findall(r"<th>(.*?)</th>", html_text.split("<tbody>")[0])


def _rows(html_text: str) -> list[tuple[str, list[str]]]:
    """(class, cell texts) per body row."""
    body = html_text.split("<tbody>", 1)[1]
    return [
        (cls, re.findall(r"<td[^>]*>(.*?)</td>", cells))
        for cls, cells in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', body)
    ]


def _escaped(attribute: str) -> str:
    return ESCAPED_HOSTILE if attribute == HOSTILE else attribute


def test_report_table_is_the_summary_with_a_null_run():
    section = "\n".join(_sensitivity_section(sens_frame("columns")))
    assert _head(section) == [
        HEADERS[0],
        "direction",
        *HEADERS[1:],
        "mean_margin_change",
        "n_comparisons",
    ]
    rows = _rows(section)
    # every row (worse, better, pooled per attribute), cell by cell, as summary_cells has them
    expected = [
        (ROW_CLASS[reading], [_escaped(attribute), direction, *cells])
        for (attribute, direction), (reading, cells) in SENS_FRAME_CELLS.items()
    ]
    assert [(cls, cells[:12]) for cls, cells in rows] == expected
    # the extra columns: sens_frame's mean_margin_change and n_comparisons of the pooled tone row
    assert rows[2][1][12:] == ["-0.800", "20"]
    assert HOSTILE not in section  # escaped, never raw
    assert ESCAPED_HOSTILE in section


@pytest.mark.parametrize("null", ["na", "absent"])
def test_report_table_without_a_null_run_says_so(null):
    html_text = summary_table_html(sens_frame(null), directions=("both",))
    assert _head(html_text) == HEADERS  # no direction column when only pooled rows are shown
    assert _rows(html_text) == [
        (ROW_CLASS[reading], [_escaped(attribute), *without_null(cells)])
        for attribute, (reading, cells) in POOLED_CELLS.items()
    ]


def test_caption_defines_every_column_with_min_n_alpha_and_holm():
    sens = sens_frame("columns")
    text = readability_caption(sens)
    assert "fewer than 10 successful rewrites" in text
    assert "α = 0.05" in text and "Holm" in text
    for term in ("n = ", "failed = ", "null PFR = ", "excess = ", "p (Holm) = "):
        assert term in text
    assert "CF + SF = n" in text and "length-controlled PFR = " in text  # SUMMARY_KEY
    assert "&quot;no length data&quot;" in text and "valid (judged)" not in text
    sens.attrs["alpha"] = 0.01  # a table tested at another level says so
    assert "α = 0.01" in readability_caption(sens)
    assert "&quot;too few&quot;" in text  # escaped like every other piece of text
    assert SUMMARY_KEY.split(";")[0] in text  # plain words, nothing to escape in that part


def test_a_report_of_degenerate_rows_n_1_all_failed_no_null():
    """n = 1, an attribute whose every rewrite failed, and no null run, through the real
    sensitivity() and report: the cells of summary_cells.DEGENERATE_CELLS, never a 0 rate."""
    table = outcomes(DEGENERATE, same_length=True)
    html_text = report_html(table, sens=sensitivity(table, n_boot=200), k=1)
    section = html_text.split("<h2>Sensitivity</h2>", 1)[1].split("<h2>", 1)[0]
    rows = _rows(section)
    assert [(cls, cells[:12]) for cls, cells in rows] == [
        (ROW_CLASS[reading], [attribute, direction, *cells])
        for (attribute, direction), (reading, cells) in DEGENERATE_CELLS.items()
    ]
    # n_comparisons beside them: "one" has one comparison, "better" none, "broken" none
    assert [cells[13] for _, cells in rows] == ["1", "0", "1", "0", "0", "0"]


def test_a_real_report_marks_too_few_rows():
    """One comparison: every attribute has n = 1 per direction, 2 pooled: all too few."""
    table = tf.table(tf.comparison("c1", 1.0, {"verbosity": (-1.0, 0.5)}))
    html_text = report_html(table)
    assert '<tr class="too-few"><td>verbosity</td><td>both</td><td>2 (too few)</td>' in html_text
    # pooled: the chosen rewrite flipped (-1.0 < 0), the rejected one did not: CF 1, SF 1
    assert "<td>2 (too few)</td><td>0/2 (0.00)</td><td>1</td><td>1</td>" in html_text
    assert "no null run" in html_text
