"""Reading input files within bounds: the input-size limit and line-by-line UTF-8 decoding.

Every comparisons file (JSONL, JSON, CSV, Parquet) is checked against the input-size limit
*before* it is read: its size on disk (``stat``) and, for Parquet, the uncompressed size its
metadata declares. The default is :data:`DEFAULT_MAX_INPUT_BYTES` (512 MiB); the environment
variable ``RMX_MAX_INPUT_MB`` (read by the CLI too) or ``load_comparisons(..., max_bytes=)``
changes it. JSONL and CSV are then read line by line, so memory holds the parsed rows, not
several copies of the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from rmx_widgets.core.errors import DataError, OptionError

#: The largest input file read by default: 512 MiB.
DEFAULT_MAX_INPUT_BYTES = 512 * 2**20
#: The environment variable that overrides the default, in MiB (``RMX_MAX_INPUT_MB=2048``).
MAX_INPUT_ENV = "RMX_MAX_INPUT_MB"

_BOM = b"\xef\xbb\xbf"


def max_input_bytes(max_bytes: int | None = None) -> int:
    """The input-size limit in bytes: ``max_bytes`` when given, else ``RMX_MAX_INPUT_MB``, else
    the default. A limit that is not a whole number >= 1 raises :class:`OptionError`."""
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 1:
            raise OptionError(f"max_bytes must be a whole number >= 1, got {max_bytes!r}.")
        return max_bytes
    raw = os.environ.get(MAX_INPUT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        mb = float(raw)
    except ValueError:
        mb = 0.0
    if not (mb > 0 and mb < 2**44):  # also refuses nan and inf
        raise OptionError(
            f"{MAX_INPUT_ENV} must be a positive number of MiB, got {raw[:40]!r}; unset it "
            f"for the default ({describe(DEFAULT_MAX_INPUT_BYTES)})."
        )
    return max(1, int(mb * 2**20))


def describe(n: int) -> str:
    """``n`` bytes for a message: ``"512 MiB"``, ``"1.5 GiB"``, ``"300 bytes"``."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


def check_size(path: Path, limit: int) -> None:
    """Refuse a file larger than ``limit`` bytes, before reading any of it."""
    if not path.is_file():
        return  # a Parquet dataset folder: checked by its metadata
    size = path.stat().st_size
    if size > limit:
        raise DataError(_over(f"is {describe(size)}", limit), source=str(path))


def _over(what: str, limit: int) -> str:
    return (
        f"{what}, over the input-size limit of {describe(limit)}; split the file, or raise the "
        f"limit with load_comparisons(..., max_bytes=N) or {MAX_INPUT_ENV}=N (MiB)."
    )


def check_parquet_size(path: Path, limit: int) -> None:
    """Refuse a Parquet file whose uncompressed data (from its footer) exceeds ``limit``: a
    small, well-compressed file can still hold gigabytes of text. A file whose footer cannot be
    read is left to the reader, which reports it."""
    if not path.is_file():
        return
    try:
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        total = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    except Exception:  # corrupt or not Parquet: the read that follows names the problem
        return
    if total > limit:
        raise DataError(
            _over(f"holds {describe(total)} of uncompressed data", limit), source=str(path)
        )


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` for each line of a UTF-8 file (an optional byte-order mark
    skipped, line endings kept), read one line at a time; bad UTF-8 raises a
    :class:`DataError` naming the line and the byte offset in the file."""
    offset = 0
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            start = 3 if n == 1 and raw.startswith(_BOM) else 0
            try:
                text = raw[start:].decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(
                    f"is not valid UTF-8 (byte {offset + start + e.start}); re-save the file "
                    "as UTF-8.",
                    source=str(path),
                    row=n,
                ) from None
            offset += len(raw)
            yield n, text
