"""Fixtures for the browser tests: one JupyterLab per session, one Chromium per test.

The machinery lives in ``lab_harness.py``; this file only wires it into pytest: the server is
started once (a few seconds) and stopped at the end, each test gets its own browser, and a
failing test leaves a screenshot and the browser console next to the server log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from lab_harness import (
    Browser,
    Lab,
    close_browser,
    launch_browser,
    missing_requirement,
    start_lab,
    stop_lab,
)

_FAILED = pytest.StashKey[bool]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (saying why) rather than error when Chromium, Playwright or JupyterLab is absent."""
    reason = missing_requirement()
    if reason and os.environ.get("RMX_REQUIRE_BROWSER") == "1":  # make test: never skip
        raise pytest.UsageError(f"browser tests required but cannot run: {reason}")
    if reason:
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[_FAILED] = report.failed


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    server = start_lab(tmp_path_factory.mktemp("lab"))
    try:
        yield server
    finally:
        stop_lab(server)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser_page(
    request: pytest.FixtureRequest, playwright_driver: Any, lab: Lab
) -> Iterator[Browser]:
    """A fresh Chromium that can reach only the lab server; closed and checked afterwards.

    The kernels the test started are shut down too, so the next test opens its notebook on a
    new kernel.
    """
    session = launch_browser(playwright_driver, lab)
    try:
        yield session
        if request.node.stash.get(_FAILED, False):
            shot = lab.log.parent / f"failure-{request.node.name}.png"
            session.page.screenshot(path=str(shot))
            shot.with_suffix(".console.txt").write_text("\n".join(session.console))
            print(f"\nfailure screenshot: {shot}\nserver log: {lab.log}")
    finally:
        try:
            close_browser(session.browser, session.marker)
        finally:
            lab.shutdown_kernels()
