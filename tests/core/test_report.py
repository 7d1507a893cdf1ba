"""The offline HTML report (escaping, inline Vega) and the Altair chart specs."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pandas as pd
import pytest
import table_factory as tf

from rmx_widgets.core.charts import comparison_chart, sensitivity_chart
from rmx_widgets.core.html import diff_html, script_json
from rmx_widgets.core.report import SPEC_ID, write_report
from rmx_widgets.core.sensitivity import sensitivity

HOSTILE = "<script>alert(1)</script>"
HOSTILE_PROMPT = 'Say <img src=x onerror="alert(2)"> & "bye"'
HOSTILE_ATTR = "x</script><!--"


class TagCollector(HTMLParser):
    """Records every start tag and the text of script elements, as a browser would parse."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = True
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def hostile_table() -> pd.DataFrame:
    rows = []
    afters = {
        "verbosity": (-1.0, 0.5),
        "correctness": (0.5, -0.2),
        "clarity": (0.3, 0.9),
        HOSTILE_ATTR: (-0.4, 0.8),
    }
    for i in range(4):
        rows += tf.comparison(
            f"c{i}", 1.0 + i, afters, prompt=HOSTILE_PROMPT, original=f"Answer {i}: {HOSTILE}"
        )
    table = tf.table(rows)
    table.loc[0, "perturbed"] = f"Answer 0 changed: {HOSTILE}"
    table.loc[3, "outcome"] = "failed"
    table.loc[3, "perturbed"] = None
    table.loc[3, "failure_reason"] = "<b>bad</b> output"
    return table


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("report") / "nested" / "report.html"
    out = write_report(
        hostile_table(), path, title="Report <i>1</i>", k=2, summary={"dataset": "<u>pairs</u>"}
    )
    assert out == path and path.exists()
    return path.read_text(encoding="utf-8")


def test_model_text_is_escaped_never_raw(report):
    assert HOSTILE not in report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in report
    body = report.split("</head>", 1)[1]  # the Vega bundle in <head> mentions <img in JS
    assert "<img" not in body and "<b>" not in body
    assert "Say &lt;img src=x onerror=&quot;alert(2)&quot;&gt; &amp; &quot;bye&quot;" in report
    assert "&lt;b&gt;bad&lt;/b&gt; output" in report
    assert "<u>pairs</u>" not in report and "&lt;u&gt;pairs&lt;/u&gt;" in report
    assert "<title>Report &lt;i&gt;1&lt;/i&gt;</title>" in report


def test_only_our_tags_are_parsed(report):
    parser = TagCollector()
    parser.feed(report)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"img", "u", "b", "i"}
    scripts = [attrs for tag, attrs in parser.tags if tag == "script"]
    assert len(scripts) == 3  # vega bundle, spec JSON, embed call
    assert all("src" not in attrs for attrs in scripts)


def test_no_external_resources_and_inline_vega(report):
    assert "cdn.jsdelivr" not in report
    assert not re.search(r"<script[^>]*\bsrc\s*=", report, flags=re.IGNORECASE)
    assert not re.search(r"<link[^>]*https?://", report, flags=re.IGNORECASE)
    assert "window.vegaEmbed" in report  # the inlined bundle defines it
    assert 'vegaEmbed("#rmx-sensitivity-chart"' in report
    assert len(report) > 500_000  # Vega + Vega-Lite are really there


def test_spec_json_is_embedded_safely_and_parses(report):
    parser = TagCollector()
    parser.feed(report)
    spec_text = next(
        text
        for (tag, attrs), text in zip([t for t in parser.tags if t[0] == "script"], parser.scripts)
        if attrs.get("id") == SPEC_ID
    )
    assert "</" not in spec_text and "<!--" not in spec_text
    spec = json.loads(spec_text)
    assert any(p.get("name") == "attribute" for p in spec["params"])
    data = [row for rows in spec["datasets"].values() for row in rows]
    assert HOSTILE_ATTR in {row["attribute"] for row in data}  # same data, only escaped


def test_report_sections_and_examples(report):
    for heading in (
        "Summary",
        "Sensitivity",
        "Quality of the explanations",
        "Failed perturbations",
        "Representative examples",
    ):
        assert f"<h2>{heading}</h2>" in report
    assert report.count('<div class="example">') == 2  # k=2
    assert '<span class="badge CF">CF</span>' in report
    assert '<span class="badge SF">SF</span>' in report
    assert "chosen made worse" in report and "rejected made better" in report
    assert "x&lt;/script&gt;&lt;!--" in report  # the hostile attribute name, escaped


