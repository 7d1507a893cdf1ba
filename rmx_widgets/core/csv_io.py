"""CSV in and out: the loader's strict reading of a comparisons CSV, and the one writer every CSV
export goes through (cells that a spreadsheet would run as a formula are escaped).

Reading: every cell is text. A duplicated header is refused (``csv.DictReader`` would keep the
last column silently); a cell may be as large as the input-size limit allows (the ``csv``
module's default of 128 KB per field is lifted for the read); only the prompt column may hold a
chat prompt, by one rule (:func:`prompt_cell`). Writing: :func:`write_csv` prefixes a text cell
that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return with a single quote
(OWASP's advice against CSV injection); numbers are written as they are. Loading such a file
back keeps the quote: the loader never strips it.
"""

from __future__ import annotations

import contextlib
import csv
import json
import re
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rmx_widgets.core.errors import DataError

#: The first characters that make a spreadsheet read a cell as a formula (OWASP, "CSV
#: Injection"): ``=``, ``+``, ``-``, ``@``, and tab and carriage return, which some spreadsheets
#: skip before looking for one.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

#: The widest ``csv.field_size_limit`` every platform accepts (a C ``long`` on Windows).
_MAX_FIELD = 2**31 - 1
_FIELD_LOCK = threading.Lock()

#: A prompt cell that is a chat prompt: after surrounding whitespace, ``[`` then ``{`` ...
#: ``]`` (a JSON array of objects).
_MESSAGES_SHAPE = re.compile(r"\A\s*\[\s*\{.*\]\s*\Z", re.DOTALL)


@contextlib.contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """``csv.field_size_limit`` raised to ``limit`` for one read (it is process-wide state)."""
    with _FIELD_LOCK:
        old = csv.field_size_limit()
        csv.field_size_limit(max(old, min(limit, _MAX_FIELD)))
        try:
            yield
        finally:
            csv.field_size_limit(old)


def read_csv_rows(
    lines: Iterable[str], source: str, *, max_cell: int
) -> list[dict[str, str | None]]:
    """The rows of a comparisons CSV (its decoded lines, endings kept) as ``{header: cell}``,
    every cell a string (``None`` for a cell missing at the end of a short row), or the
    :class:`DataError` naming the file, the row (as a spreadsheet numbers it: the header is
    row 1, blank lines are skipped) and the field.
    ``max_cell`` is the largest cell accepted, in characters."""
    rows: list[dict[str, str | None]] = []
    with _field_limit(max_cell):
        reader = csv.reader(lines)
        try:
            header = next(reader, None)
            if header is None:
                raise DataError("is empty; it needs a header and at least one row.", source=source)
            _check_header(header, source)
            for cells in reader:
                if not cells:  # a blank line, skipped as csv.DictReader does
                    continue
                if len(cells) > len(header):
                    raise DataError(
                        f"has {len(cells) - len(header)} more cell(s) than the header; quote "
                        "cells that contain commas.",
                        source=source,
                        row=len(rows) + 2,
                    )
                row: dict[str, str | None] = dict.fromkeys(header)
                row.update(zip(header, cells))
                rows.append(row)
        except csv.Error as e:
            if "field larger than field limit" in str(e):
                raise DataError(
                    f"has a cell over {max_cell:,} characters, the input-size limit; split the "
                    "file or raise the limit (max_bytes=, RMX_MAX_INPUT_MB).",
                    source=source,
                    row=len(rows) + 2,
                ) from None
            raise DataError(f"is not valid CSV ({e}).", source=source, row=len(rows) + 2) from None
    if not rows:
        raise DataError("is empty; it needs a header and at least one row.", source=source)
    return rows


def _check_header(header: list[str], source: str) -> None:
    seen: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in seen:
            raise DataError(
                f"has the header {name!r} twice (columns {seen[name]} and {i}); a CSV "
                "column name must be unique, so rename or remove one.",
                source=source,
                row=1,
                field=name,
            )
        seen[name] = i


def prompt_cell(value: str, *, source: str, row: int, field_name: str) -> Any:
    """A CSV prompt cell: a chat prompt when the cell, less surrounding whitespace, starts with
    ``[`` and ``{`` and ends with ``]`` (a JSON array of message objects), which must then be
    valid JSON (and valid messages, checked by the loader); any other cell is plain text."""
    if not _MESSAGES_SHAPE.match(value):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as e:
        raise DataError(
            f"looks like a JSON list of chat messages ('[{{...}}]') but is not valid JSON "
            f"({e.msg} at character {e.pos}); fix it, or give a prompt that is this text in a "
            "JSONL file.",
            source=source,
            row=row,
            field=field_name,
        ) from None


def spreadsheet_safe(value: Any) -> Any:
    """``value`` with a leading single quote when it is text a spreadsheet would run as a
    formula (see :data:`FORMULA_START`); anything else, numbers included, unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def escape_frame(frame: Any) -> Any:
    """A copy of a DataFrame with every text cell and column name made :func:`spreadsheet_safe`
    (numeric, boolean and datetime columns are not touched)."""
    from pandas.api import types

    out = frame.copy()
    for col in out.columns:
        dtype = out[col].dtype
        if not (
            types.is_numeric_dtype(dtype)
            or types.is_bool_dtype(dtype)
            or types.is_datetime64_any_dtype(dtype)
            or types.is_timedelta64_dtype(dtype)
        ):  # object, str, string and category columns: text may be anywhere in them
            out[col] = out[col].astype(object).map(spreadsheet_safe)
    out.columns = [spreadsheet_safe(c) for c in out.columns]
    return out


def write_csv(frame: Any, path: str | Path, **kwargs: Any) -> None:
    """``frame.to_csv(path, index=False, **kwargs)`` with formula-like text escaped: the one
    way rmx writes a CSV (result and study tables, annotation exports). Lines end in CRLF (RFC
    4180): the csv module quotes a cell only for the characters of its line terminator, so with
    a bare ``\n`` a carriage return inside a cell would be written raw and split the row."""
    kwargs.setdefault("lineterminator", "\r\n")
    escape_frame(frame).to_csv(path, index=False, **kwargs)
