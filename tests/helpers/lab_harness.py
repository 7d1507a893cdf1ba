"""Drive a real JupyterLab from tests: start/stop the server, launch Chromium, run notebooks.

Why this much machinery: the widgets' contract is the rendered DOM inside JupyterLab (anywidget
ESM bundles, ipywidgets layout, the Vega chart), which no unit test sees. The server runs in a
throw-away root, config, runtime and home so it neither reads nor writes the developer's
Jupyter state, and nothing it or the browser does reaches the network (news and update checks
off; only 127.0.0.1 resolves in the browser). Every process started here — the server, its
kernels and Chromium — carries a unique marker in its environment, so teardown can kill
survivors by PID (and fail loudly if any remain) without touching anyone else's processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
# Nothing but 127.0.0.1 resolves in the test browser: it cannot reach the network. (A
# Playwright route filter would do the same but only while Python is inside a Playwright call.)
OFFLINE_ARGS = ["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
MARKER_VAR = "RMX_BROWSER_TEST_MARKER"
SERVER_START_TIMEOUT = 90.0
NOTEBOOK_OPEN_TIMEOUT = 90.0
RUN_ALL_TIMEOUT = 90.0
# The two front ends the widgets are tested in: JupyterLab 4 and Jupyter Notebook 7.
UIS = ("lab", "notebook")


def missing_requirement() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium; never `playwright install`)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install -e '.[test]')"
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        return "jupyterlab is not installed in this environment (pip install -e '.[test]')"
    return None


# -- processes ------------------------------------------------------------------------------
def pids_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``marker`` (ours, and only ours)."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # zombies are already dead
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_marked(marker: str, timeout: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL, every process carrying ``marker``; return the ones that survive."""
    for sig, wait in ((signal.SIGTERM, timeout / 2), (signal.SIGKILL, timeout / 2)):
        pids = pids_with_marker(marker)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while pids_with_marker(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
    return pids_with_marker(marker)


def _write_jupyter_settings(settings_dir: Path) -> None:
    """No news, no update checks: nothing to fetch, nothing to pop up. Every cell stays rendered
    (no notebook windowing), so off-screen widgets exist in the DOM like on-screen ones."""
    settings = {
        ("apputils-extension", "notification"): {"fetchNews": "false", "checkForUpdates": False},
        ("notebook-extension", "tracker"): {"windowingMode": "none"},
    }
    for (ext, plugin), values in settings.items():
        folder = settings_dir / "@jupyterlab" / ext
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the server -----------------------------------------------------------------------------
@dataclass
class Lab:
    """A running JupyterLab: where it is, how to reach it, and a REST client for it."""

    url: str
    token: str
    root: Path
    marker: str
    proc: subprocess.Popen
    log: Path
    client: httpx.Client = field(repr=False)

    def notebook_url(self, name: str, ui: str = "lab") -> str:
        """Where ``name`` opens in JupyterLab (``ui="lab"``) or in Notebook 7 (``"notebook"``):
        one server serves both, so the same kernel and widgets run under either front end."""
        if ui not in UIS:
            raise ValueError(f"ui must be one of {UIS}, not {ui!r}")
        # JupyterLab in a workspace of its own: the default workspace remembers every notebook
        # any earlier test opened, and restoring it started all their kernels at once (about
        # 20 late in a run), whose random ports then collided ("Address already in use": the
        # opened notebook's kernel restarted and the page saw "Kernel is dead")
        workspace = f"t{uuid.uuid4().hex[:12]}"
        path = f"lab/workspaces/{workspace}/tree/{name}" if ui == "lab" else f"notebooks/{name}"
        return f"{self.url}/{path}?token={self.token}"

    def api(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.client.request(method, f"{self.url}{path}", **kw)

    def session_kernel(self, notebook: str) -> dict | None:
        """The kernel of the notebook's session (None until the page has started one)."""
        for s in self.api("GET", "/api/sessions").json():
            if s.get("path") == notebook and s.get("kernel"):
                return s["kernel"]
        return None

    def kernel_state(self, notebook: str) -> str | None:
        k = self.session_kernel(notebook)
        if k is None:
            return None
        r = self.api("GET", f"/api/kernels/{k['id']}")
        return r.json().get("execution_state") if r.status_code == 200 else None

    def shutdown_kernels(self) -> None:
        for s in self.api("GET", "/api/sessions").json():
            self.api("DELETE", f"/api/sessions/{s['id']}")
        for k in self.api("GET", "/api/kernels").json():
            self.api("DELETE", f"/api/kernels/{k['id']}")

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Write a notebook of code cells into the server root (kernel: python3)."""
        nb = {
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": {
                "kernelspec": {
                    "name": "python3",
                    "language": "python",
                    "display_name": "Python 3 (ipykernel)",
                },
                "language_info": {"name": "python"},
            },
            "cells": [
                {
                    "cell_type": "code",
                    "id": f"c{i}",
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                    "source": src,
                }
                for i, src in enumerate(cells)
            ],
        }
        (self.root / name).write_text(json.dumps(nb, indent=1), encoding="utf-8")
        return name

    def log_tail(self, n: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def start_lab(base: Path) -> Lab:
    """Start JupyterLab on a copy of notebooks/ under ``base``; return once it answers."""
    root = base / "root"
    # runs/ holds a developer's caches: the tests start from an empty store.
    shutil.copytree(
        NOTEBOOKS,
        root,
        ignore=shutil.ignore_patterns("runs", ".ipynb_checkpoints", "*.sqlite*", "annotations.*"),
    )
    home, config_dir, runtime = base / "home", base / "config", base / "runtime"
    settings_dir = base / "user-settings"
    for d in (home, runtime, config_dir):
        d.mkdir()
    _write_jupyter_settings(settings_dir)
    token = uuid.uuid4().hex
    marker = uuid.uuid4().hex
    port = _free_port()
    venv_bin = Path(sys.executable).parent
    env = {
        **os.environ,
        "HOME": str(home),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "IPYTHONDIR": str(home / ".ipython"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "JUPYTER_PLATFORM_DIRS": "1",
        MARKER_VAR: marker,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    env.pop("JUPYTER_PATH", None)
    log = base / "jupyter.log"
    cmd = [
        str(venv_bin / "jupyter"),
        "lab",
        "--no-browser",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={settings_dir}",
        f"--JupyterNotebookApp.user_settings_dir={settings_dir}",  # Notebook 7: same settings
        f"--LabApp.workspaces_dir={base / 'workspaces'}",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # containers; the server refuses root otherwise
        cmd.append("--allow-root")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(headers={"Authorization": f"token {token}"}, timeout=10.0)
    server = Lab(url=url, token=token, root=root, marker=marker, proc=proc, log=log, client=client)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {proc.returncode}:\n{server.log_tail()}"
                )
            try:
                if client.get(f"{url}/api/status").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"jupyter lab did not answer in {SERVER_START_TIMEOUT}s:\n{server.log_tail()}"
                )
            time.sleep(0.2)
    except BaseException:
        stop_lab(server)
        raise
    return server


def stop_lab(server: Lab) -> None:
    """Shut kernels down, end the server's process group, then kill any marked survivor."""
    proc, client, marker = server.proc, server.client, server.marker
    with contextlib.suppress(httpx.HTTPError):
        server.shutdown_kernels()
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    client.close()
    survivors = kill_marked(marker)
    assert not survivors, f"processes survived the JupyterLab teardown: {survivors}"


# -- the browser ----------------------------------------------------------------------------
@dataclass
class Browser:
    """One Chromium; ``page`` is the current tab. ``dialogs`` lists every alert/confirm/prompt
    a page opened (dismissed at once): model text must never open one."""

    browser: Any
    context: Any
    marker: str
    page: Any = None
    console: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def new_page(self, viewport: dict[str, int] | None = None) -> Any:
        """Close the current tab (skipping "leave site?") and open a fresh one."""
        if self.page is not None:
            self.page.close(run_before_unload=False)
        page = self.context.new_page()
        if viewport:
            page.set_viewport_size(viewport)
        page.set_default_timeout(30_000)
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}{_origin(e)}"))
        page.on("requestfailed", lambda r: self.console.append(f"request failed: {r.url}"))
        page.on("dialog", self._on_dialog)
        self.page = page
        return page

    def _on_dialog(self, dialog: Any) -> None:
        if dialog.type == "beforeunload":  # JupyterLab's unsaved-changes guard, not model text
            dialog.accept()
            return
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


def _origin(error: Any) -> str:
    """`` [at /static/…]``: the script an uncaught error came from (its first stack frame), so
    a test can tell the widgets' own errors from a front end's."""
    match = re.search(r"https?://[^/\s]+(/[^\s?:)]+)", getattr(error, "stack", "") or "")
    return f" [at {match.group(1)}]" if match else ""


# Notebook 7's own shell raises now and then, from its own bundles, with no widget involved
# (seen on 7.6: a settings schema read while plugins load; "filebrowser:open-path not
# registered" after JupyterLab used the same server). The widgets' code never ships in those
# bundles (it runs from the anywidget ESM and the lab extensions), so Notebook 7 tests tolerate
# exactly the errors whose first stack frame is in them.
NOTEBOOK7_OWN_ERRORS = (re.compile(r"^pageerror: .* \[at /static/notebook/[\w.-]+\.js\]$"),)


def launch_browser(driver: Any, lab: Lab) -> Browser:
    """A fresh headless Debian Chromium (never a downloaded one) with one open tab."""
    marker = f"{lab.marker}-chromium-{uuid.uuid4().hex[:8]}"
    browser = driver.chromium.launch(
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS + OFFLINE_ARGS,
        headless=True,
        env={**os.environ, MARKER_VAR: marker, "HOME": str(lab.root.parent / "home")},
    )
    try:
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, device_scale_factor=1
        )
        session = Browser(browser=browser, context=context, marker=marker)
        session.new_page()
    except BaseException:
        close_browser(browser, marker)
        raise
    return session


