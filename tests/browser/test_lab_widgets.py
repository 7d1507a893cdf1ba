"""The widgets as a person sees them in JupyterLab: run, watch, click, annotate, restart.

Each test drives a real JupyterLab (see conftest.py) through Chromium and asserts on what is
rendered: chips, progress text, chart marks (Vega SVG with ARIA labels), rewrite cards, the
annotation form, and — for untrusted model text — that markup stays text.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from lab_harness import (
    NOTEBOOK7_OWN_ERRORS,
    UIS,
    Browser,
    Lab,
    open_notebook,
    restart_and_run_all,
    run_all,
    screenshot_dir,
    shoot,
    wait_for,
)

import rmx_widgets as rmx

QUICKSTART = "01_quickstart.ipynb"
# screenshots refresh docs/images only when asked (make screenshots); otherwise a temp folder,
# so a test run never dirties the checkout
RUN_TIMEOUT = 90.0  # seconds for the Explorer's background run (about 2 s here)

pytestmark = pytest.mark.browser


# -- helpers ---------------------------------------------------------------------------------
def explorer(page: Any) -> Any:
    box = page.locator(".rmx-explorer")
    box.wait_for()
    return box


def run_button(box: Any) -> Any:
    return box.locator("button.jupyter-button", has_text=re.compile(r"^\s*Run\s*$"))


def status_label(box: Any) -> Any:
    label = box.locator("div.widget-label")  # the ipywidgets Label next to the progress bar
    assert label.count() == 1, "the Explorer should show exactly one status line"
    return label


def chart_svg(chart: Any) -> Any:
    """The Vega view as SVG; a canvas has no marks to read (or to check for a person)."""
    wait_for(
        lambda: chart.locator("svg.marks, canvas").count() > 0,
        30,
        "the sensitivity chart to render (is the Vega bundle reachable offline?)",
    )
    assert chart.locator("canvas").count() == 0, (
        "the sensitivity chart renders to <canvas>: pass embed_options={'renderer': 'svg'} "
        "to alt.JupyterChart so its marks are in the DOM (accessible and testable)"
    )
    return chart.locator("svg.marks").first


def bars(chart: Any) -> list[dict[str, str]]:
    """One dict per bar mark, parsed from Vega's ARIA label ('field: value; …')."""
    labels = chart.locator('path[aria-roledescription="bar"]').evaluate_all(
        "els => els.map((e) => e.getAttribute('aria-label') || '')"
    )
    return [
        dict(part.split(": ", 1) for part in label.split("; ") if ": " in part) for label in labels
    ]


def row_attributes(view: Any) -> list[str]:
    return [
        t.strip()
        for t in view.locator('[data-testid="rmx-row"] .rmx-attribute').all_text_contents()
    ]


def install_run_observer(page: Any, box: Any) -> None:
    """Record, in the page, every status text, every progress-bar width, and how many bars the
    chart had each time it changed before the status said "done" (recorded as the DOM changes,
    so even a fast run's intermediate states are seen)."""
    box.evaluate("""(root) => {
        const status = root.querySelector('div.widget-label');
        const chart = root.querySelector('.rmx-sensitivity-chart');
        const bar = root.querySelector('.progress-bar');
        const log = { status: [], widths: [], barsBeforeDone: [], done: false };
        window.__rmxRun = log;
        new MutationObserver(() => {
            const text = status.textContent || '';
            log.status.push(text);
            if (/^(done|cancelled)/.test(text)) log.done = true;
        }).observe(status, { childList: true, characterData: true, subtree: true });
        new MutationObserver(() => {
            if (!log.done) log.barsBeforeDone.push(
                chart.querySelectorAll('path[aria-roledescription="bar"]').length);
        }).observe(chart, { childList: true, subtree: true });
        if (bar) new MutationObserver(() => log.widths.push(bar.style.width))
            .observe(bar, { attributes: true, attributeFilter: ['style'] });
    }""")


def run_explorer(page: Any, box: Any) -> dict[str, Any]:
    """Click Run, wait for "done", and return what the page saw while it ran."""
    install_run_observer(page, box)
    run_button(box).click()
    status = status_label(box)
    wait_for(
        lambda: status.text_content().startswith("done"),
        RUN_TIMEOUT,
        "the Explorer run to finish",
        page,
    )
    return page.evaluate("window.__rmxRun")


