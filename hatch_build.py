"""Hatch build hook: build the front-end bundles (js/ → rmx_widgets/static/) into the wheel.

The bundles are generated, so they are git-ignored; a wheel or sdist built from a clean clone
must still carry them, hence this hook. It is a no-op when the bundles exist and are newer than
every source file (``make`` builds them first).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLES = (
    "comparison_view.js",
    "attribute_picker.js",
    "annotator.js",
    "sensitivity_summary.js",
    "widgets.css",
)


class JSBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        js, static = root / "js", root / "rmx_widgets" / "static"
        if not js.exists():  # building from an sdist that already carries the bundles
            return
        _offline_chart_bundle(root)
        sources = [p for p in (js / "src").rglob("*") if p.is_file()]
        newest = max((p.stat().st_mtime for p in sources), default=0.0)
        built = [static / b for b in BUNDLES]
        if all(b.exists() and b.stat().st_mtime >= newest for b in built):
            return
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "building rmx-widgets needs Node.js and npm for the front-end "
                "bundles (js/); install Node 20+ and retry."
            )
        if not (js / "node_modules").exists():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=js, check=True)
        subprocess.run([npm, "run", "build"], cwd=js, check=True)


def _offline_chart_bundle(root: Path) -> None:
    """The chart's offline Vega bundle (rmx_widgets/widgets/offline_bundle.py) into static/,
    when this build environment has Altair and vl-convert (an isolated one usually does not:
    then the first kernel builds it once and caches it per user). A failure here only costs
    that first build, so it does not stop the wheel."""
    try:
        import altair  # noqa: F401
        import vl_convert  # noqa: F401
    except ImportError:
        return
    code = "from rmx_widgets.widgets.offline_bundle import install; install()"
    subprocess.run([sys.executable, "-c", code], cwd=root, check=False)
