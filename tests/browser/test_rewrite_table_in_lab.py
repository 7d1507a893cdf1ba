"""The rewrite table in a real JupyterLab and Jupyter Notebook 7: sort, search, filter, page,
pick a page size, select a row (the Explorer's ComparisonView follows, also when the same row
is picked again), a filter matching nothing keeps the bar and Clear filters, and a hostile
rewrite stays text.

Twelve comparisons (c0 … c11) × three attributes × two sides = 72 rewrites: two pages of 50.
The toy RM scores -len(response) / 10; "verbosity" repeats a response (longer: its margin
change is the largest in magnitude), "clarity" fails (the response comes back unchanged) and
"markup" appends a hostile HTML string.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_harness import (
    NOTEBOOK7_OWN_ERRORS,
    UIS,
    Browser,
    Lab,
    open_notebook,
    run_all,
    screenshot_dir,
    shoot,
    wait_for,
)

pytestmark = pytest.mark.browser

HOSTILE = '<img src=x onerror="window.rmxPwned=1"><b>bold</b>'
SETUP = f"""\
import rmx_widgets as rmx

HOSTILE = {HOSTILE!r}
comparisons = [rmx.Comparison(id=f"c{{i}}", prompt=f"question {{i}}",
                              response_a=f"short answer {{i}}",
                              response_b=f"a much longer answer number {{i}} with details")
               for i in range(12)]


def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]


def perturb(prompt, response, attribute, direction):
    if attribute.name == "clarity":
        return response
    if attribute.name == "markup":
        return response + " " + HOSTILE
    return " ".join([response] * 3) if direction == "worse" else response[:6]


explainer = rmx.Explainer(rm, perturb, attributes=["verbosity", "clarity",
    rmx.Attribute("markup", "Adds markup.")], progress=False)
