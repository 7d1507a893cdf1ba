"""A click made while the chart redraws is kept (offline_bundle's patch of JupyterChart).

Altair's own redraw finalises the live view before it embeds the new spec, so a click in
between lands on a dead view: mid-run, with a redraw after every landed batch, a person's
click on a bar often did nothing (the "Side = Rejected" flake of test_chart_defects_in_lab).
Here the widget's script runs in Chromium on a stand-in model (the page has no kernel), the
spec changes, and a bar of the view still on screen is clicked in the same task, before the
new view can exist: deterministic, no timing. Altair's stock bundle loses that click (so the
test can fail); the patched one reports it before the new view's first report, which is the
order the kernel side (SensitivityChart._on_vl_selections) needs to redraw it onto the new
view.
"""

from __future__ import annotations

import json
from typing import Any

import altair as alt
import pandas as pd
import pytest
from altair.jupyter.jupyter_chart import load_js_src
from lab_harness import Browser, wait_for

from rmx_widgets.widgets import offline_bundle as ob

pytestmark = pytest.mark.browser

ORIGIN = "http://rmx-chart.test"
PAGE = """<!doctype html><html><body><div id="el" style="width: 480px"></div>
<script type="module">
import widget from "/chart.js";
const state = {
  spec: SPEC_A, embed_options: {actions: false, renderer: "svg"}, debounce_wait: 10,
  max_wait: true, _vl_selections: {pick: {value: null, store: []}}, _params: {},
  _js_watch_plan: null,
};
const listeners = {};
const sent = [];
const model = {
  get: (key) => state[key],
  set: (key, value) => { state[key] = value; },
  save_changes: () => sent.push(JSON.parse(JSON.stringify(state._vl_selections))),
  on: (event, callback) => { (listeners[event] ??= []).push(callback); },
};
window.rmx = {
  sent,
  change(spec) {
    state.spec = spec;
    for (const callback of listeners["change:spec"] ?? []) callback();
  },
};
await widget.render({model, el: document.getElementById("el")});
window.rmxReady = true;
</script></body></html>"""


def _spec(values: list[int], view: int) -> dict:
    """A clickable bar chart, numbered as the kernel numbers its draws (usermeta)."""
    pick = alt.selection_point(name="pick", fields=["k"])
    data = pd.DataFrame({"k": ["a", "b", "c"], "v": values})
    chart = alt.Chart(data).mark_bar().encode(x="v:Q", y="k:N").add_params(pick)
    return chart.properties(usermeta={ob.VIEW_KEY: view}).to_dict()


SPEC_A, SPEC_B = _spec([1, 2, 3], 1), _spec([3, 1, 2], 2)


def _open(page: Any, bundle: str) -> None:
    html = PAGE.replace("SPEC_A", json.dumps(SPEC_A))
    page.route(
        f"{ORIGIN}/chart.js", lambda r: r.fulfill(body=bundle, content_type="text/javascript")
    )
    page.route(f"{ORIGIN}/", lambda r: r.fulfill(body=html, content_type="text/html"))
    page.goto(f"{ORIGIN}/")
    wait_for(lambda: page.evaluate("window.rmxReady === true"), 30, "the chart script", page)
    wait_for(lambda: _bars(page) == 3, 30, "the first view's bars", page)


def _bars(page: Any) -> int:
    return page.locator('#el path[aria-roledescription="bar"]').count()


def _picked(report: dict) -> list:
    value = (report.get("pick") or {}).get("value") or {}
    return value.get("vlPoint", {}).get("or", []) if isinstance(value, dict) else []


CLICK_FIRST_BAR = """(spec) => {
  const bar = document.querySelector('#el path[aria-roledescription="bar"]');
  const box = bar.getBoundingClientRect();
  if (spec !== null) window.rmx.change(spec);  // the redraw starts: the old view is on screen
  const at = {bubbles: true, clientX: box.x + box.width / 2, clientY: box.y + box.height / 2};
  for (const type of ["pointerdown", "mousedown", "pointerup", "mouseup", "click"]) {
    bar.dispatchEvent(new (type.startsWith("pointer") ? PointerEvent : MouseEvent)(type, at));
  }
}"""


def _click_during_redraw(page: Any) -> list[dict]:
    """Click bar "a" as the spec changes; what the model was sent once the new view is up."""
    page.evaluate(CLICK_FIRST_BAR, SPEC_B)
    wait_for(
        lambda: (
            page.evaluate("document.querySelectorAll('#el svg').length") == 1
            and "v: 3"
            in (
                page.locator('#el path[aria-roledescription="bar"]').first.get_attribute(
                    "aria-label"
                )
                or ""
            )
        ),
        30,
        "the new view alone on screen",
        page,
    )
    page.wait_for_timeout(300)  # past the 10 ms debounce: anything still to come has come
    return page.evaluate("window.rmx.sent")


def test_a_click_while_the_chart_redraws_is_reported_before_the_new_view(
    browser_page: Browser,
) -> None:
    ob.enable_offline()
    page = browser_page.page
    _open(page, ob.KeptClickChart._esm)
    sent = _click_during_redraw(page)
    clicks = [i for i, report in enumerate(sent) if _picked(report) == [{"k": "a"}]]
    assert clicks, sent  # the click on the old view reached the model, saying it came from it
    assert (
        sent[clicks[-1]]["pick"][ob.VIEW_KEY] == 1
        and ob.INITIAL_KEY not in sent[clicks[-1]]["pick"]
    )
    # the new view's first report says it is one, and from which draw
    assert sent[-1]["pick"][ob.VIEW_KEY] == 2 and sent[-1]["pick"][ob.INITIAL_KEY] is True
    # ... before the new view's first report (built with no selection), so the kernel sees
    # that report as older than the click and redraws the click onto the new view
    assert _picked(sent[-1]) == [] and clicks[-1] < len(sent) - 1, sent
    assert _bars(page) == 3  # one view: the staged one replaced the old, nothing stacked
    # a click when no redraw is in flight is reported as usual
    page.evaluate(CLICK_FIRST_BAR, None)
    wait_for(lambda: _picked(page.evaluate("window.rmx.sent")[-1]) == [{"k": "a"}], 10, "a", page)
    assert ob.INITIAL_KEY not in page.evaluate("window.rmx.sent")[-1]["pick"]


def test_altairs_stock_redraw_loses_that_click(browser_page: Browser) -> None:
    """The same steps on Altair's own bundle: the click is lost (why the patch exists, and
    proof that the test above can fail)."""
    page = browser_page.page
    _open(page, ob.bundle(load_js_src()))
    page.evaluate(CLICK_FIRST_BAR, None)  # the synthetic click works on a live view
    wait_for(lambda: _picked(page.evaluate("window.rmx.sent")[-1]) == [{"k": "a"}], 10, "a", page)
    before = len(page.evaluate("window.rmx.sent"))
    sent = _click_during_redraw(page)[before:]
    assert not any(_picked(report) for report in sent), sent
