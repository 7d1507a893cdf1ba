"""Streaming the explanation table to disk, so a 10,000-comparison job runs in flat memory.

Batches go straight to ``table.parquet`` (one row group per batch) and ``table.jsonl`` as they
land; only the text-free columns stay in memory, which is all that sensitivity, rankings and
summaries need. The few comparisons a report shows are read back from the Parquet file with a
filter. Files are written under a unique temporary name in the same folder (two writers never
share one) and moved into place atomically when complete, so a crash never leaves a truncated
table that looks finished (the store still holds every landed batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from rmx_widgets.core.confounders import ORIGINAL_WORDS, original_word_counts
from rmx_widgets.core.errors import DataError
from rmx_widgets.core.outputs import replace, temp_beside

TEXT_COLUMNS = ("prompt", "original", "perturbed")


def _arrow_type(series: pd.Series) -> pa.DataType:
    if pd.api.types.is_bool_dtype(series):
        return pa.bool_()
    if pd.api.types.is_integer_dtype(series):
        return pa.int64()
    if pd.api.types.is_float_dtype(series):
        return pa.float64()
    return pa.string()  # object columns may be all-None in one batch: fix them as strings


def _slim(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without its texts. ``length_change`` (text-free) stays, and the original's
    word count is kept as ``original_words`` so that the slim table can still be length
    controlled (``core.confounders``)."""
    slim = frame.drop(columns=[c for c in TEXT_COLUMNS if c in frame])
    if "original" in frame and ORIGINAL_WORDS not in frame:
        slim[ORIGINAL_WORDS] = original_word_counts(frame)
    return slim


class TableWriter:
    """Append explanation-table batches to Parquet + JSONL; keep a slim copy in memory.

    ``name`` is the files' stem: ``table`` for the run's table, ``null_table`` for its null.
    """

    def __init__(self, out_dir: str | Path, name: str = "table") -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.parquet_path = self.out_dir / f"{name}.parquet"
        self.jsonl_path = self.out_dir / f"{name}.jsonl"
        self._tmp_parquet = temp_beside(self.parquet_path)
        self._tmp_jsonl = temp_beside(self.jsonl_path)
        self._jsonl = self._tmp_jsonl.open("w", encoding="utf-8")
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._columns: list[str] | None = None
        self._slim: list[pd.DataFrame] = []  # the latest batches, compacted 64 at a time
        self._blocks: list[pd.DataFrame] = []  # into blocks, concatenated once at the end
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self._writer is None:
            self._columns = list(frame.columns)
            self._schema = pa.schema([(c, _arrow_type(frame[c])) for c in self._columns])
            self._writer = pq.ParquetWriter(self._tmp_parquet, self._schema)
        self._writer.write_table(
            pa.Table.from_pandas(frame[self._columns], schema=self._schema, preserve_index=False)
        )
        frame.to_json(self._jsonl, orient="records", lines=True, force_ascii=False)
        if len(frame):
            self._jsonl.write("\n")
        self._slim.append(_slim(frame))
        if len(self._slim) >= 64:  # one frame per batch costs more than its rows: compact
            # (the last 64 only: re-concatenating everything so far made a long run quadratic)
            self._blocks.append(pd.concat(self._slim, ignore_index=True))
            self._slim = []
        self.rows += len(frame)

    def close(self, empty_columns: Sequence[str] | None = None) -> None:
        """Finish both files and move them into place."""
        if self._writer is None:  # nothing landed: still write a valid empty table
            cols = list(empty_columns or [])
            self._schema = pa.schema([(c, pa.string()) for c in cols])
            self._writer = pq.ParquetWriter(self._tmp_parquet, self._schema)
            self._columns = cols
        self._writer.close()
        self._jsonl.close()
        replace(self._tmp_parquet, self.parquet_path)
        replace(self._tmp_jsonl, self.jsonl_path)

    def abort(self) -> None:
        """Drop the partial files (the store keeps every landed batch; a rerun rewrites them)."""
        if self._writer is not None:
            self._writer.close()
        self._jsonl.close()
        for tmp in (self._tmp_parquet, self._tmp_jsonl):
            tmp.unlink(missing_ok=True)

    def slim_table(self) -> pd.DataFrame:
        """Every row without its texts (plus ``original_words``): what sensitivity and
        rankings need."""
        parts = self._blocks + self._slim
        if not parts:
            return pd.DataFrame(columns=[c for c in (self._columns or []) if c not in TEXT_COLUMNS])
        whole = pd.concat(parts, ignore_index=True)
        self._blocks, self._slim = [whole], []  # one copy kept, not the parts beside it
        return whole

    def rows_for(self, comparison_ids: Sequence[str]) -> pd.DataFrame:
        """Full rows (texts included) of a few comparisons, read back from the Parquet file."""
        if not comparison_ids:
            return pd.DataFrame(columns=self._columns or [])
        return pq.read_table(
            self.parquet_path, filters=[("comparison_id", "in", list(comparison_ids))]
        ).to_pandas()


NULL_TABLE_STEM = "null_table"


#: The columns a saved table must have to be an explanation table (what sensitivity reads).
TABLE_KEY_COLUMNS = (
    "comparison_id",
    "attribute",
    "direction",
    "outcome",
    "margin_before",
    "margin_after",
)


def read_table(path: str | Path) -> pd.DataFrame:
    """A saved explanation table: ``.parquet`` or ``.jsonl`` (JSON lines). Any other file, one
    that does not parse, or one without the table's key columns raises a :class:`DataError`
    naming the file (a missing or unreadable file stays an ``OSError``)."""
    path = Path(path)
    what = "give the table.parquet or table.jsonl that `rmx explain` wrote"
    if path.suffix not in (".parquet", ".jsonl", ".json"):
        raise DataError(
            f"is not a saved explanation table (.parquet or .jsonl); {what}.", source=str(path)
        )
    try:
        if path.suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            table = pd.read_json(path, lines=True)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as e:  # pyarrow and pandas raise many types for a corrupt file
        kind = "Parquet" if path.suffix == ".parquet" else "JSON lines"
        reason = " ".join(str(e).split())[:200]
        raise DataError(
            f"cannot be read as {kind} ({type(e).__name__}: {reason!r}); the file is corrupt or "
            f"not a table; {what}.",
            source=str(path),
        ) from None
    missing = [c for c in TABLE_KEY_COLUMNS if c not in table.columns]
    if missing:
        raise DataError(
            f"is not an explanation table: column(s) {', '.join(missing)} missing; {what}.",
            source=str(path),
        )
    if "valid" in table.columns:  # Parquet gives None objects back, JSON lines 1.0 / 0.0 / NaN
        from rmx_widgets.core.validity_rates import valid_flags

        table["valid"] = valid_flags(table.drop(columns=["outcome"]))
    return table


def null_table_beside(table_path: str | Path) -> pd.DataFrame | None:
    """The null table saved beside a run's ``table.parquet`` / ``table.jsonl`` (the same
    format preferred, then either), or ``None`` when the run has none."""
    table_path = Path(table_path)
    if table_path.stem != "table":  # a table not written by a run (or the null itself)
        return None
    folder = table_path.parent
    candidates = [folder / f"{NULL_TABLE_STEM}{table_path.suffix}"]
    candidates += [folder / f"{NULL_TABLE_STEM}{ext}" for ext in (".parquet", ".jsonl")]
    for candidate in candidates:
        if candidate.exists() and candidate != table_path:
            return read_table(candidate)
    return None
