"""The offline HTML report in a real browser: model text stays text, and the chart renders.

``tests/core/test_report.py`` checks the escaping by parsing the HTML in Python; this test opens the
written file in the harness's Debian Chromium (file://, name resolution off, so nothing can be
fetched) and checks what a reader would actually get: no hostile string ran (no dialog, no
``window.__pwned``, no <img>/javascript: link made from model text), every hostile string is
shown literally, and the Vega chart drew itself from the inline bundle.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab_harness import Browser, close_browser, launch_browser
from summary_cells import HEADERS

from rmx_widgets.core.report import CHART_ID, write_report

pytestmark = pytest.mark.browser

SCRIPT_TAG = "<script>window.__pwned=1</script>"
IMG_ONERROR = '<img src=x onerror="window.__pwned=1">'
MD_LINK = "[x](javascript:window.__pwned=1)"
CLOSE_SCRIPT = "</script><script>window.__pwned=1</script>"
COMMENT = "<!--"
ALERT = "<script>alert('pwned')</script>"
HOSTILE = [SCRIPT_TAG, IMG_ONERROR, MD_LINK, CLOSE_SCRIPT, COMMENT, ALERT]


@dataclass
class _ReportHost:
    """What :func:`lab_harness.launch_browser` reads from its Lab: the process marker (so
    teardown kills this Chromium by PID) and a root whose sibling ``home`` becomes $HOME. A
    file:// report needs no JupyterLab, so this stands in for one; the launch itself (Debian
    Chromium, the same flags, no network) is the harness's."""

    marker: str
    root: Path


def hostile_table() -> Any:
    """Hostile strings in every place model text reaches: prompts, both originals, the
    perturbations, a failure reason and an attribute name (which also goes into the chart)."""
    import table_factory as tf

    afters = {
        "verbosity": (-1.0, 0.5),
        "correctness": (0.5, -0.2),
        "clarity": (0.3, 0.9),
        CLOSE_SCRIPT: (-0.4, 0.8),
    }
    rows = []
    for i in range(4):
        rows += tf.comparison(
            f"c{i}",
            1.0 + i,
            afters,
            prompt=f"Prompt {i}: {SCRIPT_TAG} then {COMMENT} and {MD_LINK}",
            original=f"Answer {i}: {IMG_ONERROR}",
        )
    table = tf.table(rows)
    ok = table["outcome"] != "failed"
    table.loc[ok, "perturbed"] = [
        f"Rewrite {k}: {CLOSE_SCRIPT} {MD_LINK} {IMG_ONERROR}" for k in range(int(ok.sum()))
    ]
    table.loc[3, ["outcome", "perturbed", "margin_after", "reward_perturbed"]] = [
        "failed",
        None,
        float("nan"),
        float("nan"),
    ]
    table.loc[3, "failure_reason"] = f"bad output {ALERT}"
    return table


@pytest.fixture
def report_page(tmp_path: Path, playwright_driver: Any) -> Iterator[tuple[Browser, list[str]]]:
    """The report opened from file:// in a fresh offline Chromium, plus every URL it asked for
    that is not the file itself."""
    path = write_report(
        hostile_table(),
        tmp_path / "report.html",
        title=f"Report {SCRIPT_TAG}",
        k=4,
        summary={"dataset": IMG_ONERROR},
    )
    host = _ReportHost(marker=f"rmx-report-{uuid.uuid4().hex[:8]}", root=tmp_path / "root")
    session = launch_browser(playwright_driver, host)
    requests: list[str] = []
    try:
        session.page.on(
            "request",
            lambda r: requests.append(r.url) if not r.url.startswith(path.as_uri()) else None,
        )
        session.page.goto(path.as_uri(), wait_until="load")
        yield session, requests
    finally:
        close_browser(session.browser, session.marker)


