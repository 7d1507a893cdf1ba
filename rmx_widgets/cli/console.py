"""How the CLI prints messages and warnings: one readable line each, no traceback."""

from __future__ import annotations

import sys
from typing import Any


def one_line(text: str) -> str:
    """Messages may quote multi-line library errors; the CLI prints exactly one line."""
    return " ".join(text.split())


def show_warning(
    message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """``warnings.showwarning`` for the CLI: ``rmx: warning: ...`` on one line, no source."""
    print(f"rmx: warning: {one_line(str(message))}", file=sys.stderr)
