"""Issue 14's chart and filter defects as a person sees them in JupyterLab.

One notebook, a toy RM and perturber chosen so that every case is on screen: ``verbosity``
flips, ``clarity`` never does (PFR 0: bars of zero width), ``coherence`` succeeds for one
comparison only (n = 1 each way: too few) and every ``assertiveness`` rewrite fails (not
measured). The perturber sleeps a little so the run lands in many batches and the chart is
redrawn while the person has a bar selected.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

RUN_TIMEOUT = 120.0
SETUP = """
import time
import rmx_widgets as rmx
from rmx_widgets.errors import RMXError
from rmx_widgets.widgets import Explorer

COMPS = [
    {"id": f"c{i}", "prompt": f"question {i}", "response_a": f"short answer {i}",
     "response_b": f"a much longer answer number {i} with details"}
    for i in range(12)
]
ATTRS = ["verbosity", "clarity", "coherence", "assertiveness"]

def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]  # prefers the short answer

def perturb(prompt, response, attribute, direction):
    time.sleep(0.08)
    name = attribute.name
    if name == "assertiveness":
        return response  # unchanged: a failed rewrite
    if name == "clarity":
        return response + "."  # one character: the preference never flips
    if name == "coherence":
        return response + " ok" if str(prompt) == "question 0" else response
    return " ".join([response] * 4) if direction == "worse" else response[:8]