def test_hostile_model_text_is_shown_never_run(report_page: tuple[Browser, list[str]]) -> None:
    session, requests = report_page
    page = session.page
    # Inline scripts ran during parsing and a broken <img> fired onerror before "load".
    assert session.dialogs == [], f"model text opened a dialog: {session.dialogs}"
    assert page.evaluate("typeof window.__pwned") == "undefined"
    # Let the chart (the only script that runs after load) finish before judging the rest.
    page.locator(f"#{CHART_ID} svg, #{CHART_ID} canvas").first.wait_for(timeout=30_000)
    assert session.dialogs == [] and page.evaluate("typeof window.__pwned") == "undefined"
    errors = [line for line in session.console if line.startswith(("pageerror", "error"))]
    assert errors == [], errors

    text = page.evaluate("document.body.innerText")
    for s in HOSTILE:
        assert s in text, f"{s!r} is not shown literally"
    assert f"Answer 0: {IMG_ONERROR}" in text
    assert f"Rewrite 0: {CLOSE_SCRIPT} {MD_LINK} {IMG_ONERROR}" in text
    assert f"bad output {ALERT}" in text
    assert page.title() == f"Report {SCRIPT_TAG}"

    counts = page.evaluate("""() => ({
        img: document.querySelectorAll('img').length,
        jsLinks: document.querySelectorAll('a[href^="javascript" i]').length,
        handlers: [...document.querySelectorAll('*')].filter(
            e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
        scripts: document.querySelectorAll('script').length,
        comments: document.createNodeIterator(document, NodeFilter.SHOW_COMMENT).nextNode()
            === null ? 0 : 1,
    })""")
    # The report's own scripts: the inline Vega bundle, the JSON spec and the embed call.
    assert counts == {"img": 0, "jsLinks": 0, "handlers": 0, "scripts": 3, "comments": 0}
    assert requests == [], f"the report tried to load {requests}"


def test_chart_renders_offline_from_the_inline_bundle(
    report_page: tuple[Browser, list[str]],
) -> None:
    session, requests = report_page
    page = session.page
    drawn = page.locator(f"#{CHART_ID} svg, #{CHART_ID} canvas").first
    drawn.wait_for(timeout=30_000)
    box = drawn.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    # The hostile attribute name reached the chart as data, not markup: Vega drew it as text.
    assert page.evaluate("typeof window.__pwned") == "undefined"
    if page.locator(f"#{CHART_ID} canvas").count():
        # Canvas renderer: the pixels must not be blank.
        painted = page.evaluate(f"""() => {{
            const c = document.querySelector('#{CHART_ID} canvas');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;
        }}""")
        assert painted > 1000
    else:
        # SVG renderer: marks were drawn, and the hostile name is an axis label's text.
        svg = page.evaluate(f"""() => {{
            const s = document.querySelector('#{CHART_ID} svg');
            return {{marks: s.querySelectorAll('path, rect, line').length,
                     text: s.textContent}};
        }}""")
        assert svg["marks"] > 10
        assert CLOSE_SCRIPT[:30] in svg["text"]  # Vega shortens long labels with an ellipsis
    assert requests == [] and session.dialogs == []


def test_sensitivity_table_is_the_summary_shown_as_text(
    report_page: tuple[Browser, list[str]],
) -> None:
    """The report's table is the Explorer's per-attribute summary (summary_cells.HEADERS), the
    hostile attribute name a cell's text, with the definitions line under it."""
    session, _ = report_page
    table = session.page.locator("table.sensitivity")
    heads = table.locator("thead th").all_inner_texts()
    assert heads == [HEADERS[0], "direction", *HEADERS[1:], "mean_margin_change", "n_comparisons"]
    rows = table.locator("tbody tr")
    # hostile_table: 4 attributes x (worse, better, both)
    assert rows.count() == 12
    cells = {
        (r[0], r[1]): r[2:]
        for r in (rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count()))
    }
    # verbosity, 4 comparisons: the chosen rewrite's margin ends at -1.0 (a flip: CF) in each,
    # the rejected one's at 0.5 (no flip: SF); n = 8 < 10 is too few
    verbosity = cells[("verbosity", "both")]
    assert verbosity[:4] == ["8 (too few)", "0/8 (0.00)", "4", "4"]
    # correctness: c0's rejected rewrite failed (1 of 8 attempted; 0.125 shows as 0.12), the
    # other 3 rejected rewrites end at -0.2 (CF), the 4 chosen ones at 0.5 (SF)
    assert cells[("correctness", "both")][:4] == ["7 (too few)", "1/8 (0.12)", "3", "4"]
    assert verbosity[4].startswith("0.50 [") and verbosity[5:9] == ["no null run"] * 4
    # the hostile name is the text of its row's first cell, and its rows made no element
    assert (CLOSE_SCRIPT, "both") in cells
    caption = table.locator("xpath=following-sibling::p[1]").inner_text()
    assert "CF + SF = n" in caption and "length-controlled PFR = " in caption
    assert session.dialogs == [] and session.page.evaluate("typeof window.__pwned") == "undefined"
