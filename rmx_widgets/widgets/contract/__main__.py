"""``python -m rmx_widgets.widgets.contract``: write (or --check) js/src/contract.json.

Kept apart from the declarations so that running it does not execute the package a second time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rmx_widgets.widgets.contract import SCHEMA_PATH, schema_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rmx_widgets.widgets.contract",
        description="Write the widget contract as JSON schema (then run `npm run contract` "
        "in js/ for the TypeScript types).",
    )
    parser.add_argument("--out", type=Path, default=SCHEMA_PATH, help="default: %(default)s")
    parser.add_argument(
        "--check",
        action="store_true",
        help="only report whether the file is up to date (exit 1 if not)",
    )
    args = parser.parse_args(argv)
    text = schema_text()
    current = args.out.read_text(encoding="utf-8") if args.out.exists() else None
    if args.check:
        if current != text:
            print(
                f"{args.out} is out of date; run python -m rmx_widgets.widgets.contract",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
