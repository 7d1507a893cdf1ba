"""``rmx report`` (the HTML report of a saved table) and ``rmx lab`` (JupyterLab)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rmx_widgets.cli import options
from rmx_widgets.core.errors import RMXError


def add_parsers(sub: Any) -> None:
    r = sub.add_parser("report", help="write the HTML report of a saved table")
    r.add_argument(
        "--table",
        required=True,
        help="table.parquet or table.jsonl of a run (its null_table beside it is used too)",
    )
    r.add_argument("--out", required=True, help="HTML file to write")
    r.add_argument("--title", default="rmx-widgets report")
    r.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --out file that rmx did not write",
    )
    r.set_defaults(func=cmd_report)

    lab = sub.add_parser("lab", help="start JupyterLab on the tutorial notebooks (127.0.0.1)")
    lab.add_argument("--dir", default="notebooks", help="folder to open (default notebooks/)")
    lab.add_argument(
        "--port", type=options.PORT, default=None, help="1 to 65535 (default: JupyterLab's)"
    )
    lab.set_defaults(func=cmd_lab)


def cmd_report(args: argparse.Namespace) -> None:
    from rmx_widgets.core.outputs import check_file, check_outputs
    from rmx_widgets.core.report import write_report
    from rmx_widgets.core.result import sensitivity_with_null
    from rmx_widgets.core.table_io import null_table_beside, read_table

    src = Path(args.table)
    nulls = [src.parent / f"null_table{ext}" for ext in (".parquet", ".jsonl")]
    check_outputs([src, *nulls], [args.out])  # before reading: the table must survive
    if not src.exists():
        raise RMXError(f"{src}: no such file; give the table.parquet of a run.")
    check_file(args.out, force=args.force)
    table = read_table(src)
    null = null_table_beside(src)  # the run's null_table.parquet, when it has one
    sens = sensitivity_with_null(table, null)
    path = write_report(table, args.out, title=args.title, sens=sens)
    print(f"Wrote {path}")


def lab_command(folder: Path, port: int | None = None) -> list[str]:
    """JupyterLab bound to loopback; it prints the URL with its token itself."""
    import os

    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--ip",
        "127.0.0.1",
        "--no-browser",
        f"--ServerApp.root_dir={folder}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI machines run as root
        cmd.append("--allow-root")
    return cmd + ([f"--port={port}"] if port else [])


def cmd_lab(args: argparse.Namespace) -> None:
    import importlib.util
    import subprocess

    folder = Path(args.dir).resolve()
    if not folder.is_dir():
        raise RMXError(
            f"{folder}: no such folder; run `rmx lab` from a clone of rmx-widgets or pass --dir."
        )
    if importlib.util.find_spec("jupyterlab") is None:
        raise RMXError("JupyterLab is not installed: pip install 'rmx-widgets[lab]'.")
    raise SystemExit(subprocess.call(lab_command(folder, args.port)))