def close_browser(browser: Any, marker: str) -> None:
    """Close Chromium; kill by PID whatever of it is still alive, and fail if anything is."""
    try:
        browser.close()
    finally:
        survivors = kill_marked(marker)
        assert not survivors, f"Chromium processes survived browser.close(): {survivors}"


# -- notebook helpers ------------------------------------------------------------------------
def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, page: Any = None, interval: float = 0.2
) -> Any:
    """Poll ``condition`` until it returns something truthy; fail naming ``what``.

    With ``page``, the pauses go through Playwright so its event handlers (dialogs, console)
    keep running while we wait.
    """
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # a transient REST/DOM error is retried until the deadline
            last_error = e
        if page is not None:
            page.wait_for_timeout(interval * 1000)
        else:
            time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout}s waiting for {what}"
        + (f" (last error: {last_error!r})" if last_error else "")
    )


# The notebook in the active tab (other open notebooks are hidden, not removed).
CURRENT = ".jp-NotebookPanel:visible"


def open_notebook(lab: Lab, page: Any, name: str, ui: str = "lab") -> None:
    """Open ``name`` in JupyterLab (or Notebook 7, ``ui="notebook"``) and wait until its
    kernel is connected and idle."""
    page.goto(lab.notebook_url(name, ui))
    if ui == "lab":
        page.locator(
            "#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current", has_text=name
        ).first.wait_for(timeout=NOTEBOOK_OPEN_TIMEOUT * 1000)
    page.locator(f"{CURRENT} .jp-Notebook .jp-Cell").first.wait_for(
        timeout=NOTEBOOK_OPEN_TIMEOUT * 1000
    )
    if ui == "lab":
        wait_for_kernel_idle(lab, page, name, NOTEBOOK_OPEN_TIMEOUT)
    else:  # Notebook 7 has no status bar: the server's word, then the kernel indicator
        wait_for(
            lambda: lab.kernel_state(name) == "idle",
            NOTEBOOK_OPEN_TIMEOUT,
            f"the kernel of {name} to idle",
            page,
        )


