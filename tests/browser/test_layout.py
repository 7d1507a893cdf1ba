"""Issue 14's layout defects, measured in a real JupyterLab at 1,400 and 800 px wide.

One Explorer whose first comparison has a 21-turn prompt and a 300-character id with no space,
run over 60 attributes: the Run / Cancel / status row must wrap (no button reads "R…", the
status is whole), the chart is not clipped sideways and its 60 rows keep 11 px labels that do
not overlap (the tall chart scrolls in its box), the prompt starts collapsed under 600 px with
a "Show all 21 turns" toggle, the long id stays inside the view with the full id in a title,
and the picker has a search box. Each measurement is printed (run with -s to read them).
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

LONG_ID = "cmp-" + "x" * 296
SETUP = f"""
import rmx_widgets as rmx
from rmx_widgets.widgets import Explorer

TURNS = [
    {{"role": "user" if i % 2 == 0 else "assistant",
      "content": f"turn {{i + 1}}: " + "a few words of the conversation " * 3}}
    for i in range(21)
]
LONG_ID = {LONG_ID!r}
COMPS = [
    {{"id": LONG_ID, "prompt": TURNS, "response_a": "short answer",
      "response_b": "a much longer answer with many more details"}},
    {{"id": "c1", "prompt": "question", "response_a": "short one",
      "response_b": "a much longer answer once again"}},
]
ATTRS = [{{"name": f"attribute_{{i:02d}}", "definition": f"made-up attribute number {{i}}"}}
         for i in range(60)]

def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]  # prefers the short answer

def perturb(prompt, response, attribute, direction):
    i = int(attribute.name[-2:])
    return " ".join([response] * (2 + i % 3)) if direction == "worse" else response[: 4 + i % 7]

exp = Explorer(rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False), COMPS,
               null_perturber=None, redraw_every=0.0)
exp.run()
exp.wait()
exp.status.value += " (and a status line long enough to need the whole row at 800 px wide)"
exp
"""
WIDTHS = (1400, 800)

BOX = "e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom]; }"
FITS = "e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]"


def _fits(loc: Any) -> tuple[int, int, int, int]:
    return tuple(loc.evaluate(FITS))  # type: ignore[return-value]


def _box(loc: Any) -> tuple[float, float, float, float]:
    return tuple(loc.evaluate(BOX))  # type: ignore[return-value]


def _y_labels(chart: Any) -> list[dict[str, Any]]:
    """The chart's attribute labels: text, font size and box, top to bottom."""
    found = chart.locator("svg").first.evaluate(
        """svg => Array.from(svg.querySelectorAll('g.role-axis'))
            .filter(g => /y-axis/i.test(g.getAttribute('aria-label') || ''))
            .flatMap(g => Array.from(g.querySelectorAll('.role-axis-label text')))
            .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent, size: parseFloat(getComputedStyle(t).fontSize),
                        top: r.top, bottom: r.bottom}; })"""
    )
    return sorted(found, key=lambda t: t["top"])


def measure(page: Any, width: int) -> dict[str, Any]:
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(800)  # JupyterLab relayouts on resize
    box = page.locator(".rmx-explorer").first
    explorer = _box(box)
    row = box.locator(".rmx-controls")
    out: dict[str, Any] = {"width": width, "row": _fits(row), "explorer": explorer}
    out["buttons"] = {
        b.text_content().strip(): _fits(b) for b in row.locator("button.jupyter-button").all()
    }
    status = row.locator(".rmx-status")
    out["status"], out["status_box"] = _fits(status), _box(status)
    out["status_text"] = status.text_content()
    chart = box.locator(".rmx-sensitivity-chart .vega-embed").first
    out["chart"], out["chart_box"] = _fits(chart), _box(chart)
    out["svg_box"] = _box(chart.locator("svg").first)
    out["chart_overflow_x"] = chart.evaluate("e => getComputedStyle(e).overflowX")
    view = box.locator(".rmx-root.rmx-comparison-view").first
    out["view"], out["view_box"] = _fits(view), _box(view)
    out["chart_column"] = _box(box.locator(".rmx-explorer-split > .rmx-sensitivity-chart").first)
    out["detail_column"] = _box(box.locator(".rmx-explorer-split > .rmx-explorer-detail").first)
    # how much the chart is scaled to fit its column (drawn width / Vega's own width)
    out["chart_scale"] = chart.locator("svg").first.evaluate(
        "s => s.getBoundingClientRect().width / parseFloat(s.getAttribute('width'))"
    )
    head = view.locator(".rmx-header").first
    out["header"] = _fits(head)
    out["id_box"] = _box(view.locator('[data-testid="rmx-comparison-id"]'))
    out["prompt_height"] = (
        _box(view.locator('[data-testid="rmx-prompt"]'))[3]
        - _box(view.locator('[data-testid="rmx-prompt"]'))[2]
    )
    print(json.dumps(out))
    return out