def click_widest_bar(page: Any, chart: Any) -> str:
    """Click the longest bar (a zero-width bar cannot be clicked) and return its attribute."""
    marks = chart.locator('path[aria-roledescription="bar"]')
    widths = marks.evaluate_all("els => els.map((e) => e.getBoundingClientRect().width)")
    i = max(range(len(widths)), key=widths.__getitem__)
    attribute = bars(chart)[i]["attribute"]
    marks.nth(i).click()
    return attribute


def wait_for_filter(page: Any, view: Any, attribute: str) -> list[str]:
    def filtered() -> list[str] | None:
        names = row_attributes(view)
        selected = view.locator('[data-testid="rmx-filter-attribute"]').input_value()
        return names if names and selected == attribute and set(names) == {attribute} else None

    return wait_for(filtered, 30, f"the ComparisonView to show only {attribute!r} rows", page)


def no_page_errors(browser: Browser, ui: str = "lab") -> None:
    known = NOTEBOOK7_OWN_ERRORS if ui == "notebook" else ()
    errors = [
        c
        for c in browser.console
        if c.startswith("pageerror") and not any(k.match(c) for k in known)
    ]
    assert not errors, "the page raised:\n" + "\n".join(errors)
    assert not browser.dialogs, f"unexpected dialogs: {browser.dialogs}"


def quickstart_in(lab: Lab, ui: str) -> str:
    """The quickstart notebook for ``ui``: the tutorial itself in JupyterLab; in Notebook 7 a
    copy on its own store, so what the JupyterLab tests saved (annotations) is not there."""
    if ui == "lab":
        return QUICKSTART
    text = (lab.root / QUICKSTART).read_text()
    assert "runs/quickstart.sqlite" in text, "the quickstart's store path moved"
    name = f"{ui}_{QUICKSTART}"
    (lab.root / name).write_text(text.replace("runs/quickstart.sqlite", f"runs/{ui}.sqlite"))
    return name


