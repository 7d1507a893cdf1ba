"""The chart's offline Vega bundle: built once at install, never in a kernel's first draw.

``altair.JupyterChart`` fetches vega-embed from a CDN unless it is given an offline bundle,
and vl-convert builds that bundle in about a second: more than half of a cold Explorer's
first render when each new kernel (or a fresh ``HOME``) paid it. So the bundle is built at
install (``make install`` runs :func:`install`, which writes
it beside the front-end bundles in ``rmx_widgets/static/``, so a wheel built after it ships
it; the build hook does the same when it can import Altair) and a kernel only reads it.
Where no packaged copy matches the installed Altair and vl-convert (an install that skipped
the step, or upgraded one of them), the bundle is built on first use and cached under the
user's cache directory, so that cost is paid once per installation, not per kernel. The
file names carry both versions: a stale bundle is never read.
"""

from __future__ import annotations

import contextlib
import os
from importlib.metadata import version
from pathlib import Path

import altair as alt

from rmx_widgets.widgets._assets import STATIC


def bundle_name() -> str:
    """The bundle's file name, keyed by the versions that produce it."""
    return (
        f"jupyterchart-offline-altair{alt.__version__}-vlconvert{version('vl-convert-python')}.js"
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


def enable_offline() -> None:
    """Make every ``JupyterChart`` of this process draw without a network: the packaged
    bundle, else the user's cached one, else built now (and cached)."""
    if alt.JupyterChart._is_offline:
        return
    for path in (packaged_path(), cache_path()):
        try:
            alt.JupyterChart._esm = path.read_text(encoding="utf-8")
            alt.JupyterChart._is_offline = True
            return
        except OSError:
            continue
    alt.JupyterChart.enable_offline()
    with contextlib.suppress(OSError):  # a read-only home only costs the rebuild next time
        _write(cache_path(), alt.JupyterChart._esm)


def install(target: Path | None = None) -> Path:
    """Build the bundle (Altair's own ``JupyterChart.enable_offline``, which runs vl-convert)
    and write it to ``target`` (default :func:`packaged_path`); what the install step runs."""
    path = target or packaged_path()
    if not alt.JupyterChart._is_offline:
        alt.JupyterChart.enable_offline()
    _write(path, alt.JupyterChart._esm)
    return path
