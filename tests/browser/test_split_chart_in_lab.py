"""Issue 14's split chart as a person uses it, in JupyterLab 4 and Jupyter Notebook 7:
"Split by" a slice of the input splits the chart's bars too (one worse and one better bar per
attribute and slice, each labelled with its slice and n), a click on one bar filters the
rewrite table and the detail view by attribute, side *and* slice, and "Show every slice"
brings the other slice back while the attribute and side stay.

Twelve comparisons (six "math", six "chat") × two attributes × two sides = 48 rewrites; the
toy RM prefers the shorter response and every "verbosity" rewrite flips (as in
test_linked_views_in_lab.py).
"""

from __future__ import annotations

import pytest
from lab_harness import NOTEBOOK7_OWN_ERRORS, UIS, Browser, Lab, wait_for
from test_chart_defects_in_lab import FADED, filters, marks, shown_rows
from test_linked_views_in_lab import SETUP as LINKED_SETUP
from test_linked_views_in_lab import open_explorer

pytestmark = pytest.mark.browser

# test_linked_views_in_lab.py's notebook, its comparisons given a "domain" field to split by
SPLIT_FIELD = """with details",
                              metadata={"domain": "math" if i % 2 else "chat"})"""
SETUP = LINKED_SETUP.replace('with details")', SPLIT_FIELD)
assert SETUP != LINKED_SETUP


def _bar_index(chart: object, attribute: str, direction: str, domain: str) -> int:
    return next(
        i
        for i, m in enumerate(marks(chart, "bar"))
        if (m.get("attribute"), m.get("direction"), m.get("domain"))
        == (attribute, direction, domain)
    )


@pytest.mark.parametrize("ui", UIS)
def test_split_by_splits_the_chart_and_a_click_filters_by_the_slice(
    lab: Lab, browser_page: Browser, ui: str
) -> None:
    page = browser_page.page
    box, chart, view, table, count = open_explorer(lab, page, f"split_chart_{ui}", SETUP, ui)

    box.locator(".rmx-split-picker select").select_option(label="domain")
    # 2 attributes x 2 sides x 2 slices, each bar named with its slice and n in its label
    wait_for(lambda: len(marks(chart, "bar")) == 8, 60, "one bar per slice", page)
    assert {
        (m.get("attribute"), m.get("direction"), m.get("domain")) for m in marks(chart, "bar")
    } == {
        (a, d, s)
        for a in ("verbosity", "markup")
        for d in ("worse", "better")
        for s in ("chat", "math")
    }
    labels = chart.locator("text").all_text_contents()
    assert "math: n=6 · 0 failed" in labels and "chat: n=6 · 0 failed" in labels

    # click verbosity's better bar of the math slice, as a person does
    bar = chart.locator('path[aria-roledescription="bar"]').nth(
        _bar_index(chart, "verbosity", "better", "math")
    )
    bar.scroll_into_view_if_needed()
    where = bar.bounding_box()
    assert where is not None and where["width"] > 4, where
    page.mouse.click(where["x"] + where["width"] / 2, where["y"] + where["height"] / 2)
    # the table holds the math slice only (24 rewrites) and shows its 6 verbosity rewrites of
    # the rejected responses; its controls and the detail view say attribute and side
    wait_for(
        lambda: "of 6 matching (24 in the table)" in (count.text_content() or ""),
        30,
        "the table filtered by attribute, side and slice",
        page,
    )
    attribute = table.locator('[data-testid="rmx-rt-attribute"]')
    side = table.locator('[data-testid="rmx-rt-side"]')
    assert (attribute.input_value(), side.input_value()) == ("verbosity", "rejected")
    wait_for(lambda: filters(view) == ("verbosity", "rejected", "all"), 20, "view filters", page)
    assert shown_rows(view) == {("verbosity", "rejected")}
    note = box.locator(".rmx-slice-bar")
    wait_for(lambda: "domain = math" in (note.text_content() or ""), 20, "the slice note", page)
    ids = table.locator('.tabulator-row [tabulator-field="comparison_id"]').all_text_contents()
    assert ids and all(int(i.strip()[1:]) % 2 == 1 for i in ids)  # odd ids are "math"
    # the clicked bar is lit, the same bar of the other slice faded
    assert marks(chart, "bar")[_bar_index(chart, "verbosity", "better", "chat")]["opacity"] == FADED

    # "Show every slice": both slices' rows again, attribute and side kept
    note.get_by_role("button", name="Show every slice").click()
    wait_for(
        lambda: "of 12 matching (48 in the table)" in (count.text_content() or ""),
        30,
        "every slice in the table",
        page,
    )
    assert (attribute.input_value(), side.input_value()) == ("verbosity", "rejected")
    wait_for(lambda: not note.is_visible(), 20, "the slice note hidden", page)
    known = NOTEBOOK7_OWN_ERRORS if ui == "notebook" else ()
    errors = [
        c
        for c in browser_page.console
        if c.startswith("pageerror") and not any(k.match(c) for k in known)
    ]
    assert not errors, errors
