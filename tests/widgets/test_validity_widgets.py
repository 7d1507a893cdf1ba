"""SensitivitySummary and SensitivityChart show the valid-rewrite rate when the sensitivity
table has verdicts (a "valid (judged)" cell after "failed", the chart's tooltip and labels),
say when figures count valid rewrites only, and keep their old state for unjudged tables."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from sens_frames import HOSTILE, sens_frame
from summary_cells import HEADERS
from widget_inputs import ATTRS, COMPS, perturb, rm

import rmx_widgets as rmx
from rmx_widgets.core.readability import VALID_HEADER, VALID_ONLY_NOTE
from rmx_widgets.core.sensitivity import sensitivity
from rmx_widgets.widgets import SensitivityChart
from rmx_widgets.widgets.sensitivity_summary import SensitivitySummary

JUDGED_HEADERS = [*HEADERS[:3], VALID_HEADER, *HEADERS[3:]]
# pooled (n_judged, n_valid) by hand: tone 38 of 40 valid; length and HOSTILE nothing judged
POOLED = {"tone": (40, 38), "length": (0, 0), HOSTILE: (0, 0)}


def judged(valid_only: bool = False) -> pd.DataFrame:
    out = sens_frame("columns")
    pairs = [
        POOLED[a] if d == "both" else (0, 0)
        for a, d in zip(out["attribute"], out["direction"], strict=True)
    ]
    out["n_judged"] = [j for j, _ in pairs]
    out["n_valid"] = [v for _, v in pairs]
    out["valid_rate"] = [v / j if j else math.nan for j, v in pairs]
    out.attrs["valid_only"] = valid_only
    return out


def test_summary_rows_carry_the_valid_cell():
    """The same literals as js/test/sensitivity_summary.test.ts's judged state."""
    summary = SensitivitySummary()
    summary.show(judged())
    assert summary.headers == JUDGED_HEADERS
    tone, length, hostile = summary.rows
    assert tone["cells"][:3] == ["40", "10/50 (0.20)", "38/40 (0.95)"]  # 38 / 40 = 0.95
    assert length["cells"][2] == "not measured"  # 9 rewrites, none judged: never 0/0
    assert hostile["cells"][2] == "not measured"
    assert all(len(r["cells"]) == len(JUDGED_HEADERS) - 1 for r in summary.rows)
    assert "valid (judged) = valid/judged rewrites (rate)" in summary.legend
    assert VALID_ONLY_NOTE not in summary.legend


def test_summary_says_valid_only_and_reverts_for_an_unjudged_table():
    summary = SensitivitySummary()
    summary.show(judged(valid_only=True))
    assert summary.legend.startswith(f"Figures {VALID_ONLY_NOTE}.")
    summary.show(sens_frame("columns"))  # a table without verdicts: the old state exactly
    assert summary.headers == HEADERS
    assert all(len(r["cells"]) == len(HEADERS) - 1 for r in summary.rows)
    assert "valid" not in summary.legend


def test_static_summary_shows_the_valid_cell_and_its_key():
    """The static view (nbconvert, GitHub) of a judged, valid-only table: the live widget's
    headers and cells, the valid cell's definition and the valid-only note in its caption."""
    summary = SensitivitySummary()
    summary.show(judged(valid_only=True))
    text = summary._repr_mimebundle_()[0]["text/html"]
    head = "".join(f"<th>{h}</th>" for h in JUDGED_HEADERS)
    assert head in text
    assert "<td>tone</td><td>40</td><td>10/50 (0.20)</td><td>38/40 (0.95)</td>" in text
    assert "valid (judged) = valid/judged rewrites (rate)" in text
    assert f"Figures {VALID_ONLY_NOTE}." in text


@pytest.fixture(scope="module")
def judged_table() -> pd.DataFrame:
    """A real run's table with planted verdicts: every successful verbosity rewrite valid,
    every successful manner rewrite invalid, the rest undecided."""
    table = rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False).explain(COMPS).table
    table = table.copy()
    ok = table["outcome"] != "failed"
    verdict = pd.Series(pd.NA, index=table.index, dtype="boolean")
    verdict[ok & (table["attribute"] == "verbosity")] = True
    verdict[ok & (table["attribute"] == "manner")] = False
    table["valid"] = verdict
    return table


def test_sensitivity_chart_widget_shows_the_valid_rate(judged_table):
    chart = SensitivityChart(judged_table, n_boot=0)
    ok = judged_table[judged_table["outcome"] != "failed"]
    n_verb = int((ok["attribute"] == "verbosity").sum())
    n_manner = int((ok["attribute"] == "manner").sum())
    assert chart.summary.headers == JUDGED_HEADERS
    rows = {r["attribute"]: r["cells"] for r in chart.summary.rows}
    assert rows["verbosity"][2] == f"{n_verb}/{n_verb} (1.00)"
    assert rows["manner"][2] == f"0/{n_manner} (0.00)"  # judged, none valid: a measured 0
    assert rows["clarity"][2] == "not measured"
    spec = chart.chart.chart.to_dict()
    assert VALID_HEADER in [t["title"] for t in spec["encoding"]["tooltip"]]
    chart.show(sensitivity(judged_table, n_boot=0, valid_only=True))
    spec = chart.chart.chart.to_dict()
    assert VALID_ONLY_NOTE in spec["layer"][1]["encoding"]["x"]["title"]
    assert chart.summary.legend.startswith(f"Figures {VALID_ONLY_NOTE}.")