result = explainer.explain(comparisons)
explorer = rmx.Explorer(explainer, comparisons, null_perturber=None)
explorer.show_result(result)
"""


@pytest.mark.parametrize("ui", UIS)
def test_sort_search_filter_page_select_in_lab(lab: Lab, browser_page: Browser, ui: str) -> None:
    """In JupyterLab 4 and in Jupyter Notebook 7."""
    page = browser_page.page
    nb = lab.write_notebook(f"rewrite_table_{ui}.ipynb", [SETUP, "explorer"])
    open_notebook(lab, page, nb, ui)
    run_all(lab, page, nb)
    table = page.locator(".rmx-rewrite-table")
    table.wait_for(timeout=60_000)
    count = table.locator('[data-testid="rmx-rt-count"]')
    wait_for(lambda: (count.text_content() or "").startswith("Rows 1–50 of 72"), 30, "page 1", page)
    rows = table.locator(".tabulator-row")

    def column(field: str) -> list[str]:
        return [
            t or ""
            for t in table.locator(
                f'.tabulator-row [tabulator-field="{field}"]'
            ).all_text_contents()
        ]

    def loads() -> int:
        return int(table.get_attribute("data-loads") or "0")

    # the grid keeps to its column (it scrolls sideways inside): the table's box ends where
    # the Explorer's table_slot ends
    edges = table.evaluate(
        "(r) => [r.getBoundingClientRect().right,"
        " r.closest('.rmx-table-slot').getBoundingClientRect().right]"
    )
    assert edges[0] <= edges[1] + 1, edges

    # hostile text is text: the markup shows verbatim, nothing was parsed or run
    markup = [t for t in column("perturbed") if "onerror" in t]
    assert markup and all(HOSTILE in t for t in markup)
    assert table.locator(".tabulator-row img, .tabulator-row b").count() == 0
    assert page.evaluate("window.rmxPwned") is None

    # sort: Margin change, numbers start descending; a second click ascends
    header = table.locator('.tabulator-col[tabulator-field="margin_change"]')
    n = loads()
    header.click()
    wait_for(lambda: loads() > n, 30, "the sorted page", page)
    values = [float(v.replace("\u2212", "-")) for v in column("margin_change") if v != "\u2014"]
    assert values == sorted(values, reverse=True) and len(values) > 10
    # header and rows stay lined up after the click scrolled the header into view
    scrolls = table.evaluate(
        "(r) => [r.querySelector('.tabulator-header').scrollLeft,"
        " r.querySelector('.tabulator-tableholder').scrollLeft]"
    )
    assert abs(scrolls[0] - scrolls[1]) <= 1, scrolls

    # page 2 holds the other 22 rows
    n = loads()
    table.locator('.tabulator-page[data-page="next"]').click()
    wait_for(lambda: loads() > n, 30, "page 2", page)
    assert (count.text_content() or "").startswith("Rows 51–72 of 72")
    assert rows.count() == 22

    # page size: 100 a page shows all 72 rows on one page, and back to 25 gives three pages
    sizes = table.locator("select.tabulator-page-size")
    assert sizes.locator("option").all_text_contents() == ["25", "50", "100", "250", "500"]
    n = loads()
    sizes.select_option("100")
    wait_for(lambda: loads() > n, 30, "a page of 100", page)
    assert (count.text_content() or "").startswith("Rows 1–72 of 72") and rows.count() == 72
    n = loads()
    sizes.select_option("25")
    wait_for(lambda: loads() > n, 30, "a page of 25", page)
    assert (count.text_content() or "").startswith("Rows 1–25 of 72") and rows.count() == 25
    n = loads()
    table.locator('.tabulator-page[data-page="next"]').click()
    wait_for(lambda: loads() > n, 30, "page 2 of 25", page)
    assert (count.text_content() or "").startswith("Rows 26–50 of 72")
    n = loads()
    sizes.select_option("50")
    wait_for(lambda: loads() > n and rows.count() == 50, 30, "back to 50", page)

    # search: one comparison's rewrites (ids are searched)
    n = loads()
    table.locator('[data-testid="rmx-rt-search"]').fill("c11")
    wait_for(
        lambda: loads() > n and "of 6 matching" in (count.text_content() or ""), 30, "search", page
    )
    assert set(column("comparison_id")) == {"c11"}

    # filter: outcome failed (the clarity rewrites) within that search
    n = loads()
    table.locator('[data-testid="rmx-rt-outcome"]').select_option("failed")
    wait_for(
        lambda: loads() > n and "of 2 matching" in (count.text_content() or ""), 30, "filter", page
    )
    assert set(column("outcome")) == {"failed"} and set(column("attribute")) == {"clarity"}

    # a filter that matches nothing keeps the bar and the way back
    n = loads()
    table.locator('[data-testid="rmx-rt-min-margin_change"]').fill("1000")
    wait_for(
        lambda: loads() > n and "No rewrite matches" in (count.text_content() or ""),
        30,
        "none",
        page,
    )
    assert rows.count() == 0
    assert table.locator('[data-testid="rmx-rt-filters"]').is_visible()
    n = loads()
    table.locator('[data-testid="rmx-rt-clear"]').click()
    wait_for(
        lambda: loads() > n and "of 72 matching" in (count.text_content() or ""),
        30,
        "cleared",
        page,
    )

    # select a row: the Explorer's ComparisonView opens that rewrite's comparison
    n = loads()
    table.locator('[data-testid="rmx-rt-search"]').fill("c7")
    wait_for(
        lambda: loads() > n and "of 6 matching" in (count.text_content() or ""), 30, "c7", page
    )
    rows.nth(0).locator('[tabulator-field="attribute"]').click()
    view = page.locator(".rmx-comparison-view")
    title = view.locator('[data-testid="rmx-comparison-id"]')
    wait_for(lambda: "c7" in (title.text_content() or ""), 30, "the detail view on c7", page)
    assert "rmx-rt-selected" in (rows.nth(0).get_attribute("class") or "")
    # browse away in the view, then click the same (still selected) row: it opens again
    view.locator('[data-testid="rmx-next"]').click()
    wait_for(lambda: "c7" not in (title.text_content() or ""), 30, "the next comparison", page)
    rows.nth(0).locator('[tabulator-field="attribute"]').click()
    wait_for(lambda: "c7" in (title.text_content() or ""), 30, "c7 reopened", page)
    known = NOTEBOOK7_OWN_ERRORS if ui == "notebook" else ()
    errors = [
        c
        for c in browser_page.console
        if c.startswith("pageerror") and not any(k.match(c) for k in known)
    ]
    assert not errors, errors


def test_the_table_reads_in_light_and_dark_theme(
    lab: Lab, browser_page: Browser, tmp_path: Path
) -> None:
    """Cells, headers, filter bar, count line and pager: every text at least 4.5:1 in both
    themes (measured as test_dark_theme measures every widget); and the README's picture."""
    from test_dark_theme import MEASURE, MIN_CONTRAST, set_theme

    page = browser_page.page
    nb = lab.write_notebook("rewrite_table_theme.ipynb", [SETUP, "rmx.RewriteTable(result.table)"])
    set_theme(lab, None, "JupyterLab Light")
    try:
        open_notebook(lab, page, nb)
        run_all(lab, page, nb)
        table = page.locator(".rmx-rewrite-table")
        table.locator(".tabulator-row").first.wait_for(timeout=60_000)
        loads = table.get_attribute("data-loads")
        table.locator('.tabulator-col[tabulator-field="margin_change"]').click()
        wait_for(lambda: table.get_attribute("data-loads") != loads, 30, "the sorted page", page)
        page.mouse.move(0, 0)  # no hover in the picture
        shoot(table, screenshot_dir(tmp_path) / "rewrite_table.png")
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            set_theme(lab, page, theme)
            items = table.evaluate(MEASURE)["items"]
            texts = {x["text"] for x in items}
            assert "CF" in texts and "Clear filters" in texts, texts
            low = [x for x in items if x["r"] < MIN_CONTRAST]
            assert not low, f"{theme}: {low[:5]}"
    finally:
        set_theme(lab, None, "JupyterLab Light")  # the lab is shared with the other tests
