"""The chart's front end: Altair's ``JupyterChart`` with redraws that keep a click, bundled
offline once at install, never in a kernel's first draw.

**Redraws that keep a click.** The Explorer redraws its chart after every landed batch
(``redraw_every``, 0.3 s by default). Altair's ``JupyterChart`` redraws by finalising the
view on screen and only then embedding the new spec; a click in that gap lands on a dead
view and is lost (part of the flaky "Side = Rejected" browser test).
:func:`patched_source` changes a few places of Altair's own ``index.js`` (:data:`PATCHES`): the
new spec is drawn hidden beside the old view, which stays live and clickable; the old view's
pending selection report is sent before the new view's first one; then the views are
swapped in one step (scroll position kept). A spec superseded while it was being drawn is
dropped. Every selection report says which of the kernel's draws sent it (the spec's
``usermeta``, :data:`VIEW_KEY`) and whether it is that view's first report
(:data:`INITIAL_KEY`), so the kernel side (``SensitivityChart``) never takes a view's own
starting selection for a click, and redraws a click that landed on a view already
replaced. Each anchor must match Altair's text exactly once: an Altair whose ``index.js``
moved on gets its stock behaviour and a warning, never a half-patched script.

**Offline bundle.** ``JupyterChart`` fetches vega-embed from a CDN unless it is given an
offline bundle, and vl-convert builds that bundle in about a second: more than half of a
cold Explorer's first render when each new kernel (or a fresh ``HOME``) paid it. So the
bundle is built at install (``make install`` runs :func:`install`, which writes it beside the
front-end bundles in ``rmx_widgets/static/``, so a wheel built after it ships it; the build
hook does the same when it can import Altair) and a kernel only reads it. Where no packaged
copy matches the installed Altair and vl-convert (an install that skipped the step, or
upgraded one of them), the bundle is built on first use and cached under the user's cache
directory, so that cost is paid once per installation, not per kernel. The file names carry
both versions and the patch's: a stale bundle is never read.

Only :class:`KeptClickChart` uses the patched bundle: a user's own ``alt.JupyterChart`` in the
same kernel is left as Altair ships it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import warnings
from importlib.metadata import version
from pathlib import Path

import altair as alt
from altair.jupyter.jupyter_chart import load_js_src

from rmx_widgets.widgets._assets import STATIC

_STATE = """    let finalize;
"""
_STATE_NEW = """    let finalize;
    // rmx-widgets: which reembed is the newest, and the live view's debounced reporters
    let rmxTurns = 0;
    const rmxPending = [];
    const rmxKeep = (handler) => { rmxPending.push(handler); return handler; };
"""
_FINALIZE_FIRST = """        if (finalize != null) {
          finalize();
        }
"""
_FINALIZE_FIRST_NEW = """        const rmxTurn = ++rmxTurns;  // the old view stays live meanwhile
"""
_CLEAR = """            // Remove any existing chart and return
"""
_CLEAR_NEW = """            if (finalize != null) {
              finalize();
              finalize = null;
            }
            // Remove any existing chart and return
"""
_EMBED = """        let api;
        try {
            api = await vegaEmbed(el, spec, embedOptions);
        } catch (error) {
            showError(error)
            return;
        }
"""
_EMBED_NEW = """        let api;
        const rmxTarget = rmxStage(el);
        try {
            api = await vegaEmbed(rmxTarget, spec, embedOptions);
        } catch (error) {
            if (rmxTurn === rmxTurns) {
                showError(error);
            } else {
                rmxTarget.remove();
            }
            return;
        }
        if (rmxTurn !== rmxTurns) {  // a newer spec came while this one was drawn: it wins
            api.finalize();
            rmxTarget.remove();
            return;
        }
        // a click on the old view reports before the new view's first report, then the swap
        for (const handler of rmxPending.splice(0)) {
            handler.flush();
        }
        if (finalize != null) {
            finalize();
        }
        rmxShow(el, rmxTarget);
"""
_SPEC = """        let spec = structuredClone(model.get("spec"));
"""
_SPEC_NEW = """        let spec = structuredClone(model.get("spec"));
        const rmxView = spec?.usermeta?.rmxView ?? null;  // which of the kernel's draws
"""
_REPORT = "newSelections[selectionName] = {value, store};"
_REPORT_NEW = "newSelections[selectionName] = {value, store, rmxView};"
_INITIAL = """                store: cleanJson(api.view.data(storeName) ?? [])
            }"""
_INITIAL_NEW = """                store: cleanJson(api.view.data(storeName) ?? []),
                rmxView,
                rmxInitial: true,
            }"""
_LISTEN = "lodashDebounce(selectionHandler, wait, debounceOpts));"
_LISTEN_NEW = "rmxKeep(lodashDebounce(selectionHandler, wait, debounceOpts)));"
_HELPERS = """

// rmx-widgets: draw a new view hidden on top of the live one, then swap them in one step
const RMX_STAGED = ["position", "left", "top", "visibility", "width"];

function rmxStage(el) {
    const target = document.createElement("div");
    if (el.childElementCount > 0) {
        if (getComputedStyle(el).position === "static") {
            el.style.position = "relative";
        }
        Object.assign(target.style, {
            position: "absolute", left: "0", top: "0", visibility: "hidden",
            width: `${el.clientWidth}px`,
        });
    }
    el.appendChild(target);
    return target;
}

