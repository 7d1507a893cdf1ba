"""The study's offline HTML report: its sections, its numbers (equal to the frames), escaping of
untrusted text and user-given names, and errors on unwritable paths."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pytest
from planted import PLANTED_ORDER, planted_rms

import rmx_widgets as rmx
from rmx_widgets.core.errors import RMXError
from rmx_widgets.core.perturbers.base import BasePerturber
from rmx_widgets.core.study.report import (
    CHART_PREFIX,
    SIDES,
    SPECS_ID,
    study_report_html,
    write_study_report,
)
from rmx_widgets.core.study.run import evaluate

STUDY_ATTRS = PLANTED_ORDER

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
HOSTILE_ATTRS = ["verbosity", "manner", "clarity", "engagement"]


class Page(HTMLParser):
    """What a browser would parse: every start tag, the text, every table (class → rows of
    cell texts) and the text of each script element."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.scripts: list[tuple[dict, str]] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None
        self._script: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self.tables.append((attrs.get("class") or "", []))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self._script = []
            self.scripts.append((attrs, ""))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "script" and self._script is not None:
            self.scripts[-1] = (self.scripts[-1][0], "".join(self._script))
            self._script = None

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)

    def table(self, cls: str) -> list[list[str]]:
        found = [rows for c, rows in self.tables if c == cls]
        assert len(found) == 1, f"expected one table of class {cls!r}, found {len(found)}"
        return found[0]

    def specs(self) -> dict:
        (text,) = [t for a, t in self.scripts if a.get("id") == SPECS_ID]
        return json.loads(text)


@pytest.fixture(scope="module")
def study():
    rms = planted_rms()
    return evaluate(
        rmx.sample_comparisons(),
        rms,
        {"rules": rmx.RulePerturber()},
        attributes=STUDY_ATTRS,
        progress=False,
        n_boot=200,
    )


@pytest.fixture(scope="module")
def page(study) -> Page:
    return Page(study_report_html(study))


def hostile_comparisons(n: int = 6) -> list[dict]:
    return [
        {
            "id": f"h{i}",
            "prompt": f"Question {i} {IMG}",
            "response_a": f"short {IMG} answer {i}" + " ok" * i,
            "response_b": f"a much longer answer {SCRIPT} with many more words {i}"
            + " yes" * (2 * i),
        }
        for i in range(n)
    ]


def rm_short(prompts, responses):
    return [-len(r) / 10 for r in responses]


def rm_tags(prompts, responses):
    return [-len(r) / 10 + 3.0 * r.count("<script>") for r in responses]


