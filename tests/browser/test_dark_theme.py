"""Every widget follows the JupyterLab theme: in the light and the dark theme, every visible text
of every widget reads at a WCAG contrast of at least 4.5:1 against what is behind it, and the
charts are not white boxes on a dark page.

Why measured in the browser: the colours a reader sees come from JupyterLab's theme variables,
the widgets' stylesheet, inline styles and the Vega SVG's attributes together, which only the
rendered page resolves. Contrast is WCAG's (relative luminance of the computed colours); the
background of a text is the first non-transparent background among its ancestors (translucent
ones composited over what is under them), its colour is faded by the opacity of the element and
its ancestors, and a chart's SVG text is measured against the chart's background rectangle, or
the page behind the SVG when the chart has none.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from lab_harness import Browser, Lab, open_notebook, run_all, wait_for

pytestmark = pytest.mark.browser

MIN_CONTRAST = 4.5
THEMES_PLUGIN = "/lab/api/settings/@jupyterlab/apputils-extension:themes"
SETUP = """\
import rmx_widgets as rmx
from rmx_widgets.widgets import Annotator, Explorer, SensitivityChart
from rmx_widgets.core.study.run import evaluate
from rmx_widgets.core.reward_models.transparent import TransparentRewardModel as T

COMPS = [
    rmx.Comparison(id=f"c{i}", prompt=f"question {i}", response_a=f"short answer {i}",
                   response_b=f"a much longer answer number {i} with details",
                   human_preferred="b")
    for i in range(6)
]
ATTRS = ["verbosity", "clarity", "coherence", "assertiveness"]

def rm(prompts, responses):
    return [-len(r) / 10 for r in responses]

def perturb(prompt, response, attribute, direction):
    name = attribute.name
    if name == "assertiveness":
        return response  # unchanged: a failed rewrite
    if name == "clarity":
        return response + "."  # the preference never flips
    if name == "coherence":
        return response + " ok"
    return " ".join([response] * 4) if direction == "worse" else response[:8]

def explainer(**kw):
    return rmx.Explainer(rm, perturb, attributes=ATTRS, progress=False, **kw)

ex = explainer(store="runs/theme.sqlite")
result = ex.explain(COMPS)
w = {"pleasantries": 13.5, "follow_up": 4.5, "hedging": -1.5, "off_topic": -0.5, "length": 0.4}
study = evaluate(rmx.sample_comparisons(), {"planted": T(w, only=True)},
                 {"rules": rmx.RulePerturber()}, attributes=["manner", "engagement"],
                 progress=False, n_boot=100)