# -- 1. the quickstart Explorer ----------------------------------------------------------------
@pytest.mark.parametrize("ui", UIS)
def test_quickstart_explorer_run_chart_and_click_filter(
    lab: Lab, browser_page: Browser, ui: str
) -> None:
    page = browser_page.page
    name = quickstart_in(lab, ui)
    open_notebook(lab, page, name, ui)
    run_all(lab, page, name)
    box = explorer(page)

    supported = list(rmx.RulePerturber().supported_attributes)
    chips = box.locator('[data-testid="rmx-chip"]')
    assert chips.count() == len(supported)
    assert chips.evaluate_all("els => els.map((e) => e.dataset.name)") == supported
    assert set(chips.evaluate_all("els => els.map((e) => e.getAttribute('aria-pressed'))")) == {
        "true"
    }
    assert all(chips.nth(i).is_visible() for i in range(chips.count()))

    chart = box.locator(".rmx-sensitivity-chart")
    assert "press Run" in chart_svg(chart).text_content()  # the waiting chart, before any run
    seen = run_explorer(page, box)

    progress = [m for m in (re.match(r"^(\d+)/(\d+) rewrites", s) for s in seen["status"]) if m]
    assert progress, f"no 'N/total rewrites' progress text was shown: {seen['status']}"
    total = int(progress[0].group(2))
    assert total == 52 * 2 * len(supported), total
    partial = sorted({int(m.group(1)) for m in progress if int(m.group(1)) < total})
    assert partial, f"the status never showed an intermediate count: {seen['status']}"
    assert any(seen["barsBeforeDone"]), "the chart drew no bars before the run was done"
    assert any(w not in ("", "0%", "100%") for w in seen["widths"]), seen["widths"]
    assert status_label(box).text_content().startswith(f"done: {total} rewrites")

    svg = chart_svg(chart)
    groups = Counter(b["attribute"] for b in bars(chart))
    assert set(groups) == set(supported), groups
    assert all(n == 2 for n in groups.values()), groups  # worse and better bar per attribute
    assert "press Run" not in svg.text_content()

    # under the chart, the per-attribute summary: the cells core.readability makes, as text
    summary = box.locator(".rmx-sensitivity-summary")
    rows = summary.locator('[data-testid="rmx-summary-row"]')
    wait_for(lambda: rows.count() == len(supported), 30, "the summary rows")
    cells = rows.first.locator("td").all_text_contents()
    # n, failed, CF, SF, PFR [interval], null PFR (or "no null run"), excess, p (Holm),
    # significance, length-controlled PFR (core.summary_table)
    assert len(cells) == 10 and re.match(r"^\d+ \(|^\d+$", cells[0]), cells
    n = int(cells[0].split()[0])
    assert int(cells[2]) + int(cells[3]) == n, cells  # CF + SF = n
    assert cells[5] == "no null run" or "(n=" in cells[5], cells
    assert re.match(r"^(\d\.\d\d|not measured) \(n=\d+\)$", cells[9]), cells
    assert {r.get_attribute("data-reading") for r in rows.all()} <= {"ok", "too few"}
    assert "Holm" in summary.locator('[data-testid="rmx-summary-legend"]').text_content()

    view = box.locator(".rmx-comparison-view")
    assert len(set(row_attributes(view))) > 1  # unfiltered: several attributes on the page
    attribute = click_widest_bar(page, chart)
    names = wait_for_filter(page, view, attribute)
    assert all(n == attribute for n in names)
    assert view.locator('[data-testid="rmx-row"] .rmx-attribute').first.is_visible()

    # the metric switch: the failure-rate axis states its definition; the filter stays
    metric = box.locator(".rmx-metric-picker select")
    metric.select_option(label="failure rate")
    wait_for(
        lambda: "failure rate = failed / attempted rewrites" in chart_svg(chart).text_content(),
        30,
        "the failure-rate chart",
    )
    assert set(row_attributes(view)) == {attribute}
    metric.select_option(label="PFR")
    wait_for(lambda: "preference flip rate" in chart_svg(chart).text_content(), 30, "the PFR chart")
    no_page_errors(browser_page, ui)


# -- 2. annotations survive a kernel restart ---------------------------------------------------
@pytest.mark.parametrize("ui", UIS)
def test_annotator_saves_and_restores_after_kernel_restart(
    lab: Lab, browser_page: Browser, ui: str
) -> None:
    page = browser_page.page
    name = quickstart_in(lab, ui)
    open_notebook(lab, page, name, ui)
    run_all(lab, page, name)
    ann = page.locator(".rmx-annotator")
    ann.wait_for()
    example_id = ann.locator('[data-testid="rmx-ann-example"] .rmx-id').first.text_content()
    tag = ann.locator('[data-testid="rmx-ann-tag"][data-tag="surprising"]')
    assert tag.get_attribute("aria-pressed") == "false"
    tag.click()
    assert tag.get_attribute("aria-pressed") == "true"
    note = "verbosity flips this one — unexpected <b>?</b>"
    ann.locator('[data-testid="rmx-ann-note"]').fill(note)
    ann.locator('[data-testid="rmx-ann-save"]').click()
    status = ann.locator('[data-testid="rmx-ann-status"]')
    wait_for(
        lambda: status.text_content().startswith(f"saved {example_id}"),
        30,
        "the Annotator to report the save",
        page,
    )
    assert note in ann.locator('[data-testid="rmx-ann-saved"]').text_content()

    restart_and_run_all(lab, page, name)
    ann = page.locator(".rmx-annotator")
    ann.wait_for()
    assert ann.locator('[data-testid="rmx-ann-example"] .rmx-id').first.text_content() == example_id
    assert ann.locator('[data-testid="rmx-ann-status"]').text_content() == ""  # a new widget
    tag = ann.locator('[data-testid="rmx-ann-tag"][data-tag="surprising"]')
    assert tag.get_attribute("aria-pressed") == "true"
    others = ann.locator('[data-testid="rmx-ann-tag"]:not([data-tag="surprising"])')
    assert set(others.evaluate_all("els => els.map((e) => e.getAttribute('aria-pressed'))")) == {
        "false"
    }
    assert ann.locator('[data-testid="rmx-ann-note"]').input_value() == note
    saved = ann.locator('[data-testid="rmx-ann-saved"]')
    assert note in saved.text_content() and "surprising" in saved.text_content()
    no_page_errors(browser_page, ui)