def hostile_perturb(prompt, response, attribute, direction):
    k = HOSTILE_ATTRS.index(attribute.name) + 1  # attribute-dependent, so rankings differ
    if direction == "worse":
        return response + (" " + SCRIPT) * k
    return IMG + " " + response[: max(1, len(response) // (k + 1))]


class Gone(BasePerturber):
    """A perturber that cannot run here, whose reason and identity are hostile too."""

    identity = f"Gone({IMG})"

    def why_unavailable(self) -> str:
        return f"offline {SCRIPT}"


@pytest.fixture(scope="module")
def hostile_study():
    return evaluate(
        {f"ds {SCRIPT}": hostile_comparisons(), "plain": hostile_comparisons(4)},
        {SCRIPT: rm_short, IMG: rm_tags},
        {"<b>p</b>": hostile_perturb, f"gone {IMG}": Gone()},
        attributes=HOSTILE_ATTRS,
        seeds=2,
        per_seed=4,
        n_boot=50,
        progress=False,
    )


# -- sections --------------------------------------------------------------------------------
def test_sections_and_configuration(study, page):
    text = " ".join(page.text)
    for heading in (
        "Configuration",
        "Data set: data",
        "Quality of the explanations",
        "Global sensitivity",
        "Kendall's τ",
        "Representative examples",
        "Contrasting examples",
    ):
        assert heading in text, heading
    config = {
        row[0]: row[1:]
        for rows in (page.tables[1][1], page.tables[2][1], page.tables[3][1])
        for row in rows[1:]
    }
    for name, identity in study.config["rms"].items():
        assert config[name] == [identity]
    assert config["rules"][:2] == ["rules:v1", "attribute perturber; primary (drives RM vs RM)"]
    assert config["seeds × comparisons per seed"][0].startswith("5 × 30")
    assert config["attributes"] == [", ".join(STUDY_ATTRS)]
    for side in SIDES:
        assert f"Side: {side}" in text
    # one PFR chart per RM plus the τ heatmap, each spec with a matching element
    specs = page.specs()
    ids = {a.get("id") for _, a in page.tags if a.get("class") == "chart"}
    assert set(specs) == ids == {f"{CHART_PREFIX}{i}" for i in range(len(study.rms) + 1)}
    titles = [s.get("title") for s in specs.values()]
    assert [f"{rm} — rules" for rm in study.rms] == titles[:3]
    # every representative and contrasting example is shown with its rewrites
    examples = [a for t, a in page.tags if t == "div" and a.get("class") == "example"]
    assert len(examples) == len(study.representatives) + 2 * len(study.contrasting)
    assert page.tags[0][0] == "html" and sum(t == "script" for t, _ in page.tags) == 3


def test_report_numbers_equal_the_frames(study, page):
    for side in SIDES:
        expected = study.main_table("data", side)
        rows = page.table(f"quality side-{side}")
        assert rows[0] == list(expected.columns)
        assert rows[1:] == expected.astype(str).values.tolist()
    tau = study.tau_matrix("data")
    rows = page.table("tau-matrix tau")
    assert rows[0][1:] == list(study.rms)
    for row in rows[1:]:
        assert row[1:] == [f"{tau.loc[row[0], c]:.3f}" for c in study.rms]
    assert {row[0] for row in rows[1:]} == set(study.rms)
    assert rows[1][3] == "-0.667"  # the planted and reversed weights rank oppositely
    pvals = study.tau_matrix("data", values="p_value")
    for row in page.table("tau-matrix p_value")[1:]:
        assert row[1:] == [f"{pvals.loc[row[0], c]:.3f}" for c in study.rms]
    s = study.sensitivity
    pooled = s[s["direction"] == "both"]
    rows = page.table("pfr")
    assert rows[0] == ["attribute", *study.rms]
    for row in rows[1:]:
        for rm, cell in zip(study.rms, row[1:]):
            r = pooled[(pooled["rm"] == rm) & (pooled["attribute"] == row[0])].iloc[0]
            assert cell == f"{r.pfr:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}]"
    assert [row[0] for row in rows[1:]] == STUDY_ATTRS


def test_save_writes_the_report(study, tmp_path):
    paths = study.save(tmp_path / "out")
    text = paths["report"].read_text(encoding="utf-8")
    assert paths["report"].name == "report.html" and "Data set: data" in text
    assert "cdn.jsdelivr" not in text.split("</head>")[1]  # nothing is fetched by the body


# -- untrusted text and names ----------------------------------------------------------------
def test_hostile_text_and_names_are_escaped(hostile_study, tmp_path):
    res = hostile_study
    assert res.skipped == {f"gone {IMG}": f"offline {SCRIPT}"}
    path = write_study_report(res, tmp_path / "r.html")
    html_text = path.read_text(encoding="utf-8")
    page = Page(html_text)
    assert [t for t, _ in page.tags if t == "img"] == []
    assert [(t, a) for t, a in page.tags if any(k.startswith("on") for k in a)] == []
    assert sum(t == "script" for t, _ in page.tags) == 3  # bundle, specs, embed: no more
    for _, text in page.scripts[1:]:  # the specs and the embed code: no raw '<' to close them
        assert "<" not in text
    specs = page.specs()  # the names travel into chart titles as data, not markup
    assert f"{SCRIPT} — <b>p</b>" in [s.get("title") for s in specs.values()]
    text = "".join(page.text)
    for s in (
        f"Data set: ds {SCRIPT}",
        f"{SCRIPT} vs {IMG}",
        f"offline {SCRIPT}",
        f"gone {IMG}",
        "<b>p</b>",
        f"{IMG} answer",
        f"Gone({IMG})",
    ):
        assert s in text, s
    assert any(f"Question {i} {IMG}" in text for i in range(6))  # a shown example's prompt
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html_text
    # element ids come from counters, never from names
    ids = [a["id"] for _, a in page.tags if "id" in a]
    assert all("<" not in i and " " not in i for i in ids) and len(ids) == len(set(ids))
    assert '<a href="#dataset-1">plain</a>' in html_text


def test_study_without_any_result_still_reports():
    res = evaluate(
        hostile_comparisons(3),
        {"rm": rm_short},
        {"gone": Gone()},
        attributes=HOSTILE_ATTRS,
        seeds=1,
        per_seed=3,
        progress=False,
    )
    page = Page(study_report_html(res))
    text = " ".join(page.text)
    assert "skipped: offline" in text and "No sensitivity" in text and "No τ" in text
    assert "No explanations on this side." in text and page.specs() == {}


def test_unwritable_path_raises_rmx_error(study, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RMXError, match="cannot write the study report"):
        write_study_report(study, blocker / "report.html")
    with pytest.raises(RMXError):
        write_study_report(study, tmp_path)  # a folder, not a file
