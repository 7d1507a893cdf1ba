"""The Explorer's chart has a width wherever it is first drawn, in JupyterLab and Notebook 7.

The chart fills its column (Vega ``width: "container"``), and Vega reads that width when the
chart is embedded and afterwards only on a window resize. An Explorer given its result before
it is displayed (``explorer.show_result(result); explorer``) embeds its chart before the page
has laid it out, and a chart in a tab not yet shown has no width at all: both drew 0 px wide,
no bar to see or click, until the window was resized. The summary view under the chart
announces the column's width (js/src/lib/container_width.ts); these tests fail without it.
"""

from __future__ import annotations

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

SETUP = """
import ipywidgets as w
import rmx_widgets as rmx
from rmx_widgets.widgets import Explorer
from rmx_widgets.widgets.sensitivity_chart import SensitivityChart

COMPS = [
    {"id": f"c{i}", "prompt": f"question {i}", "response_a": f"short answer {i}",
     "response_b": f"a much longer answer number {i} with details"}
    for i in range(12)
]

def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]  # prefers the short answer

def perturb(prompt, response, attribute, direction):
    if attribute.name == "clarity":
        return response + "."
    return " ".join([response] * 4) if direction == "worse" else response[:8]

explainer = rmx.Explainer(rm, perturb, attributes=["verbosity", "clarity"], progress=False)
result = explainer.explain(COMPS)
"""
CELLS = [
    SETUP,
    "shown_after = Explorer(explainer, COMPS)\nshown_after.show_result(result)\nshown_after",
    "chart = SensitivityChart(result.table, fit=True)\n"
    "tabs = w.Tab([w.Label('first tab'), chart], titles=['first', 'chart'])\ntabs",
]


def chart_width(chart) -> float:
    box = chart.locator("svg.marks").first.bounding_box()
    return 0.0 if box is None else box["width"]


def bars(chart) -> int:
    return chart.locator('path[aria-roledescription="bar"]').count()


@pytest.mark.parametrize("ui", ["lab", "notebook"])
def test_a_chart_drawn_before_layout_or_in_a_hidden_tab_gets_its_width(
    lab: Lab, browser_page: Browser, ui: str
) -> None:
    page = browser_page.page
    name = lab.write_notebook(f"chart_width_{ui}.ipynb", CELLS)
    open_notebook(lab, page, name, ui=ui)
    run_all(lab, page, name)

    # an Explorer displayed after show_result(): its chart fills its column and can be clicked
    explorer = page.locator(".rmx-explorer").first
    chart = explorer.locator(".rmx-sensitivity-chart")
    column = chart.bounding_box()
    assert column is not None and column["width"] > 200, column
    wait_for(lambda: chart_width(chart) > 0.5 * column["width"], 20, "the chart's width", page)
    wait_for(lambda: bars(chart) == 4, 20, "four bars (2 attributes x 2 sides)", page)
    labels = chart.locator('path[aria-roledescription="bar"]').evaluate_all(
        "els => els.map((e) => e.getAttribute('aria-label') || '')"
    )
    assert sum("attribute: verbosity" in x for x in labels) == 2, labels

    # a chart in a tab not shown yet: 0 px while hidden, its column's width once shown
    tabbed = page.locator(".rmx-sensitivity-chart").nth(1)
    assert not tabbed.is_visible()
    page.locator(".widget-tab .lm-TabBar-tab", has_text="chart").first.click()
    wait_for(tabbed.is_visible, 20, "the chart tab", page)
    shown = tabbed.bounding_box()
    assert shown is not None and shown["width"] > 200, shown
    wait_for(lambda: chart_width(tabbed) > 0.5 * shown["width"], 20, "the tab's chart", page)
    assert bars(tabbed) == 4
