"""The command-line face: ``rmx demo | explain | evaluate | report | lab``.

A thin layer over the engine: it parses arguments, builds the RMs and perturbers from their
specs (:mod:`rmx_widgets.core.specs`, the one vocabulary every subcommand and the Python API
share), runs the engine and prints what it found. User mistakes (``RMXError``) and unusable
files (``OSError``; a full disk also says to free space) print one readable line, ``rmx: error:
...``, and exit 2 — no traceback (a store that is full or corrupt is a ``StoreError``);
Ctrl-C exits 130 and says the store keeps what landed. Outputs are written only after a run
succeeds, so a failed run leaves no table, report or summary behind (the store keeps its cache).

The subcommands live in ``explain`` (demo, explain), ``evaluate`` and ``tools`` (report, lab);
the flags they share are declared once, in ``options``.
"""

from __future__ import annotations

import argparse
import errno
import sys
import warnings
from typing import NoReturn

from rmx_widgets.cli import attributes, evaluate, explain, tools
from rmx_widgets.cli.console import one_line, show_warning
from rmx_widgets.cli.tools import lab_command
from rmx_widgets.core.errors import RMXError

__all__ = ["build_parser", "lab_command", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's one-line errors: a bad flag (``--limit -1``, an unknown choice, a
    missing ``--data``) prints ``rmx: error: <subcommand>: <what>`` and exits 2, like every
    other user mistake, before anything is loaded or written. Subcommands inherit it."""

    def error(self, message: str) -> NoReturn:
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in one_line(message))
        where = self.prog.removeprefix("rmx").strip()  # the subcommand
        prefix = f"{where}: " if where else ""
        self.exit(2, f"rmx: error: {prefix}{text} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="rmx",
        description="Contrastive explanations for reward "
        "models: which attributes of a response drive an RM's "
        "preferences.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    explain.add_parsers(sub)
    evaluate.add_parser(sub)
    tools.add_parsers(sub)
    attributes.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show_warning
            args.func(args)
    except RMXError as e:
        print(f"rmx: error: {one_line(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # an unreadable input, an unwritable output folder, a full disk
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        full = e.errno == errno.ENOSPC or "No space left on device" in str(e)
        hint = "; the disk is full: free some space and rerun (the store keeps what landed)"
        text = one_line(e.strerror or str(e)) + (hint if full else "")
        print(f"rmx: error: {where}{text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "rmx: interrupted; finished batches are in the store, rerun to resume.", file=sys.stderr
        )
        return 130
    return 0