function rmxShow(el, target) {
    let scroll = null;
    for (const child of Array.from(el.children)) {
        if (child !== target) {
            scroll = scroll ?? [child.scrollTop, child.scrollLeft];
            child.remove();
        }
    }
    for (const property of RMX_STAGED) {
        target.style.removeProperty(property);
    }
    if (scroll != null) {
        [target.scrollTop, target.scrollLeft] = scroll;
    }
}
"""
#: (what Altair's index.js says, what it says instead): each must occur exactly once
PATCHES = (
    (_STATE, _STATE_NEW),
    (_FINALIZE_FIRST, _FINALIZE_FIRST_NEW),
    (_SPEC, _SPEC_NEW),
    (_REPORT, _REPORT_NEW),
    (_INITIAL, _INITIAL_NEW),
    (_CLEAR, _CLEAR_NEW),
    (_EMBED, _EMBED_NEW),
    (_LISTEN, _LISTEN_NEW),
)


#: the spec's ``usermeta`` key the kernel numbers its draws by, and the keys the patched script
#: adds to each selection report: which draw reported, and whether it is that view's first
#: report (the selection it was built with, never a click)
VIEW_KEY = "rmxView"
INITIAL_KEY = "rmxInitial"


class PatchError(RuntimeError):
    """Altair's ``index.js`` no longer has a text the patch changes."""


#: names the patch in the bundle's file name, so a bundle built by an older patch is never read
PATCH_DIGEST = hashlib.sha256((repr(PATCHES) + _HELPERS).encode()).hexdigest()[:10]


def patched_source(source: str | None = None) -> str:
    """Altair's ``JupyterChart`` script (``source``; default the installed one) with redraws
    that keep a click (the module docstring says how); :class:`PatchError` when an anchor
    is missing or ambiguous, so nothing is half-patched."""
    text = load_js_src() if source is None else source
    for old, new in PATCHES:
        found = text.count(old)
        if found != 1:
            raise PatchError(
                f"Altair {alt.__version__}'s JupyterChart script has {found} copies of "
                f"{old.strip().splitlines()[0]!r} (expected 1)"
            )
        text = text.replace(old, new)
    return text + _HELPERS


def _strip_imports(source: str) -> str:
    """What vl-convert bundles: the script without its leading imports (it supplies them),
    as ``JupyterChart.enable_offline`` does."""
    lines = source.split("\n")
    while lines and (not lines[0].strip() or lines[0].startswith(("import", "//"))):
        lines.pop(0)
    return "\n".join(lines)


def bundle(script: str) -> str:
    """A ``JupyterChart`` script bundled with vega-embed by vl-convert (about a second), as
    ``JupyterChart.enable_offline`` bundles Altair's own."""
    import vl_convert as vlc
    from altair.utils._importers import vl_version_for_vl_convert

    return vlc.javascript_bundle(_strip_imports(script), vl_version=vl_version_for_vl_convert())


def build() -> str:
    """The patched script's offline bundle."""
    return bundle(patched_source())


def bundle_name() -> str:
    """The bundle's file name, keyed by the versions that produce it."""
    return (
        f"jupyterchart-offline-altair{alt.__version__}-vlconvert{version('vl-convert-python')}"
        f"-keptclick{PATCH_DIGEST}.js"
    )


def packaged_path() -> Path:
    """Where the install step writes the bundle (beside the front-end bundles)."""
    return STATIC / bundle_name()


def cache_path() -> Path:
    """Where a kernel caches a bundle it had to build (no packaged copy for these versions)."""
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rmx-widgets"
    return root / bundle_name()


def _write(path: Path, text: str) -> None:
    """Write atomically, so a kernel starting meanwhile never reads half a bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class KeptClickChart(alt.JupyterChart):
    """``alt.JupyterChart`` drawn by the patched offline bundle (:func:`enable_offline` sets
    it): the same Python API and traits, redraws that keep a click."""

    _is_offline = False


def enable_offline() -> None:
    """Give :class:`KeptClickChart` its bundle, with no network: the packaged one, else the
    user's cached one, else built now (and cached). An Altair the patch does not fit keeps
    its own offline bundle (a warning says clicks during a redraw may be lost)."""
    if KeptClickChart._is_offline:
        return
    for path in (packaged_path(), cache_path()):
        try:
            KeptClickChart._esm = path.read_text(encoding="utf-8")
            KeptClickChart._is_offline = True
            return
        except OSError:
            continue
    try:
        built = build()
    except PatchError as e:
        warnings.warn(
            f"{e}: the chart uses Altair's own redraw, which can lose a click made while it "
            "redraws; rmx-widgets supports the Altair versions its tests run on.",
            stacklevel=2,
        )
        KeptClickChart._esm = bundle(load_js_src())  # Altair's own, still no network
        KeptClickChart._is_offline = True
        return
    KeptClickChart._esm = built
    KeptClickChart._is_offline = True
    with contextlib.suppress(OSError):  # a read-only home only costs the rebuild next time
        _write(cache_path(), built)


def install(target: Path | None = None) -> Path:
    """Build the bundle and write it to ``target`` (default :func:`packaged_path`); what the
    install step runs."""
    path = target or packaged_path()
    _write(path, build())
    for stale in path.parent.glob("jupyterchart-offline-*.js"):  # older versions' bundles
        if stale != path:
            stale.unlink()
    return path