def wait_for_kernel_idle(lab: Lab, page: Any, name: str, timeout: float) -> None:
    """Idle on the server (REST) and in the page (the status bar's "… | Idle")."""
    wait_for(
        lambda: lab.kernel_state(name) == "idle", timeout, f"the kernel of {name} to idle", page
    )
    page.locator(".jp-StatusBar-Widget", has_text=re.compile(r"\|\s*Idle")).first.wait_for(
        timeout=timeout * 1000
    )


def _prompts(page: Any) -> list[str]:
    return page.locator(f"{CURRENT} .jp-CodeCell .jp-InputPrompt").all_text_contents()


def run_all(lab: Lab, page: Any, name: str, timeout: float = RUN_ALL_TIMEOUT) -> None:
    """Run > Run All Cells, then wait until every code cell has a number and the kernel idles."""
    n_code = page.locator(f"{CURRENT} .jp-CodeCell").count()
    assert n_code > 0, f"{name} shows no code cells"
    click_menu(page, "Run", "Run All Cells")
    wait_for_all_executed(lab, page, name, n_code, timeout)


def click_menu(page: Any, menu: str, item: str) -> None:
    """Open a menu of JupyterLab's menu bar and click one of its items, as a person would."""
    page.locator(
        "#jp-MainMenu .lm-MenuBar-itemLabel", has_text=re.compile(rf"^{re.escape(menu)}$")
    ).click()
    page.locator(
        ".lm-Menu:not(.lm-mod-hidden) .lm-Menu-itemLabel",
        has_text=re.compile(rf"^{re.escape(item)}$"),
    ).first.click()


