"""Issue 14's linked views as a person uses them, in JupyterLab 4 and Jupyter Notebook 7: the
Explorer's chart, rewrite table and detail view (ComparisonView) on screen together, every link
two-way. A click on a bar filters the table (its rows and its Attribute and Side controls) and
the detail view; the table's Attribute and Side then move the chart's highlighted bar and the
detail view's filters and rewrites.

Twelve comparisons × two attributes × two sides = 48 rewrites. The toy RM prefers the shorter
response; "verbosity" repeats the chosen response (worse) or cuts the rejected one (better):
every rewrite flips, both bars are full width; "markup" appends text (its worse rewrites flip,
its better ones never do).
"""

from __future__ import annotations

import pytest
from lab_harness import NOTEBOOK7_OWN_ERRORS, UIS, Browser, Lab, open_notebook, run_all, wait_for
from test_chart_defects_in_lab import FADED, filters, lit, marks, opacity_of, shown_rows

pytestmark = pytest.mark.browser

SETUP = """\
import rmx_widgets as rmx

comparisons = [rmx.Comparison(id=f"c{i}", prompt=f"question {i}",
                              response_a=f"short answer {i}",
                              response_b=f"a much longer answer number {i} with details")
               for i in range(12)]


def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]


def perturb(prompt, response, attribute, direction):
    if attribute.name == "markup":
        return response + " with some added markup text here, quite a lot of it"
    return " ".join([response] * 3) if direction == "worse" else response[:6]


explainer = rmx.Explainer(rm, perturb, attributes=["verbosity",
    rmx.Attribute("markup", "Adds markup.")], progress=False)
explorer = rmx.Explorer(explainer, comparisons, null_perturber=None)
explorer.show_result(explainer.explain(comparisons))
"""


def click_bar(page: object, chart: object, attribute: str, direction: str) -> None:
    """Click the middle of one bar, as a person does."""
    index = next(
        i
        for i, m in enumerate(marks(chart, "bar"))
        if (m.get("attribute"), m.get("direction")) == (attribute, direction)
    )
    bar = chart.locator('path[aria-roledescription="bar"]').nth(index)  # type: ignore[attr-defined]
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None and box["width"] > 4, box
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # type: ignore[attr-defined]


def open_explorer(lab: Lab, page: object, name: str, setup: str, ui: str) -> tuple:
    """Run ``setup`` and show ``explorer`` in a new notebook; once its table holds the 48
    rewrites and its chart its 4 bars, the Explorer's (box, chart, view, table, row count)."""
    nb = lab.write_notebook(f"{name}.ipynb", [setup, "explorer"])
    open_notebook(lab, page, nb, ui)
    run_all(lab, page, nb)
    box = page.locator(".rmx-explorer").first  # type: ignore[attr-defined]
    chart = box.locator(".rmx-sensitivity-chart")
    view = box.locator(".rmx-comparison-view")
    table = box.locator(".rmx-rewrite-table")
    count = table.locator('[data-testid="rmx-rt-count"]')
    wait_for(lambda: (count.text_content() or "").startswith("Rows 1–48 of 48"), 60, "rows", page)
    wait_for(lambda: len(marks(chart, "bar")) == 4, 60, "the chart's four bars", page)
    return box, chart, view, table, count


@pytest.mark.parametrize("ui", UIS)
def test_chart_table_and_detail_are_linked_both_ways(
    lab: Lab, browser_page: Browser, ui: str
) -> None:
    page = browser_page.page
    _box, chart, view, table, count = open_explorer(lab, page, f"linked_views_{ui}", SETUP, ui)
    attribute = table.locator('[data-testid="rmx-rt-attribute"]')
    side = table.locator('[data-testid="rmx-rt-side"]')

    def column(field: str) -> set[str]:
        cells = table.locator(f'.tabulator-row [tabulator-field="{field}"]')
        return {t or "" for t in cells.all_text_contents()}

    def loads() -> int:
        return int(table.get_attribute("data-loads") or "0")

    # a click on verbosity's worse bar: the table shows the chosen responses' verbosity
    # rewrites and its controls say so; the detail view is filtered the same way
    n = loads()
    click_bar(page, chart, "verbosity", "worse")
    wait_for(
        lambda: loads() > n and "of 12 matching (48 in the table)" in (count.text_content() or ""),
        30,
        "the table filtered by the click",
        page,
    )
    assert (attribute.input_value(), side.input_value()) == ("verbosity", "chosen")
    assert column("attribute") == {"verbosity"} and column("side") == {"chosen"}
    wait_for(lambda: filters(view) == ("verbosity", "chosen", "all"), 20, "view filters", page)
    assert shown_rows(view) == {("verbosity", "chosen")}
    assert lit(chart, "verbosity", "worse") and opacity_of(chart, "markup", "worse") == FADED

    # the table's Attribute: the chart highlights markup's worse bar, the detail view follows
    n = loads()
    attribute.select_option("markup")
    wait_for(lambda: loads() > n and column("attribute") == {"markup"}, 30, "the markup rows", page)
    assert column("side") == {"chosen"} and "of 12 matching" in (count.text_content() or "")
    wait_for(
        lambda: (
            lit(chart, "markup", "worse")
            and opacity_of(chart, "verbosity", "worse") == FADED
            and opacity_of(chart, "markup", "better") == FADED
        ),
        30,
        "markup's worse bar highlighted",
        page,
    )
    wait_for(lambda: filters(view) == ("markup", "chosen", "all"), 20, "view on markup", page)
    wait_for(lambda: shown_rows(view) == {("markup", "chosen")}, 20, "markup rewrites", page)

    # and its Side: the rejected response's rewrites are markup's better bar
    side.select_option("rejected")
    wait_for(
        lambda: lit(chart, "markup", "better") and opacity_of(chart, "markup", "worse") == FADED,
        30,
        "markup's better bar highlighted",
        page,
    )
    wait_for(lambda: filters(view) == ("markup", "rejected", "all"), 20, "view rejected", page)
    wait_for(lambda: column("side") == {"rejected"}, 30, "the rejected rows", page)

    # the detail view's Clear filters clears the table's and the chart's too
    n = loads()
    view.locator('[data-testid="rmx-clear-filters"]').click()
    wait_for(
        lambda: loads() > n and "of 48 matching" in (count.text_content() or ""),
        30,
        "every row in the table",
        page,
    )
    assert (attribute.input_value(), side.input_value()) == ("", "all")
    wait_for(
        lambda: all(b["opacity"] != FADED for b in marks(chart, "bar")),
        30,
        "the chart selection cleared",
        page,
    )
    known = NOTEBOOK7_OWN_ERRORS if ui == "notebook" else ()
    errors = [
        c
        for c in browser_page.console
        if c.startswith("pageerror") and not any(k.match(c) for k in known)
    ]
    assert not errors, errors
