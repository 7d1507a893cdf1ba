"""Slices in a real JupyterLab: the input's domain (tests/data/comparisons_with_domain.jsonl:
4 math, 4 chat, 3 code comparisons and one without a domain) is a column of the Explorer's
rewrite table, sorted by a header click, and "Split by: domain" under the chart turns the
summary into one block of rows per domain, "no split" back into one row per attribute.
Real components: the transparent RM and the rule perturber."""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

DATA = Path(__file__).parents[1] / "data" / "comparisons_with_domain.jsonl"
SETUP = f"""\
import rmx_widgets as rmx

comparisons = rmx.load_comparisons({str(DATA)!r})
explainer = rmx.Explainer(rmx.reward_model_from_spec("transparent"),
                          rmx.perturber_from_spec("rules"),
                          ["verbosity", "manner", "avoid-to-answer"], progress=False)
explorer = rmx.Explorer(explainer, comparisons, null_perturber=None)
explorer.show_result(explainer.explain(comparisons))
"""


def test_slice_column_and_split_by_in_lab(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    nb = lab.write_notebook("slices.ipynb", [SETUP, "explorer"])
    open_notebook(lab, page, nb)
    run_all(lab, page, nb)
    table = page.locator(".rmx-rewrite-table")
    table.locator(".tabulator-row").first.wait_for(timeout=60_000)

    # the domain is a column of the table, under its own header, sorted by a click
    header = table.locator('.tabulator-col[tabulator-field="slice.domain"]')
    assert header.locator(".tabulator-col-title").text_content() == "domain"
    loads = table.get_attribute("data-loads")
    header.click()
    wait_for(lambda: table.get_attribute("data-loads") != loads, 30, "the sorted page", page)
    cells = table.locator('.tabulator-row [tabulator-field="slice.domain"]')
    wait_for(lambda: cells.first.text_content() == "chat", 30, "chat first", page)
    domains = cells.all_text_contents()  # page 1 of 72 rows sorted by domain: 24 chat, 18 code
    assert domains[:24] == ["chat"] * 24 and domains[24:42] == ["code"] * 18, domains

    # Split by: one block of rows per domain, the rows missing it last
    summary = page.locator(".rmx-sensitivity-summary")
    first_header = summary.locator("thead th").first
    assert first_header.text_content() == "attribute"
    assert summary.locator('[data-testid="rmx-summary-row"]').count() == 3
    page.locator(".rmx-split-picker select").select_option(label="domain")
    wait_for(lambda: first_header.text_content() == "domain", 30, "the split summary", page)
    rows = summary.locator('[data-testid="rmx-summary-row"]')
    slices = [rows.nth(i).locator("th").first.text_content() for i in range(rows.count())]
    assert slices == ["chat"] * 3 + ["code"] * 3 + ["math"] * 3 + ["(missing)"] * 3, slices
    # each slice's own n, by hand: 3 code comparisons × 2 sides = 6 rewrites per attribute,
    # of which the rule perturber failed 3
    code_n = rows.nth(3).locator("td").first.text_content() or ""
    assert code_n.split()[0] == "3", code_n

    page.locator(".rmx-split-picker select").select_option(label="no split")
    wait_for(lambda: first_header.text_content() == "attribute", 30, "no split again", page)
    assert rows.count() == 3
    errors = [c for c in browser_page.console if c.startswith("pageerror")]
    assert not errors, errors
