"""Static renderings beside the live widget view: each widget's display bundle keeps the
ipywidgets view MIME type (so JupyterLab still renders the widget) and adds a bounded,
escaped text/html and a text/plain line for nbconvert exports and GitHub's viewer."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from planted import PLANTED_ORDER, planted_rms
from sens_frames import sens_frame
from summary_cells import DEGENERATE, DEGENERATE_CELLS, HEADERS, POOLED_CELLS, outcomes
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.core.study.run import evaluate
from rmx_widgets.widgets import (
    Annotator,
    ComparisonView,
    Explorer,
    RMCompare,
    SensitivityChart,
    StudyView,
)
from rmx_widgets.widgets import static_view as sv
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary

VIEW = "application/vnd.jupyter.widget-view+json"
SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    {**c, "id": f"{c['id']}{SCRIPT}" if i == 0 else c["id"], "response_a": c["response_a"] + SCRIPT}
    for i, c in enumerate(COMPS)
]


def _data(bundle):
    """The data dict of a bundle (anywidget returns (data, metadata), ipywidgets data)."""
    return bundle[0] if isinstance(bundle, tuple) else bundle


@pytest.fixture(scope="module")
def result():
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(HOSTILE)


def _check_bundle(widget) -> str:
    data = _data(widget._repr_mimebundle_())
    assert data[VIEW]["model_id"] == widget.model_id  # the live view is kept
    assert data["text/plain"] and len(data["text/plain"]) <= sv.MAX_PLAIN
    text = data["text/html"]
    assert "<script" not in text and len(text) <= sv.MAX_BYTES + 1_000
    return text


def test_comparison_view_static_html_escapes_model_text(result):
    view = ComparisonView(result, page_size=3)
    text = _check_bundle(view)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text  # id and response, escaped
    assert "Comparison 1 of 12" in text and "short answer 0" in text
    assert "… 5 more rows" in text  # 8 rewrites, 3 on the page
    assert "ComparisonView: comparison 1 of 12" in _data(view._repr_mimebundle_())["text/plain"]
    empty = _check_bundle(ComparisonView())
    assert "No rewrites yet" in empty


def test_sensitivity_chart_static_table_is_bounded(result):
    chart = SensitivityChart(result.table, n_boot=20)
    text = _check_bundle(chart)
    for attribute in ATTRS:
        assert f"<td>{attribute}</td>" in text
    assert "more rows" not in text
    sens = sensitivity(result.table, n_boot=20)
    many = pd.concat(
        [sens.assign(attribute=sens["attribute"] + f"_{i}") for i in range(15)], ignore_index=True
    )  # 60 attributes
    chart.show(many)
    text = _check_bundle(chart)
    assert text.count("<tr") == 1 + sv.MAX_ROWS  # the header row and 50 rows
    assert "… 10 more rows" in text
    waiting = _check_bundle(SensitivityChart())
    assert "No results yet." in waiting


def _cells(html_text: str) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The header and the (class, cell texts) body rows of the first table."""
    table = html_text.split("<table", 1)[1].split("</table>", 1)[0]
    head, body = table.split("<tbody>", 1)
    rows = [
        (cls, re.findall(r"<td[^>]*>(.*?)</td>", cells))
        for cls, cells in re.findall(r'<tr(?: class="([^"]*)")?>(.*?)</tr>', body)
    ]
    return re.findall(r"<th>(.*?)</th>", head), rows


ROW_CLASS = {"ok": "", "too few": "too-few", "not measured": "not-measured"}


def test_static_summary_is_the_explorers_ten_cells():
    """nbconvert / GitHub get the cells the live SensitivitySummary shows (core.summary_table),
    worked out by hand in tests/helpers/summary_cells.py, with every column's definition."""
    summary = SensitivitySummary()
    summary.show(sens_frame("columns"))
    text = _check_bundle(summary)
    head, rows = _cells(text)
    assert head == HEADERS == summary.headers
    escaped = "&lt;b&gt;x&lt;/b&gt;&amp;&lt;script&gt;"
    assert rows == [
        (ROW_CLASS[reading], [escaped if "<" in a else a, *cells])
        for a, (reading, cells) in POOLED_CELLS.items()
    ]
    assert [r[1][1:] for r in rows] == [r["cells"] for r in summary.rows]  # the widget's cells
    assert "<b>x</b>" not in text
    assert "CF + SF = n" in text and "fewer than 10 successful rewrites" in text
    assert "&quot;not measured&quot; = no successful rewrite (never PFR 0)" in text


def test_static_summary_of_degenerate_rows():
    """n = 1, every rewrite failed, no null run: the pooled rows through the real
    sensitivity()."""
    sens = sensitivity(outcomes(DEGENERATE, same_length=True), n_boot=200)
    head, rows = _cells(sv.sensitivity_html(sens))
    assert head == HEADERS
    assert rows == [
        (ROW_CLASS[reading], [a, *cells])
        for (a, d), (reading, cells) in DEGENERATE_CELLS.items()
        if d == "both"
    ]


def test_static_summary_cuts_a_long_attribute_name():
    sens = sens_frame("columns")
    sens["attribute"] = sens["attribute"].where(sens["attribute"] != "tone", "t" * 5_000)
    _, rows = _cells(sv.sensitivity_html(sens))
    cut = "t" * sv.MAX_TEXT + f"… ({5_000 - sv.MAX_TEXT:,} more characters)"
    assert rows[0][1][0] == cut


def test_explorer_static_view_has_summary_chart_and_comparison(result):
    ex = Explorer(rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), HOSTILE)
    before = _check_bundle(ex)
    assert "No results yet." in before and "12</b> comparisons" in before
    ex.show_result(result)
    text = _check_bundle(ex)
    assert "<td>verbosity</td>" in text and "Comparison 1 of 12" in text
    assert "&lt;script&gt;" in text


def test_annotator_and_rm_compare_static_views(result, tmp_path):
    ann = Annotator(result, tmp_path / "store", k=2, export_dir=tmp_path)
    ann.save(ann.examples[0]["comparison_id"], ["surprising"], f"note {SCRIPT}")
    text = _check_bundle(ann)
    assert "surprising" in text and "note &lt;script&gt;" in text
    other = rmx.Explainer(
        lambda p, r: [len(x) / 10 for x in r], perturb, attributes=ATTRS, progress=False
    ).explain(HOSTILE)
    cmp = RMCompare(result, other, names=(f"A {SCRIPT}", "B"), k=2)
    text = _check_bundle(cmp)
    assert "A &lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert text.count("<td>verbosity</td>") >= 2  # one table per RM


def test_study_view_static_view_has_table_1_and_2():
    study = evaluate(
        rmx.sample_comparisons()[:20],
        planted_rms("copy"),
        {"rules": rmx.RulePerturber()},
        attributes=PLANTED_ORDER,
        seeds=1,
        per_seed=20,
        progress=False,
        n_boot=50,
    )
    view = StudyView(study)
    text = _check_bundle(view)
    assert 'class="paper-table1"' in text and 'class="paper-table2"' in text


def test_page_cuts_whole_fragments_and_clip_cuts_long_text():
    parts = ["<p>" + "x" * 90_000 + "</p>"] * 3
    text = sv.page(parts, "T")
    assert text.count("<p>x") == 2 and "… 1 more section(s) left out" in text
    assert text.endswith("</div>") and len(text) < sv.MAX_BYTES + 500
    assert sv.clip("<b>" * 500, 10) == "&lt;b&gt;&lt;b&gt;&lt;b&gt;&lt;… (1,490 more characters)"
    assert sv.clip(None) == "" and sv.clip("a<b") == "a&lt;b"