def explainer(**kw):
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False, **kw)
"""
CELLS = [
    SETUP,
    "exp = Explorer(explainer(batch_size=1), COMPS, redraw_every=0.0)\nexp",
    "Explorer(explainer(), [])",
    "try:\n    Explorer(explainer(), COMPS, attributes=[])\n"
    "except RMXError as e:\n    print(f'{type(e).__name__}: {e}')",
]


def _aria(label: str) -> dict[str, str]:
    return dict(part.split(": ", 1) for part in label.split("; ") if ": " in part)


def marks(chart: Any, role: str) -> list[dict[str, str]]:
    """The chart's marks of one ARIA role ("bar", "point"), each as its ARIA fields plus
    its opacity (what a person sees as selected / faded)."""
    found = chart.locator(f'path[aria-roledescription="{role}"]').evaluate_all(
        "els => els.map((e) => [e.getAttribute('aria-label') || '', e.getAttribute('opacity')])"
    )
    return [{**_aria(label), "opacity": opacity or "1"} for label, opacity in found]


def opacity_of(chart: Any, attribute: str, direction: str) -> str | None:
    for bar in marks(chart, "bar"):
        if (bar.get("attribute"), bar.get("direction")) == (attribute, direction):
            return bar["opacity"]
    return None


FADED = "0.12"  # an unselected bar (a selected one keeps its 1, or 0.35 when too few)


def lit(chart: Any, attribute: str, direction: str) -> bool:
    return opacity_of(chart, attribute, direction) not in (None, FADED)


#: one task in the page: find the bar on screen, take the point just right of where it starts
#: and click whatever is there. Mid-run the chart is redrawn after every batch and its rows
#: follow the ranking, so a bar measured in one step and clicked in the next (a real mouse
#: click from Python) can have moved: the click then lands on another row or on empty space.
#: Measured and clicked in one task, the click hits the bar as it is on screen at that instant
#: (the view may still be replaced right after, which is what the kernel side must survive).
CLICK_BAR = """(root, [attribute, direction]) => {
  const label = (e) => Object.fromEntries((e.getAttribute("aria-label") || "").split("; ")
    .filter((p) => p.includes(": ")).map((p) => p.split(": ", 2)));
  const bar = Array.from(root.querySelectorAll('path[aria-roledescription="bar"]')).find((e) =>
    getComputedStyle(e).visibility !== "hidden"  // not a view still being drawn
    && label(e).attribute === attribute && label(e).direction === direction);
  const box = bar.getBoundingClientRect();
  const x = box.x + 5, y = box.y + box.height / 2;
  const target = document.elementFromPoint(x, y);
  const at = {bubbles: true, cancelable: true, clientX: x, clientY: y, view: window};
  for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
    target.dispatchEvent(new (type.startsWith("pointer") ? PointerEvent : MouseEvent)(type, at));
  }
  return {width: box.width, inChart: root.contains(target), tag: target.tagName};
}"""


def click_bar(page: Any, chart: Any, attribute: str, direction: str) -> None:
    """Click where the bar is, as a person does: on a bar of zero width, just right of where it
    starts (the pooled tick sits on x = 0 itself)."""
    hit = chart.evaluate(CLICK_BAR, [attribute, direction])
    # a zero-width bar; the point is on its row's marks (its hit area or its whisker)
    assert hit["width"] < 1 and hit["inChart"] and hit["tag"] in ("path", "line"), hit


def filters(view: Any) -> tuple[str, str, str]:
    return tuple(  # type: ignore[return-value]
        view.locator(f'[data-testid="rmx-filter-{k}"]').input_value()
        for k in ("attribute", "side", "outcome")
    )


def shown_rows(view: Any) -> set[tuple[str, str]]:
    cards = view.locator('[data-testid="rmx-row"]')
    names = cards.locator(".rmx-attribute").all_text_contents()
    sides = cards.locator(".rmx-side").all_text_contents()
    return {(n.strip(), s.replace(" response", "").strip()) for n, s in zip(names, sides)}


def test_chart_and_filter_defects_in_lab(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    name = lab.write_notebook("chart_defects.ipynb", CELLS)
    open_notebook(lab, page, name)
    run_all(lab, page, name)
    box = page.locator(".rmx-explorer").first
    chart = box.locator(".rmx-sensitivity-chart")
    view = box.locator(".rmx-comparison-view")

    # 5. before a run: "no run yet", not "no rows match the filters"
    no_rows = view.locator('[data-testid="rmx-no-rows"]')
    assert no_rows.text_content() == (
        "No run yet: pick attributes and press Run to see the rewrites here."
    )
    # attributes=[]: one line naming what to do, no traceback
    out = page.locator(".jp-OutputArea-output").all_inner_texts()
    assert any(
        re.fullmatch(r"AttributeSpecError: Explorer\(attributes=\[\]\).*defaults\.\s*", o)
        for o in out
    ), out
    # zero comparisons: said at once, and Run says it again inside the widget
    empty = page.locator(".rmx-explorer").nth(1)
    assert "0 comparisons given" in empty.locator("div.widget-label").text_content()
    empty.locator("button.jupyter-button", has_text=re.compile(r"^\s*Run\s*$")).click()
    wait_for(
        lambda: (
            "No comparisons to explain"
            in empty.locator("div.rmx-error:not([data-testid])").text_content()
        ),
        20,
        "the zero-comparisons error",
        page,
    )

    # run; once every attribute has its bars, click clarity's *better* bar: PFR 0, width 0
    box.locator("button.jupyter-button", has_text=re.compile(r"^\s*Run\s*$")).click()
    wait_for(lambda: len(marks(chart, "bar")) == 6, RUN_TIMEOUT, "every measured bar", page)
    status = box.locator("div.widget-label")
    clicked_while = status.text_content()
    assert not clicked_while.startswith("done"), "the run ended before the click"
    zero = [b for b in marks(chart, "bar") if b["attribute"] == "clarity"]
    assert zero and all(b["preference flip rate"] == "0" for b in zero), zero
    click_bar(page, chart, "clarity", "better")
    # 3. a better bar is the rejected response's rewrites: Side = Rejected
    wait_for(lambda: filters(view) == ("clarity", "rejected", "all"), 20, "Side = Rejected", page)
    wait_for(lambda: shown_rows(view) == {("clarity", "rejected")}, 20, "its rows", page)

    # 4. a mid-run redraw keeps the selection (and the examples stay as filtered): the kernel
    # has the click now (the filters show it), so every chart drawn from here on is a redraw
    assert not status.text_content().startswith("done"), "the run ended before a redraw"
    chart.locator("svg.marks").first.evaluate("e => e.setAttribute('data-rmx-old', '1')")

    def redrawn_with_the_selection() -> bool:
        new = chart.locator("svg.marks:not([data-rmx-old])")
        return (
            new.count() > 0
            and lit(new, "clarity", "better")
            and opacity_of(new, "verbosity", "worse") == FADED  # the others fade
        )

    wait_for(redrawn_with_the_selection, RUN_TIMEOUT, "a redraw showing the selection", page)
    assert filters(view) == ("clarity", "rejected", "all")
    wait_for(lambda: status.text_content().startswith("done"), RUN_TIMEOUT, "the run", page)
    wait_for(lambda: opacity_of(chart, "clarity", "better") == "1", 20, "the selection", page)
    assert opacity_of(chart, "clarity", "worse") == FADED

    # 1. n and failed on every bar, "not measured", too few, and a legend for all the marks
    svg_text = chart.locator("svg.marks").first.text_content()
    for text in (
        "n=12 · 0 failed",  # clarity and verbosity each way
        "not measured · 12 failed",  # assertiveness: no bar
        "n=1 · 11 failed",  # coherence: one rewrite of twelve
        "not measured (24 failed)",
        "too few (n=2)",
        "whisker: 95% interval",
        "black tick: pooled PFR (both sides)",
        "too few: n < 10 (light bar)",
        "not measured: n = 0 (no bar)",
    ):
        assert text in svg_text, text
    bars = marks(chart, "bar")
    assert "assertiveness" not in {b["attribute"] for b in bars}  # no 0 bar in its place
    coherence = [b for b in bars if b["attribute"] == "coherence"]
    assert {b["reading"] for b in coherence} == {"too few"}
    assert all(b["n (successful rewrites)"] == "1 (too few)" for b in coherence)
    assert all(b["failed (rate)"] == "11/12 (0.92)" for b in coherence)
    assert chart.locator('path[aria-roledescription="point"]').count() == 4
    caption = chart.locator(".rmx-chart-caption").text_content()
    assert "Whiskers: the 95% interval" in caption and "grey tick" in caption

    # 4. the other way: a filter set in the view highlights the bar
    view.locator('[data-testid="rmx-filter-side"]').select_option("chosen")
    wait_for(lambda: opacity_of(chart, "clarity", "worse") == "1", 20, "the worse bar lit", page)
    assert opacity_of(chart, "clarity", "better") == FADED
    wait_for(lambda: shown_rows(view) == {("clarity", "chosen")}, 20, "its rows", page)

    # 2. a filter that matches nothing keeps the filter bar and a working Clear button
    view.locator('[data-testid="rmx-filter-attribute"]').select_option("assertiveness")
    wait_for(lambda: filters(view)[0] == "assertiveness", 20, "the attribute filter", page)
    view.locator('[data-testid="rmx-filter-outcome"]').select_option("CF")
    empty_state = view.locator('[data-testid="rmx-empty"]')
    wait_for(lambda: empty_state.count() == 1, 20, "the no-match state", page)
    assert empty_state.text_content().startswith("No rewrite rows match these filters.")
    assert filters(view) == ("assertiveness", "chosen", "CF")
    view.locator('[data-testid="rmx-clear-filters"]').click()
    wait_for(lambda: filters(view) == ("", "all", "all"), 20, "cleared filters", page)
    wait_for(lambda: len(shown_rows(view)) > 1, 20, "every row back", page)
    assert view.locator('[data-testid="rmx-position"]').text_content() == "1 / 12"
    assert view.locator('[data-testid="rmx-clear-filters"]').count() == 0
    wait_for(
        lambda: all(b["opacity"] != FADED for b in marks(chart, "bar")),
        20,
        "the chart selection cleared with the filters",
        page,
    )
    errors = [c for c in browser_page.console if c.startswith("pageerror")]
    assert not errors, errors