# -- 3. model text is never markup -------------------------------------------------------------
IMG = '<img src=x onerror="window.__pwned=1">'
SCRIPT = "<script>window.__pwned=1</script>"
LINK = "[click](javascript:window.__pwned=1)"
MARKUP = "<b>bold</b> **md**"
ALERT = '<img src=y onerror="alert(document.domain)">'
HOSTILE = (IMG, SCRIPT, LINK, MARKUP)

HOSTILE_SETUP = f"""\
import rmx_widgets as rmx
from rmx_widgets.widgets import Annotator, AttributePicker, ComparisonView

IMG, SCRIPT, LINK, MARKUP, ALERT = {IMG!r}, {SCRIPT!r}, {LINK!r}, {MARKUP!r}, {ALERT!r}
comparisons = [
    rmx.Comparison(
        id=f"hostile-{{i}}",
        prompt=[{{"role": "system", "content": f"Be safe {{ALERT}}"}},
                {{"role": "user", "content": f"Question {{i}} {{SCRIPT}}"}}],
        response_a=f"Answer {{i}} with {{IMG}} and {{MARKUP}} " + "x" * i,
        response_b=f"Longer answer {{i}} with {{SCRIPT}} and {{LINK}} " + "y" * (3 * i + 20))
    for i in range(4)]
ATTRS = ["verbosity", "clarity", "engagement",
         rmx.Attribute("hostile-attr", f"Definition with {{IMG}} {{SCRIPT}} {{LINK}} {{MARKUP}}")]
NAMES = [a if isinstance(a, str) else a.name for a in ATTRS]


def rm(prompts, responses):
    return [-float(len(r)) for r in responses]  # shorter is better


def perturb(prompt, response, attribute, direction):
    k = NAMES.index(attribute.name) + 1  # attribute-dependent, so local rankings differ
    if direction == "worse":
        return response + (" " + SCRIPT) * k + " " + IMG
    return LINK + " " + MARKUP + " " + response[: max(1, len(response) // (k + 1))]


explainer = rmx.Explainer(rm, perturb, attributes=ATTRS, store="runs/hostile.sqlite",
                          progress=False)
result = explainer.explain(comparisons)
"""


@pytest.mark.parametrize("ui", UIS)
def test_hostile_model_text_stays_text(lab: Lab, browser_page: Browser, ui: str) -> None:
    page = browser_page.page
    name = lab.write_notebook(
        f"hostile_{ui}.ipynb",
        [
            HOSTILE_SETUP,
            "ComparisonView(result)",
            "Annotator(result, store=explainer.store, k=3)",
            "AttributePicker(ATTRS)",
        ],
    )
    open_notebook(lab, page, name, ui)
    run_all(lab, page, name)
    view = page.locator(".rmx-comparison-view")
    ann = page.locator(".rmx-annotator")
    picker = page.locator(".rmx-attribute-picker")
    for w in (view, ann, picker):
        w.wait_for()
    picker.locator('[data-testid="rmx-chip-info"][data-name="hostile-attr"]').click()
    picker.locator('[data-testid="rmx-definition"]').wait_for()
    wait_for(
        lambda: view.locator('[data-testid="rmx-row"]').count() > 0,
        30,
        "the ComparisonView rows",
        page,
    )
    assert ann.locator('[data-testid="rmx-ann-row"]').count() > 0

    places = {
        "ComparisonView responses": view.locator(
            '[data-testid="rmx-response-a"], [data-testid="rmx-response-b"]'
        ),
        "ComparisonView rewrites": view.locator('[data-testid="rmx-row"]'),
        "Annotator example": ann.locator('[data-testid="rmx-ann-example"]'),
        "AttributePicker definition": picker.locator('[data-testid="rmx-definition"]'),
    }
    for where, loc in places.items():
        text = "\n".join(loc.all_text_contents())
        for s in HOSTILE:
            assert s in text, f"{where} does not show {s!r} literally: {text[:500]!r}"
        assert loc.first.is_visible(), where
    prompt = view.locator('[data-testid="rmx-prompt"]').text_content()
    assert ALERT in prompt and SCRIPT in prompt
    title = picker.locator('[data-testid="rmx-chip"][data-name="hostile-attr"]').get_attribute(
        "title"
    )
    assert IMG in title and SCRIPT in title

    injected = page.evaluate("""() => [...document.querySelectorAll('.rmx-root')].flatMap(
        (r) => [...r.querySelectorAll('img, script, iframe, object, embed, b, a[href],'
                                      + ' [onerror], [onclick], [src]')]
        ).map((e) => e.outerHTML)""")
    assert injected == [], f"model text became markup: {injected}"
    assert view.locator("ins.rmx-ins").count() > 0 and view.locator("del.rmx-del").count() > 0
    page.wait_for_timeout(300)  # let any queued event handler (onerror, alert) run
    assert page.evaluate("window.__pwned") is None
    no_page_errors(browser_page, ui)


