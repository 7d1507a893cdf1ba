"""Where the built front-end bundles live (generated from js/ by esbuild, shipped in the wheel)."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def bundle(name: str) -> Path:
    """Path of a built bundle; a clear error instead of a blank widget when it was not built."""
    path = STATIC / name
    if not path.exists():
        raise FileNotFoundError(
            f"front-end bundle {path} is missing; build it with `make js` "
            "(cd js && npm ci && npm run build)."
        )
    return path