def wait_for_all_executed(lab: Lab, page: Any, name: str, n_code: int, timeout: float) -> None:
    """Every input prompt shows ``[n]`` (none ``[*]`` or blank) and the kernel idles; then no
    cell may show a traceback or a widget that failed to display."""

    def done() -> bool:
        prompts = [p.strip() for p in _prompts(page)]
        if len(prompts) != n_code or not all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            return False
        return lab.kernel_state(name) == "idle"

    try:
        wait_for(done, timeout, f"all {n_code} cells of {name} to execute", page)
    except AssertionError as e:
        raise AssertionError(
            f"{e}; prompts {_prompts(page)}, kernel {lab.kernel_state(name)!r}"
        ) from None
    finally:
        errors = cell_errors(page)
        assert not errors, f"{name} raised in the browser:\n" + "\n---\n".join(errors)


def cell_errors(page: Any) -> list[str]:
    """Tracebacks shown in cells, and widgets JupyterLab failed to display."""
    tracebacks = page.locator(
        '.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]'
    ).all_inner_texts()
    broken = page.locator(
        ".jp-OutputArea-output", has_text="Error displaying widget"
    ).all_inner_texts()
    return tracebacks + broken


def restart_and_run_all(lab: Lab, page: Any, name: str, timeout: float = RUN_ALL_TIMEOUT) -> None:
    """Kernel > Restart Kernel and Run All Cells…, confirm, and wait for fresh outputs.

    Execution counts start again at 1 after a restart, so "every prompt numbered" cannot tell
    old outputs from new ones: the old output nodes are marked first, and the wait ends only
    when none of them is left (re-executing a cell replaces its output nodes).
    """
    n_code = page.locator(f"{CURRENT} .jp-CodeCell").count()
    n_marked = page.locator(f"{CURRENT} .jp-CodeCell .jp-OutputArea-output").evaluate_all(
        "outs => { outs.forEach((o) => o.setAttribute('data-rmx-stale', '1'));"
        " return outs.length; }"
    )
    assert n_marked > 0, f"{name} has no outputs to replace"
    click_menu(page, "Kernel", "Restart Kernel and Run All Cells…")
    page.locator(".jp-Dialog .jp-Dialog-button.jp-mod-accept").click()
    wait_for(
        lambda: page.locator("[data-rmx-stale]").count() == 0,
        timeout,
        f"the outputs of {name} to be replaced after the restart",
        page,
    )
    wait_for_all_executed(lab, page, name, n_code, timeout)


IMAGES_ENV = "RMX_UPDATE_SCREENSHOTS"


def screenshot_dir(tmp_path: Path) -> Path:
    """docs/images when refreshing the README's screenshots (``make screenshots``), else a
    temporary folder: the screenshot tests always run, and only write the docs on request."""
    return REPO / "docs" / "images" if os.environ.get(IMAGES_ENV) == "1" else tmp_path


def shoot(element: Any, path: Path) -> None:
    """Screenshot just the widget; it must fit the viewport, or the notebook would clip it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    element.scroll_into_view_if_needed()
    box = element.bounding_box()
    viewport = element.page.viewport_size
    assert box and box["height"] < viewport["height"] - 100, (box, viewport)
    element.screenshot(path=str(path), animations="disabled", caret="hide")
    assert path.stat().st_size < 600_000, f"{path} is {path.stat().st_size} bytes"
