"""A throw-away JupyterLab and headless Chromium for the benchmarks that measure in a browser
(``bench/widgets.py``, ``bench/widgets_table.py``).

Both benches need the same start-up and the same teardown: refuse to run (saying why) when the
harness cannot start, a JupyterLab in a temporary folder, the harness's Debian Chromium through
Playwright with the test flags (no network), both killed by PID at the end even when a
measurement raises, and a page error turned into a failure rather than into a figure. It lives
here once so that the two benches cannot drift apart in how they start what they measure. The
machinery itself is the browser tests' (``tests/helpers/lab_harness.py``).
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "helpers"))

import lab_harness as lh  # noqa: E402 (needs the sys.path entry above)


@dataclass
class LabBrowser:
    """What a bench measures with: the Lab, the Chromium session (its ``page`` and console),
    and the versions its report names."""

    lab: lh.Lab
    browser: lh.Browser
    chromium: str
    jupyterlab: str

    @property
    def page(self) -> Any:
        return self.browser.page


def page_errors(browser: lh.Browser) -> list[str]:
    """The uncaught errors the page raised so far (the harness logs them as "pageerror ...")."""
    return [line for line in browser.console if line.startswith("pageerror")]


@contextmanager
def lab_browser(what: str, prefix: str) -> Iterator[LabBrowser]:
    """A JupyterLab in a fresh temporary folder (named ``prefix``...) and a headless Chromium on
    it, both stopped by PID on the way out. ``what`` names the bench in the refusal when the
    harness cannot run here (no Chromium, no Playwright). A page error raised during the
    measurements fails the bench on a clean exit, so no figure is printed from a broken page."""
    import jupyterlab
    from playwright.sync_api import sync_playwright

    reason = lh.missing_requirement()
    if reason:
        raise SystemExit(f"cannot run the {what}: {reason}")
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        lab = lh.start_lab(Path(tmp))
        try:
            with sync_playwright() as driver:
                browser = lh.launch_browser(driver, lab)
                try:
                    yield LabBrowser(lab, browser, browser.browser.version, jupyterlab.__version__)
                    errors = page_errors(browser)
                    if errors:
                        raise RuntimeError("the page raised:\n" + "\n".join(errors))
                finally:
                    lh.close_browser(browser.browser, browser.marker)
        finally:
            lh.stop_lab(lab)