def check(m: dict[str, Any]) -> None:
    w = m["width"]
    left, right = m["explorer"][0], m["explorer"][1]
    # 1. every button shows its whole label; the row and the status fit inside the Explorer
    assert {"Run", "Cancel"} <= set(m["buttons"]), m["buttons"]
    for label, (sw, cw, _, _) in m["buttons"].items():
        assert sw <= cw, f"{w}px: button {label!r} is truncated ({sw} > {cw})"
    assert m["row"][0] <= m["row"][1], f"{w}px: the control row overflows {m['row']}"
    sw, cw, sh, ch = m["status"]
    assert sw <= cw and sh <= ch + 1, f"{w}px: the status is cut {m['status']}"
    assert m["status_box"][1] <= right + 1, f"{w}px: the status runs out of the Explorer"
    assert m["status_text"].startswith("done")
    # the chart: inside the Explorer; wider than its box only if the box scrolls
    assert left - 1 <= m["chart_box"][0] and m["chart_box"][1] <= right + 1, m["chart_box"]
    if m["chart"][0] > m["chart"][1]:
        assert m["chart_overflow_x"] == "auto", f"{w}px: the chart is clipped {m['chart']}"
    # linked views: chart and detail side by side at 1,400 px, one above the other at 800 px;
    # the chart never wider than its column
    chart_col, detail_col = m["chart_column"], m["detail_column"]
    if w >= 1400:
        assert detail_col[0] >= chart_col[1] - 1, (chart_col, detail_col)
        assert abs(detail_col[2] - chart_col[2]) <= 1, (chart_col, detail_col)
    else:
        assert detail_col[2] >= chart_col[3] - 1, (chart_col, detail_col)
    assert m["chart_box"][1] <= chart_col[1] + 1, (m["chart_box"], chart_col)
    # 60 rows: the chart scrolls in a box under 760 px instead of a 2,400 px column
    assert m["chart_box"][3] - m["chart_box"][2] <= 760, m["chart_box"]
    # 3. the long id: no sideways overflow of the header or the view
    assert m["header"][0] <= m["header"][1], f"{w}px: the header overflows {m['header']}"
    assert m["view"][0] <= m["view"][1], f"{w}px: the view overflows {m['view']}"
    assert m["id_box"][1] <= m["view_box"][1] + 1, (m["id_box"], m["view_box"])
    # 2. the 21-turn prompt starts collapsed
    assert m["prompt_height"] < 600, f"{w}px: the collapsed prompt is {m['prompt_height']} px"


def test_layout_at_1400_and_800_px(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    name = lab.write_notebook("layout.ipynb", [SETUP])
    open_notebook(lab, page, name)
    run_all(lab, page, name)
    box = page.locator(".rmx-explorer").first
    wait_for(
        lambda: box.locator('[data-testid="rmx-prompt-toggle"]').count() == 1,
        60,
        "the comparison view",
        page,
    )
    chart = box.locator(".rmx-sensitivity-chart").first
    wait_for(lambda: len(_y_labels(chart)) == 60, 60, "60 attribute labels", page)
    for width in WIDTHS:
        check(measure(page, width))
        labels = _y_labels(chart)
        assert len(labels) == 60 and min(t["size"] for t in labels) >= 11, labels[:3]
        for above, below in itertools.pairwise(labels):
            assert below["top"] >= above["bottom"] - 0.5, f"{width}px: {above} overlaps {below}"

    view = box.locator(".rmx-root.rmx-comparison-view").first
    code = view.locator('[data-testid="rmx-comparison-id"] code')
    assert code.get_attribute("title") == LONG_ID
    # the toggle, as text: all 21 turns, then back to the last 4
    toggle = view.locator('[data-testid="rmx-prompt-toggle"]')
    assert toggle.text_content() == "Show all 21 turns"
    prompt = view.locator('[data-testid="rmx-prompt"]')
    assert prompt.locator(".rmx-turn").count() == 4
    toggle.click()
    wait_for(lambda: prompt.locator(".rmx-turn").count() == 21, 10, "all 21 turns", page)
    top, bottom = _box(prompt)[2:]
    print(json.dumps({"expanded_prompt_height": bottom - top}))
    assert bottom - top > 600
    assert view.locator('[data-testid="rmx-prompt-toggle"]').text_content() == (
        "Show only the last 4 turns"
    )
    view.locator('[data-testid="rmx-prompt-toggle"]').click()
    wait_for(lambda: prompt.locator(".rmx-turn").count() == 4, 10, "the last 4 turns", page)

    # 4. the picker's search box filters its 60 chips
    picker = box.locator(".rmx-root.rmx-attribute-picker").first
    assert picker.locator('[data-testid="rmx-chip"]').count() == 60
    picker.locator('[data-testid="rmx-attr-search"]').fill("attribute_5")
    wait_for(lambda: picker.locator('[data-testid="rmx-chip"]').count() == 10, 10, "10 chips", page)
    assert re.fullmatch(
        r"10 of 60 shown", picker.locator('[data-testid="rmx-attr-search-count"]').text_content()
    )
    assert browser_page.dialogs == []