# -- 4. screenshots for the README ---------------------------------------------------------------
RM_COMPARE_SETUP = """\
import rmx_widgets as rmx
from rmx_widgets.widgets import RMCompare

comparisons = rmx.sample_comparisons()
perturber = rmx.RulePerturber()
attributes = ["verbosity", "avoid-to-answer", "assertiveness", "manner", "engagement"]
results = [
    rmx.Explainer(rm, perturber, attributes=attributes, store="runs/rm_compare.sqlite",
                  progress=False).explain(comparisons)
    for rm in (rmx.TransparentRewardModel(),
               rmx.TransparentRewardModel({"length": 2.0, "refusal": -0.5, "hedging": 0.2}))]
"""


def test_screenshots_for_the_readme(lab: Lab, browser_page: Browser, tmp_path) -> None:
    IMAGES = screenshot_dir(tmp_path)
    tall = {"width": 1280, "height": 3200}  # tall widgets fit unclipped (the Explorer: ~2,800 px)
    page = browser_page.new_page(tall)
    open_notebook(lab, page, QUICKSTART)
    run_all(lab, page, QUICKSTART)
    box = explorer(page)
    run_explorer(page, box)
    chart = box.locator(".rmx-sensitivity-chart")
    chart_svg(chart)
    view = box.locator(".rmx-comparison-view")
    attribute = click_widest_bar(page, chart)
    wait_for_filter(page, view, attribute)
    page.mouse.move(0, 0)  # no tooltip in the picture
    shoot(box, IMAGES / "explorer.png")
    # a small rewrite shows the word diff best: pick it with the view's own filter
    view.locator('[data-testid="rmx-filter-attribute"]').select_option("assertiveness")
    wait_for_filter(page, view, "assertiveness")
    wait_for(lambda: view.locator("ins.rmx-ins").count() > 0, 30, "a word diff on screen", page)
    assert view.locator("ins.rmx-ins").first.is_visible()
    shoot(view, IMAGES / "comparison_view.png")

    name = lab.write_notebook(
        "rm_compare.ipynb",
        [
            RM_COMPARE_SETUP,
            'RMCompare(*results, names=("default weights", "length-loving"))',
        ],
    )
    page = browser_page.new_page(tall)
    open_notebook(lab, page, name)
    run_all(lab, page, name)
    compare = page.locator(".rmx-rm-compare")
    compare.wait_for()
    compare_chart = compare.locator(".rmx-sensitivity-chart")
    chart_svg(compare_chart)
    models = {b.get("reward model") for b in bars(compare_chart)}
    assert models == {"default weights", "length-loving"}, models
    compare_view = compare.locator(".rmx-comparison-view")
    wait_for(
        lambda: compare_view.locator('[data-testid="rmx-row"]').count() > 0,
        30,
        "the RMCompare rewrites",
        page,
    )
    wait_for_filter(page, compare_view, click_widest_bar(page, compare_chart))
    page.mouse.move(0, 0)
    shoot(compare, IMAGES / "rm_compare.png")
    no_page_errors(browser_page)
