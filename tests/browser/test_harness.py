"""The harness's own promises: its processes are marked (so teardown checks are not vacuous)
and the browser cannot reach anything but the lab server."""

from __future__ import annotations

import pytest
from lab_harness import Browser, Lab, pids_with_marker, wait_for

pytestmark = pytest.mark.browser


def test_server_kernels_and_chromium_carry_the_marker(lab: Lab, browser_page: Browser) -> None:
    assert lab.proc.pid in pids_with_marker(lab.marker)
    assert pids_with_marker(browser_page.marker), "Chromium runs without the test marker"
    before = set(pids_with_marker(lab.marker))
    kernel = lab.api("POST", "/api/kernels", json={"name": "python3"}).json()
    try:
        wait_for(lambda: set(pids_with_marker(lab.marker)) - before, 30, "a marked kernel process")
    finally:
        lab.api("DELETE", f"/api/kernels/{kernel['id']}")
    wait_for(lambda: set(pids_with_marker(lab.marker)) <= before, 30, "the kernel process to end")


def test_browser_reaches_only_the_lab_server(lab: Lab, browser_page: Browser) -> None:
    page = browser_page.page
    page.goto(f"{lab.url}/api/status?token={lab.token}")
    assert '"started"' in page.content()
    with pytest.raises(Exception, match="ERR_NAME_NOT_RESOLVED"):
        page.goto("http://example.com/")


def test_notebook7_tolerance_is_only_for_its_own_bundles(lab: Lab, browser_page: Browser) -> None:
    """An error thrown from a page script is recorded with its origin; the Notebook 7 tolerance
    matches only errors from Notebook 7's own bundles, never one from the widgets' code."""
    from lab_harness import NOTEBOOK7_OWN_ERRORS

    page = browser_page.page
    page.goto(f"{lab.url}/api/status?token={lab.token}")
    page.evaluate("setTimeout(() => { throw new Error('widget bug'); }, 0)")
    wait_for(lambda: any("widget bug" in c for c in browser_page.console), 10, "the error", page)
    seen = next(c for c in browser_page.console if "widget bug" in c)
    assert not any(k.match(seen) for k in NOTEBOOK7_OWN_ERRORS), seen
    own = "pageerror: boom [at /static/notebook/notebook_core.c9a6d9df5de5df84.js]"
    assert any(k.match(own) for k in NOTEBOOK7_OWN_ERRORS)
    widget = "pageerror: boom [at /lab/extensions/anywidget/static/remoteEntry.js]"
    assert not any(k.match(widget) for k in NOTEBOOK7_OWN_ERRORS)
