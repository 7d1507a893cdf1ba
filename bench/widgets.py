"""Widget benchmark: the Explorer on a 20,000-row explanation table, measured in Chromium.

Why in a real browser: what a person waits for is the rendered DOM inside JupyterLab (the kernel
building the widgets, the comm messages crossing the WebSocket, anywidget and Vega rendering),
and no Python-side timer sees most of that. So this starts a throw-away JupyterLab on 127.0.0.1
and a headless Debian Chromium through Playwright (``tests/helpers/lab_harness.py``), writes a
notebook that builds a 20,000-row result (1,000 synthetic comparisons x 10 attributes x 2 sides,
through ``rmx.Explainer`` with a fast callable RM and perturber), and measures:

1. first render: from the Ctrl+Enter that runs ``explorer = Explorer(...);
   explorer.show_result(result); explorer`` to the first animation frame after the Explorer's
   chart has SVG bars *and* its ComparisonView has rows. Page-side ``performance.now()``: the
   keydown is timestamped by a capturing listener, the DOM condition by a MutationObserver on the
   cell. Measured cold (the kernel's first chart: pays ``alt.JupyterChart.enable_offline``) and
   warm (a second Explorer in the same kernel).
2. selection -> update: click a bar of attribute A in the chart; time from the click event to
   the first frame where every row card of the ComparisonView shows A (MutationObserver installed
   before the click). Median over several clicks on different attributes.
3. bytes kernel -> browser: every frame the page's kernel WebSocket receives (Playwright
   ``page.on("websocket")`` -> ``framereceived``), from just before the display cell runs until
   the kernel is idle again after the render, and likewise per selection. Each frame is decoded
   (Jupyter's v1 binary WebSocket protocol or JSON) to name its largest message and to split
   front-end code (the ``_esm``/``_css`` bundles anywidget ships through the comm) from data.

For context it prints what a naive widget would ship: the whole table as JSON records.
Everything it starts (server, kernels, Chromium) is killed by PID at the end, as in the tests.

Run: .venv/bin/python bench/widgets.py [--clicks 6] [--out bench/results/widgets_cpu.txt]
(``--comparisons 5000``: a 100,000-row table, the issue's size.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "helpers"))
sys.path.insert(0, str(REPO / "bench"))

import lab_harness as lh  # noqa: E402 (needs the sys.path entry above)
from lab_browser import lab_browser  # noqa: E402 (bench/lab_browser.py: Lab + Chromium)

TARGET_RENDER_S = 2.0
TARGET_SELECT_MS = 100.0
TARGET_BYTES = 2_000_000  # MB here means 10^6 bytes
SETUP_TIMEOUT = 150.0
RENDER_TIMEOUT = 60.0
SELECT_TIMEOUT = 20.0
SETTLE_MS = 400  # quiet time after the kernel idles, so trailing frames land in their phase

SETUP_CELL = '''\
import json, random, time, zlib
import rmx_widgets as rmx
from rmx_widgets import Explorer
from rmx_widgets.core.attributes import DEFAULT_ATTRIBUTES

N_COMPARISONS, N_ATTRIBUTES = 1000, 10
ATTRS = list(DEFAULT_ATTRIBUTES[:N_ATTRIBUTES])
NAMES = [a.name for a in ATTRS]
rng = random.Random(0)
VOCAB = ("the model answer explains why this works because data shows clear steps first then "
         "however note that you should consider several options carefully before deciding "
         "which approach fits your case best example code result value error test").split()


def sentence(n):
    return " ".join(rng.choice(VOCAB) for _ in range(n)).capitalize() + "."


def text(lo, hi):
    return " ".join(sentence(rng.randint(6, 18)) for _ in range(rng.randint(lo, hi)))


# a third of the prompts are multi-turn chats with a system message, like real preference data
comps = []
for i in range(N_COMPARISONS):
    prompt = (text(1, 3) if i % 3 else
              [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": text(1, 2)},
               {"role": "assistant", "content": text(1, 3)},
               {"role": "user", "content": text(1, 2)}])
    comps.append(rmx.Comparison(id=f"c{i:05d}", prompt=prompt, response_a=text(2, 8),
                                response_b=text(2, 8)))


def word_weight(w):
    return (zlib.crc32(w.encode()) % 1000) / 1000 - 0.45


def rm(prompts, responses):
    """A bag-of-words RM with a length term: fast, deterministic, moved by every edit."""
    return [sum(word_weight(w) for w in r.lower().split()) + 0.02 * len(r.split())
            for r in responses]


def perturb(prompt, response, attribute, direction):
    """Attribute-dependent edits, so each attribute gets its own flip rate."""
    k = NAMES.index(attribute.name) + 1
    words = response.split()
    if direction == "worse":
        return " ".join(words[:max(3, len(words) - len(words) * k // 12)])
    return response + " " + " ".join(VOCAB[(k * 7 + j) % len(VOCAB)]
                                     for j in range(2 * k)).capitalize() + "."


_t = time.perf_counter()
explainer = rmx.Explainer(rm, perturb, attributes=ATTRS, store=None, progress=False,
                          batch_size=256)
result = explainer.explain(comps)
_build_s = time.perf_counter() - _t
_naive = result.table.to_json(orient="records").encode()
with open("bench_info.json", "w") as f:
    json.dump({"rows": len(result.table), "comparisons": len(comps),
               "attributes": N_ATTRIBUTES, "build_s": _build_s,
               "naive_table_json_bytes": len(_naive),
               "summary": {k: result.summary()[k] for k in ("cf", "sf", "failed", "ties")}}, f)
del _naive
'''

DISPLAY_CELL = """\
_t = time.perf_counter()
{var} = Explorer(explainer, comps)
{var}.show_result(result)
with open("{var}_python.json", "w") as f:
    json.dump({{"python_s": time.perf_counter() - _t}}, f)
{var}
"""

# -- page-side instrumentation ----------------------------------------------------------------
INSTALL_RENDER_PROBE = """(cell) => {
    const log = { t0: null, tDom: null, tFrame: null };
    window.__rmxRender = log;
    const onKey = (e) => {
        if (log.t0 === null && e.key === 'Enter' && (e.ctrlKey || e.shiftKey))
            log.t0 = performance.now();
    };
    document.addEventListener('keydown', onKey, { capture: true });
    const ready = () => {
        const box = cell.querySelector('.rmx-explorer');
        return !!(box
            && box.querySelector('.rmx-sensitivity-chart path[aria-roledescription="bar"]')
            && box.querySelector('.rmx-comparison-view [data-testid="rmx-row"]'));
    };
    const obs = new MutationObserver(() => {
        if (log.tDom !== null || log.t0 === null || !ready()) return;
        log.tDom = performance.now();
        obs.disconnect();
        document.removeEventListener('keydown', onKey, { capture: true });
        requestAnimationFrame(() => { log.tFrame = performance.now(); });
    });
    obs.observe(cell, { childList: true, subtree: true, attributes: true,
                        characterData: true });
}"""

# Arrival time of every kernel WebSocket message, taken before JupyterLab handles it (the
# listener is registered in the constructor, before JupyterLab sets ``onmessage``): it splits a
# click's latency into "until the kernel's answer arrived" and "rendering it".
WS_TIMESTAMPS = """(() => {
    const Native = window.WebSocket;
    window.__rmxWs = [];
    window.WebSocket = class extends Native {
        constructor(...args) {
            super(...args);
            if (String(args[0]).includes('/api/kernels/'))
                this.addEventListener('message', () => window.__rmxWs.push(performance.now()));
        }
    };
})();"""

INSTALL_SELECT_PROBE = """(view, target) => {
    const log = { target, tClick: null, tDom: null, tFrame: null };
    window.__rmxSel = log;
    const onClick = () => { if (log.tClick === null) log.tClick = performance.now(); };
    document.addEventListener('click', onClick, { capture: true });
    const done = () => {
        const names = [...view.querySelectorAll('[data-testid="rmx-row"] .rmx-attribute')]
            .map((e) => (e.textContent || '').trim());
        return names.length > 0 && names.every((n) => n === target);
    };
    const obs = new MutationObserver(() => {
        if (log.tDom !== null || log.tClick === null || !done()) return;
        log.tDom = performance.now();
        obs.disconnect();
        document.removeEventListener('click', onClick, { capture: true });
        requestAnimationFrame(() => { log.tFrame = performance.now(); });
    });
    obs.observe(view, { childList: true, subtree: true, characterData: true });
}"""


# -- WebSocket accounting -----------------------------------------------------------------------
@dataclass
class Message:
    """One kernel message as it crossed the WebSocket (kernel -> browser)."""

    size: int
    msg_type: str
    model: str  # the widget model it belongs to ('' when not a comm message)
    state_keys: list[str]
    code_bytes: int  # bytes of _esm/_css front-end bundles inside it


@dataclass
class Frames:
    """Received frames of the kernel WebSocket, grouped by the phase that was current."""

    phase: str = "setup"
    received: dict[str, list[bytes | str]] = field(default_factory=lambda: defaultdict(list))
    sent: Counter = field(default_factory=Counter)
    comm_models: dict[str, str] = field(default_factory=dict)

    def attach(self, page: Any) -> None:
        def on_ws(ws: Any) -> None:
            if "/api/kernels/" not in ws.url:  # not the events or terminals sockets
                return
            ws.on("framereceived", lambda p: self.received[self.phase].append(p))
            ws.on("framesent", lambda p: self.sent.update({self.phase: _size(p)}))

        page.on("websocket", on_ws)

    def messages(self, phase: str) -> list[Message]:
        return [self._decode(p) for p in self.received.get(phase, [])]

    def _decode(self, payload: bytes | str) -> Message:
        size = _size(payload)
        try:
            if isinstance(payload, bytes):
                n = int.from_bytes(payload[:8], "little")
                offs = [
                    int.from_bytes(payload[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(n)
                ]
                parts = [payload[offs[i] : offs[i + 1]] for i in range(1, n - 1)]
                header, content = json.loads(parts[0]), json.loads(parts[3])
            else:
                msg = json.loads(payload)
                header, content = msg["header"], msg["content"]
        except (ValueError, KeyError, IndexError):
            return Message(size, "?", "", [], 0)
        msg_type = header.get("msg_type", "?")
        comm_id = content.get("comm_id", "") if isinstance(content, dict) else ""
        data = content.get("data", {}) if isinstance(content, dict) else {}
        state = data.get("state", {}) if isinstance(data, dict) else {}
        state = state if isinstance(state, dict) else {}
        if msg_type == "comm_open" and state.get("_model_name"):
            name = state["_model_name"]
            if name == "AnyModel":  # anywidget: name it by its bundle's first bytes
                name = _anywidget_name(state)
            self.comm_models[comm_id] = name
        code = sum(len(str(state[k]).encode()) for k in ("_esm", "_css") if k in state)
        if msg_type == "comm_msg" and isinstance(data, dict) and data.get("method"):
            msg_type = f"comm_msg/{data['method']}"
        return Message(size, msg_type, self.comm_models.get(comm_id, ""), sorted(state), code)


def _size(payload: bytes | str) -> int:
    return len(payload) if isinstance(payload, bytes) else len(payload.encode())


def _anywidget_name(state: dict) -> str:
    css_or_esm = str(state.get("_esm", ""))
    for marker, name in (
        ("rmx-comparison-view", "ComparisonView"),
        ("rmx-attribute-picker", "AttributePicker"),
        ("vega", "JupyterChart"),
    ):
        if marker in css_or_esm:
            return name
    return "AnyModel"


# -- helpers ---------------------------------------------------------------------------------
def cell(page: Any, i: int) -> Any:
    return page.locator(f"{lh.CURRENT} .jp-Notebook .jp-Cell").nth(i)


def run_cell(page: Any, i: int) -> None:
    """Put the cursor in cell ``i`` and press Ctrl+Enter (run in place), as a person would."""
    c = cell(page, i)
    c.scroll_into_view_if_needed()
    c.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")


def wait_executed(lab: lh.Lab, page: Any, name: str, i: int, timeout: float) -> None:
    prompt = cell(page, i).locator(".jp-InputPrompt")
    lh.wait_for(
        lambda: (
            re.fullmatch(r"\[\d+\]:", prompt.text_content().strip())
            and lab.kernel_state(name) == "idle"
        ),
        timeout,
        f"cell {i} to execute",
        page,
        interval=0.05,
    )
    errors = lh.cell_errors(page)
    if errors:
        raise RuntimeError("the notebook raised:\n" + "\n---\n".join(errors))


def settle(lab: lh.Lab, page: Any, name: str) -> None:
    """Kernel idle, then a quiet moment, so every frame of the phase has been received."""
    lh.wait_for(lambda: lab.kernel_state(name) == "idle", 30, "the kernel to idle", page, 0.05)
    page.wait_for_timeout(SETTLE_MS)
    page.evaluate("0")  # a round trip: events queued before it have been dispatched


def measure_render(
    lab: lh.Lab, page: Any, frames: Frames, name: str, i: int, var: str, phase: str
) -> dict[str, Any]:
    c = cell(page, i)
    c.evaluate(INSTALL_RENDER_PROBE)
    frames.phase = phase
    run_cell(page, i)
    lh.wait_for(
        lambda: page.evaluate("window.__rmxRender.tFrame !== null"),
        RENDER_TIMEOUT,
        f"the {var} Explorer to render",
        page,
        interval=0.02,
    )
    wait_executed(lab, page, name, i, RENDER_TIMEOUT)
    settle(lab, page, name)
    frames.phase = "between"
    log = page.evaluate("window.__rmxRender")
    box = c.locator(".rmx-explorer")
    assert box.locator('.rmx-comparison-view [data-testid="rmx-row"]').first.is_visible()
    python_s = json.loads((lab.root / f"{var}_python.json").read_text())["python_s"]
    return {
        "dom_s": (log["tDom"] - log["t0"]) / 1000,
        "frame_s": (log["tFrame"] - log["t0"]) / 1000,
        "python_s": python_s,
        "box": box,
    }


def bar_targets(chart: Any) -> list[tuple[str, int]]:
    """(attribute, index of its widest bar) per attribute, in chart order (a zero-width bar
    cannot be clicked)."""
    marks = chart.locator('path[aria-roledescription="bar"]')
    info = marks.evaluate_all("""els => els.map((e) => [e.getAttribute('aria-label') || '',
                                                       e.getBoundingClientRect().width])""")
    best: dict[str, tuple[float, int]] = {}
    for j, (label, width) in enumerate(info):
        fields = dict(p.split(": ", 1) for p in label.split("; ") if ": " in p)
        attr = fields.get("attribute")
        if attr and width > 4 and width > best.get(attr, (0.0, -1))[0]:
            best[attr] = (width, j)
    return [(a, j) for a, (_, j) in best.items()]


def measure_selections(
    lab: lh.Lab, page: Any, frames: Frames, name: str, box: Any, clicks: int
) -> list[dict[str, Any]]:
    chart = box.locator(".rmx-sensitivity-chart")
    view = box.locator(".rmx-comparison-view")
    targets = bar_targets(chart)
    if len(targets) < clicks:
        raise RuntimeError(f"only {len(targets)} clickable attributes in the chart")
    out = []
    for k, (attr, j) in enumerate(targets[:clicks]):
        mark = chart.locator('path[aria-roledescription="bar"]').nth(j)
        mark.scroll_into_view_if_needed()
        bb = mark.bounding_box()
        view.evaluate(INSTALL_SELECT_PROBE, attr)
        phase = f"select{k}"
        frames.phase = phase
        # left part of the bar: clear of the CI rule at its end and the pooled-PFR tick
        mark.click(position={"x": max(2.0, bb["width"] * 0.2), "y": bb["height"] / 2})
        lh.wait_for(
            lambda: page.evaluate("window.__rmxSel.tFrame !== null"),
            SELECT_TIMEOUT,
            f"the ComparisonView to show only {attr!r} rows",
            page,
            interval=0.02,
        )
        settle(lab, page, name)
        frames.phase = "between"
        log = page.evaluate("window.__rmxSel")
        arrivals = page.evaluate(
            "([a, b]) => window.__rmxWs.filter((t) => t >= a && t <= b)",
            [log["tClick"], log["tDom"]],
        )
        out.append(
            {
                "attribute": attr,
                "phase": phase,
                "answer_ms": (arrivals[-1] - log["tClick"]) if arrivals else float("nan"),
                "dom_ms": log["tDom"] - log["tClick"],
                "frame_ms": log["tFrame"] - log["tClick"],
            }
        )
    return out


def phase_bytes(frames: Frames, phase: str) -> dict[str, Any]:
    msgs = frames.messages(phase)
    total = sum(m.size for m in msgs)
    code = sum(m.code_bytes for m in msgs)
    largest = max(msgs, key=lambda m: m.size) if msgs else Message(0, "-", "", [], 0)
    by_model: Counter = Counter()
    for m in msgs:
        by_model[m.model or m.msg_type] += m.size
    return {
        "total": total,
        "code": code,
        "data": total - code,
        "n": len(msgs),
        "largest": largest,
        "by_model": by_model,
        "sent": frames.sent.get(phase, 0),
    }


def mb(n: float) -> str:
    return f"{n / 1e6:.3f} MB"


def machine_line() -> str:
    from machine import cpu_name

    cpu = cpu_name()
    return f"{cpu}; {os.cpu_count()} logical cores; python {platform.python_version()}"


def describe(m: Message) -> str:
    what = m.msg_type + (f" {m.model}" if m.model else "")
    keys = [k for k in m.state_keys if not k.startswith("_view")][:6]
    code = f", of which {mb(m.code_bytes)} front-end code" if m.code_bytes else ""
    return f"{mb(m.size)} ({what}{' [' + ', '.join(keys) + ']' if keys else ''}{code})"


# -- main ------------------------------------------------------------------------------------
def run(clicks: int, comparisons: int = 1000) -> list[str]:
    started = time.monotonic()
    load = os.getloadavg()
    with lab_browser("widget benchmark", "rmx-bench-widgets-") as session:
        lab, page = session.lab, session.page
        frames = Frames()
        frames.attach(page)
        page.add_init_script(WS_TIMESTAMPS)
        name = lab.write_notebook(
            "bench_widgets.ipynb",
            [
                SETUP_CELL.replace("N_ATTRIBUTES = 1000, 10", f"N_ATTRIBUTES = {comparisons}, 10"),
                DISPLAY_CELL.format(var="explorer"),
                DISPLAY_CELL.format(var="explorer_warm"),
            ],
        )
        lh.open_notebook(lab, page, name)
        t = time.monotonic()
        run_cell(page, 0)
        wait_executed(lab, page, name, 0, SETUP_TIMEOUT * max(1, comparisons // 1000))
        settle(lab, page, name)
        setup_s = time.monotonic() - t
        info = json.loads((lab.root / "bench_info.json").read_text())
        cold = measure_render(lab, page, frames, name, 1, "explorer", "render_cold")
        sels = measure_selections(lab, page, frames, name, cold["box"], clicks)
        warm = measure_render(lab, page, frames, name, 2, "explorer_warm", "render_warm")
    total_s = time.monotonic() - started
    return report(
        info, cold, warm, sels, frames, session.chromium, session.jupyterlab, load, setup_s,
        total_s,
    )  # fmt: skip


def report(
    info: dict,
    cold: dict,
    warm: dict,
    sels: list[dict],
    frames: Frames,
    chromium: str,
    jlab: str,
    load: tuple,
    setup_s: float,
    total_s: float,
) -> list[str]:
    b_cold, b_warm = phase_bytes(frames, "render_cold"), phase_bytes(frames, "render_warm")
    b_sel = [phase_bytes(frames, s["phase"]) for s in sels]
    sel_ms = [s["frame_ms"] for s in sels]
    med_ms = statistics.median(sel_ms)
    sel_bytes = [b["total"] for b in b_sel]
    naive = info["naive_table_json_bytes"]
    largest_sel = max((b["largest"] for b in b_sel), key=lambda m: m.size)

    def row(label: str, value: str, target: str = "", met: bool | None = None) -> str:
        verdict = "" if met is None else ("yes" if met else "NO")
        return f"{label:<56} {value:>14} {target:>9}  {verdict}".rstrip()

    s_ = info["summary"]
    loads = " / ".join(f"{x:.2f}" for x in load)
    per_click = [
        f"  {s['attribute']:<16} {s['answer_ms']:6.1f} / {s['dom_ms']:6.1f} / "
        f"{s['frame_ms']:6.1f} ms; {b['total'] / 1e3:6.1f} kB in {b['n']} msgs, "
        f"{b['sent'] / 1e3:.1f} kB sent"
        for s, b in zip(sels, b_sel)
    ]
    by_widget = ", ".join(f"{k} {v / 1e3:.1f} kB" for k, v in b_cold["by_model"].most_common(6))
    return [
        (
            f"Widget benchmark (bench/widgets.py): Explorer on a {info['rows']:,}-row explanation "
            f"table ({info['comparisons']:,} comparisons x {info['attributes']} attributes x 2 "
            f"sides; {s_['cf']:,} CF, {s_['sf']:,} SF)"
        ),
        f"machine: {machine_line()}; load average at start {loads}",
        (
            f"browser: headless Chromium {chromium} (Playwright), JupyterLab {jlab}, viewport "
            "1400x1000; timings page-side performance.now(); MB = 10^6 bytes"
        ),
        "",
        row("figure", "measured", "target", None) + "  met",
        row(
            "first render, cold kernel (its first chart)",
            f"{cold['frame_s']:.2f} s",
            "< 2 s",
            cold["frame_s"] < TARGET_RENDER_S,
        ),
        row("  of which Python: Explorer() + show_result()", f"{cold['python_s']:.2f} s"),
        row(
            "first render, warm (second Explorer, same kernel)",
            f"{warm['frame_s']:.2f} s",
            "< 2 s",
            warm["frame_s"] < TARGET_RENDER_S,
        ),
        row("  of which Python: Explorer() + show_result()", f"{warm['python_s']:.2f} s"),
        row(
            f"selection -> ComparisonView rows (median of {len(sels)} clicks)",
            f"{med_ms:.0f} ms",
            "< 100 ms",
            med_ms < TARGET_SELECT_MS,
        ),
        row("  slowest click", f"{max(sel_ms):.0f} ms"),
        row(
            "  click -> last kernel message of the update (median)",
            f"{statistics.median(s['answer_ms'] for s in sels):.0f} ms",
        ),
        row(
            "bytes kernel->browser, first render (cold)",
            mb(b_cold["total"]),
            "< 2 MB",
            b_cold["total"] < TARGET_BYTES,
        ),
        row("  of which front-end code (_esm/_css bundles)", mb(b_cold["code"])),
        row("  of which data (state, spec, rows, protocol)", mb(b_cold["data"])),
        row(
            "bytes kernel->browser, first render (warm)",
            mb(b_warm["total"]),
            "< 2 MB",
            b_warm["total"] < TARGET_BYTES,
        ),
        row(
            "bytes kernel->browser per selection (median / max)",
            f"{statistics.median(sel_bytes) / 1e3:.1f} / {max(sel_bytes) / 1e3:.1f} kB",
            "< 2 MB",
            max(sel_bytes) < TARGET_BYTES,
        ),
        "",
        f"largest message, cold render: {describe(b_cold['largest'])}",
        f"largest message, warm render: {describe(b_warm['largest'])}",
        f"largest message, any selection: {describe(largest_sel)}",
        f"cold render: {b_cold['n']} messages; by widget: {by_widget}",
        "",
        (
            "per click (attribute: click -> kernel's last message / DOM updated / next frame; "
            "bytes received, sent):"
        ),
        *per_click,
        (
            f"render DOM condition (before the frame): cold {cold['dom_s']:.2f} s, "
            f"warm {warm['dom_s']:.2f} s"
        ),
        "",
        "side by side with a naive widget that ships the whole table to the browser:",
        f"  full table as JSON records        {mb(naive):>12}",
        (
            f"  we send, cold first render        {mb(b_cold['total']):>12}   "
            f"({naive / max(b_cold['total'], 1):.0f}x less; data alone "
            f"{naive / max(b_cold['data'], 1):.0f}x less)"
        ),
        (
            f"  we send, per selection (median)   {mb(statistics.median(sel_bytes)):>12}   "
            f"(a naive widget filters locally: 0 bytes, after the {mb(naive)} up front)"
        ),
        "",
        (
            f"setup (building the {info['rows']:,}-row result in the kernel: "
            f"{info['build_s']:.1f} s) {setup_s:.1f} s; whole benchmark {total_s:.0f} s"
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--clicks",
        type=int,
        default=6,
        help="attribute bars to click (different attributes; at least 5)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "bench" / "results" / "widgets_cpu.txt",
        help="where to save the report ('-' for nowhere)",
    )
    ap.add_argument(
        "--comparisons",
        type=int,
        default=1000,
        help="synthetic comparisons (x 10 attributes x 2 sides rows; 5000 for the issue's 100k)",
    )
    args = ap.parse_args(argv)
    if args.comparisons < 1:
        ap.error("--comparisons must be at least 1")
    if not 1 <= args.clicks <= 10:
        ap.error("--clicks must be between 1 and 10 (the table has 10 attributes)")
    lines = run(args.clicks, args.comparisons)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    if str(args.out) != "-":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
        print(f"saved to {args.out}")


if __name__ == "__main__":
    main()