def test_report_falls_back_without_representatives(tmp_path):
    table = tf.table(tf.comparison("c1", 1.0, {"verbosity": (-1.0, 0.5)}))
    html_text = write_report(table, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no representative could be computed" in html_text
    assert html_text.count('<div class="example">') == 1


def test_script_json_escapes_markup():
    text = script_json({"a": "</script><!-- & >", "b": [1.5, None]})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & >", "b": [1.5, None]}


def test_diff_html_marks_changes_and_escapes():
    # tokens are words and single punctuation marks, so only the tag name changes
    out = diff_html("keep <b> this", "keep <i> this!")
    assert out == "keep &lt;<del>b</del><ins>i</ins>&gt; this<ins>!</ins>"


def chart_sens() -> pd.DataFrame:
    rows = tf.comparison("c1", 1.0, {"a": (-1.0, 0.5), "b": (0.5, 0.5), "c": (-1.0, -1.0)})
    return sensitivity(tf.table(rows), n_boot=50)


def test_sensitivity_chart_spec():
    spec = sensitivity_chart(chart_sens(), title="PFR").to_dict()
    params = spec["params"]
    assert params[0]["name"] == "attribute"
    assert params[0]["select"] == {"type": "point", "fields": ["attribute", "direction"]}
    bars = spec["layer"][1]  # over the faint track
    assert bars["mark"]["type"] == "bar" and spec["layer"][0]["name"] == "track"
    assert bars["encoding"]["y"]["sort"] == ["c", "a", "b"]  # pooled PFR 1, 0.5, 0
    assert bars["encoding"]["x"]["field"] == "value"  # the PFR metric: value = pfr
    bar_rows = spec["datasets"][bars["data"]["name"]]
    assert all(r["value"] == r["pfr"] for r in bar_rows if r["part"] == "bar")
    marks = {layer["mark"]["type"] for layer in spec["layer"]}
    assert marks == {"bar", "rule", "tick", "text", "point"}
    rule = spec["layer"][2]["encoding"]
    assert (rule["x"]["field"], rule["x2"]["field"]) == ("low", "high")  # ci_low, ci_high
    assert spec["title"] == "PFR"
    # only aggregated rows travel: 2 directions x 3 attributes for bars, 3 pooled for ticks and
    # labels (every row has n = 1: "too few"), none for null ticks (no null run); the bars
    # layer holds its 6 bars and, under them, their 6 full-width click targets
    assert sorted(len(rows) for rows in spec["datasets"].values()) == [0, 3, 6, 12]


def test_comparison_chart_spec():
    sens = chart_sens()
    spec = comparison_chart(sens, sens, "rm-x", "rm-x").to_dict()
    assert spec["params"][0]["name"] == "attribute"
    rows = [row for rows in spec["datasets"].values() for row in rows]
    assert len(rows) == 6 and {r["direction"] for r in rows} == {"both"}
    assert {r["model"] for r in rows} == {"rm-x (1)", "rm-x (2)"}
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["c", "a", "b"]


def test_report_quality_table_has_one_coverage_denominator(report):
    """hostile_table: 4 comparisons, 4 attributes, 16 rewrites per side; c0's rejected
    correctness rewrite failed. Chosen CFs (verbosity, the hostile attribute) in all 4 -> 1;
    rejected CF (correctness, -0.2) in c1..c3 only -> 3/4 = 0.750 (c0's failed rewrite is not
    found but c0 stays in the denominator), SF (verbosity, 0.5) in all 4 -> 1; both: CF 3/4,
    SF 4/4 (clarity is an SF on each side: 0.3 and 0.9); failed 1 of 16 (rejected) and 1 of
    32 (both sides)."""
    num = '<td class="num">'
    head = "".join(
        f"<th>{c}</th>"
        for c in (
            "side",
            "n_comparisons",
            "cf_coverage",
            "sf_coverage",
            "n_rewrites",
            "n_failed",
            "failed_rate",
        )
    )
    assert head in report

    def cells(*values: object) -> str:
        return "".join(f"{num}{v}</td>" for v in values)

    assert f"<tr><td>rejected</td>{cells(4, '0.750', '1.000', 16, 1)}" in report
    assert f"<tr><td>chosen</td>{cells(4, '1.000', '1.000', 16, 0, '0.000')}" in report
    assert f"<tr><td>both</td>{cells(4, '0.750', '1.000', 32, 1)}" in report