"""
# (name, cell source); each cell's output is one widget, measured on its own
WIDGETS = [
    ("Explorer (error)", "Explorer(explainer(), [])"),
    ("Explorer", "Explorer(explainer(), COMPS)"),
    ("ComparisonView", "rmx.ComparisonView(result)"),
    ("SensitivityChart", "SensitivityChart(result.table, n_boot=100)"),
    ("Annotator", "Annotator(result, store=ex.store, k=2, export_dir='runs/theme-export')"),
    ("StudyView", "rmx.StudyView(study)"),
]

# Runs in the page on one cell's output area; returns every visible text's contrast.
MEASURE = r"""(root) => {
  const parse = (c) => {
    const m = /rgba?\(([^)]*)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {  // top (with alpha) composited over an opaque colour
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const ch = c.slice(0, 3).map((v) => {
      const s = v / 255;
      return s <= 0.03928 ? s / 12.92 : Math.pow((s + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const ratio = (a, b) => {
    const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  let page = [255, 255, 255, 1];
  const svgBackground = (svg) => {  // Vega paints its background on the <svg> or a <rect>
    const rect = svg.querySelector(':scope > rect.background, :scope > g > rect.background');
    const c = rect ? parse(getComputedStyle(rect).fill) : null;
    return c && c[3] > 0 ? c : parse(getComputedStyle(svg).backgroundColor);
  };
  const backgroundOf = (el) => {  // the first opaque background up the tree, translucent
    const layers = [];             // ones on the way composited over it
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      let c = null;
      if (n instanceof SVGSVGElement) c = svgBackground(n);
      else if (!(n instanceof SVGElement)) c = parse(getComputedStyle(n).backgroundColor);
      if (c && c[3] > 0) {
        layers.push(c);
        if (c[3] >= 1) break;
      }
    }
    let bg = page;
    for (const c of layers.reverse()) bg = c[3] >= 1 ? c : over(c, bg);
    return bg;
  };
  page = backgroundOf(root.closest('.jp-Notebook') || document.body);
  const opacityOf = (el) => {
    let o = 1;
    for (let n = el; n && n !== root.parentElement; n = n.parentElement) {
      const s = getComputedStyle(n);
      o *= Number(s.opacity);
      if (n instanceof SVGElement && n.tagName === 'text') o *= Number(s.fillOpacity);
    }
    return o;
  };
  const isText = (el) => {
    if (el.matches('input[type="text"], textarea, select')) return true;
    if (el instanceof SVGElement) return el.tagName === 'text' && el.textContent.trim() !== '';
    return [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim() !== '');
  };
  const out = [];
  const svgBackgrounds = [];
  for (const svg of root.querySelectorAll('svg.marks')) {
    const c = svgBackground(svg);
    svgBackgrounds.push(c && c[3] > 0 ? 'rgb(' + c.slice(0, 3) + ')' : 'none');
  }
  for (const el of root.querySelectorAll('*')) {
    if (!isText(el) || el.closest(':disabled, [aria-hidden="true"], style, script')) continue;
    if (!el.checkVisibility({ visibilityProperty: true }) || !el.getClientRects().length) continue;
    const s = getComputedStyle(el);
    const fg = parse(el instanceof SVGElement ? s.fill : s.color);
    if (!fg) continue;  // fill="none" or a gradient: not text a person reads
    const bg = backgroundOf(el);
    const faded = [fg[0], fg[1], fg[2], fg[3] * opacityOf(el)];
    const r = ratio(over(faded, bg), bg);
    const text = (el.value || el.textContent || '').trim().slice(0, 40);
    const cls = typeof el.className === 'string' ? el.className : el.getAttribute('class');
    out.push({ r, text, tag: el.tagName.toLowerCase(), cls: cls || '', fg: s.color,
               fill: el instanceof SVGElement ? s.fill : '', bg: 'rgb(' + bg.slice(0, 3) + ')' });
  }
  return { items: out, svgBackgrounds, page: 'rgb(' + page.slice(0, 3) + ')' };
}"""


def set_theme(lab: Lab, page: Any, theme: str) -> None:
    """With a page: Settings > Theme > ``theme``, as a person picks it (the open page applies
    it at once, and JupyterLab saves it). Without: write the setting through the REST API, for
    the pages opened later."""
    if page is None:
        r = lab.api("PUT", THEMES_PLUGIN, json={"raw": f'{{"theme": "{theme}"}}'})
        assert r.status_code in (200, 204), r.text
        return
    if page.evaluate("document.body.dataset.jpThemeName") != theme:
        menu = ".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel"
        page.locator(
            "#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile("^Settings$")
        ).click()
        page.locator(menu, has_text=re.compile("^Theme$")).first.hover()
        page.locator(menu, has_text=re.compile(f"^{re.escape(theme)}$")).first.click()
    wait_for(
        lambda: page.evaluate("document.body.dataset.jpThemeName") == theme,
        60,
        f"JupyterLab to switch to {theme}",
        page,
    )
    page.wait_for_timeout(1500)  # the theme's stylesheet lands after the attribute


def measure(page: Any) -> dict[str, dict[str, Any]]:
    """Per widget: its minimum contrast, the texts under the threshold, the charts' backgrounds."""
    outputs = page.locator(".jp-NotebookPanel:visible .jp-CodeCell")
    found = {}
    for i, (name, _src) in enumerate(WIDGETS, start=1):
        seen = outputs.nth(i).locator(".jp-OutputArea-output").last.evaluate(MEASURE)
        items = seen["items"]
        assert items, f"{name}: no visible text measured"
        low = sorted((x for x in items if x["r"] < MIN_CONTRAST), key=lambda x: x["r"])
        found[name] = {
            "min": min(x["r"] for x in items),
            "n": len(items),
            "low": low[:8],
            "svg": seen["svgBackgrounds"],
            "page": seen["page"],
            "texts": {str(x["text"]).strip() for x in items},
        }
    return found


def report(theme: str, found: dict[str, dict[str, Any]]) -> str:
    lines = [f"{theme}:"]
    for name, f in found.items():
        lines.append(f"  {name}: min {f['min']:.2f}:1 over {f['n']} texts; charts {f['svg']}")
        lines += [
            f"    {x['r']:.2f} {x['tag']}.{x['cls'][:40]} {x['text']!r} fg {x['fill'] or x['fg']}"
            f" on {x['bg']}"
            for x in f["low"]
        ]
    return "\n".join(lines)


def _luminance(rgb: str) -> float:
    parts = [float(p) for p in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3]]
    ch = [v / 255 for v in parts]
    ch = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in ch]
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2]


def test_contrast_ratio_of_known_colours() -> None:
    """The luminance the test's page check uses, against WCAG's published figures: black on
    white is 21:1, #777 on white 4.48:1 (just under 4.5), white is luminance 1."""
    black = _luminance("rgb(0, 0, 0)")
    assert black == 0.0
    assert 1.05 / (black + 0.05) == pytest.approx(21.0)
    grey = _luminance("rgb(119, 119, 119)")
    assert 1.05 / (grey + 0.05) == pytest.approx(4.48, abs=0.01)
    assert _luminance("rgb(255, 255, 255)") == pytest.approx(1.0)


def test_every_widget_text_reads_in_light_and_dark_theme(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    name = lab.write_notebook("theme.ipynb", [SETUP, *(src for _n, src in WIDGETS)])
    set_theme(lab, None, "JupyterLab Light")
    try:
        open_notebook(lab, page, name)
        run_all(lab, page, name, timeout=180)
        wait_for(
            lambda: (
                page.locator(".rmx-sensitivity-chart svg.marks").count() >= 1 + len(study_rms())
            ),
            60,
            "the charts to render",
            page,
        )
        wait_for(
            lambda: page.locator('.rmx-annotator [data-testid="rmx-ann-row"]').count() > 0,
            30,
            "the Annotator's rewrites",
            page,
        )
        # the Explorer without comparisons says so, in its error line, once Run is pressed
        errored = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(1)
        errored.locator("button.jupyter-button", has_text=re.compile(r"^\s*Run\s*$")).click()
        errored.locator("div.rmx-error", has_text="No comparisons").wait_for()
        results = {}
        for theme in ("JupyterLab Light", "JupyterLab Dark"):
            set_theme(lab, page, theme)
            results[theme] = measure(page)
        text = "\n".join(report(t, f) for t, f in results.items())
        print(text)
        dark_page = results["JupyterLab Dark"]["Explorer"]["page"]
        assert _luminance(dark_page) < 0.05, f"the dark theme's page is {dark_page}"
        for found in results.values():
            for f in found.values():
                # a chart draws no background (the page shows through) or one of the page's
                assert all(bg in ("none", f["page"]) for bg in f["svg"]), text
        for found in results.values():  # StudyView's tab labels are among the texts measured
            assert {"Paper tables", "Quality", "Examples"} <= found["StudyView"]["texts"], text
        failing = [(t, n) for t, found in results.items() for n, f in found.items() if f["low"]]
        assert not failing, f"texts under {MIN_CONTRAST}:1 in {failing}\n{text}"
    finally:
        set_theme(lab, None, "JupyterLab Light")  # the lab is shared with the other tests


def study_rms() -> list[str]:
    return ["planted"]
