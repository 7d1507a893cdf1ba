"""Streaming the explanation table to disk, so a 100,000-comparison job runs in flat memory.

Batches go to ``table.jsonl`` as they land and to ``table.parquet`` in row groups of
``ROW_GROUP_ROWS`` rows; only the text-free columns stay in memory, which is all that
sensitivity, rankings and summaries need. A Parquet writer keeps every row group's metadata
(each column's offsets and statistics) in memory until it writes the footer, so one row group
per 128-row batch, with min/max statistics over long texts, made that metadata grow with the run
(about 17 MiB per 10,000 comparisons, measured: ``bench/streaming.py``). Row groups of 4,096
rows, and no statistics on the text columns (min/max of free text prunes nothing; the
``comparison_id`` statistics that ``rows_for`` filters on are kept), make it 32 times fewer
entries. The few comparisons a report shows are read back from the Parquet file with a
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
from pandas.api.types import union_categoricals

from rmx_widgets.core.confounders import ORIGINAL_WORDS, original_word_counts
from rmx_widgets.core.errors import DataError
from rmx_widgets.core.outputs import replace, temp_beside

TEXT_COLUMNS = ("prompt", "original", "perturbed")

#: Rows per Parquet row group: small enough that the rows buffered before one is written cost
#: a few MB, large enough that the writer's per-row-group metadata stays small.
ROW_GROUP_ROWS = 4096


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


def _compact(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """``frames`` as one block whose text columns are categoricals: a run's slim table repeats
    a handful of values (attribute, direction, side, outcome, perturber, RM, failure reason)
    and each comparison's id 8 times, so each row costs a code instead of a string (about
    285 → 95 bytes a row measured)."""
    block = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    for c in block.columns:
        if isinstance(block[c].dtype, pd.StringDtype):
            block[c] = block[c].astype("category")
    return block


def _concat_blocks(blocks: list[pd.DataFrame]) -> pd.DataFrame:
    """The blocks as one table, each categorical column's categories united (``pd.concat``
    would turn categoricals with different categories into objects, i.e. a copy of every
    string)."""
    if len(blocks) == 1:
        return blocks[0]
    columns = list(blocks[0].columns)
    if any(list(b.columns) != columns for b in blocks):  # columns differ: plain values
        plain = [b.astype({c: b[c].cat.categories.dtype for c in _categorical(b)}) for b in blocks]
        return pd.concat(plain, ignore_index=True)
    whole = {}
    for c in columns:
        parts = [b[c] for b in blocks]
        if all(isinstance(p.dtype, pd.CategoricalDtype) for p in parts):
            whole[c] = pd.Series(union_categoricals(parts), name=c)
        else:
            whole[c] = pd.concat(parts, ignore_index=True)
    return pd.DataFrame(whole)


def _categorical(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.CategoricalDtype)]


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
        self._pending: list[pa.Table] = []  # batches not yet written as a row group
        self._pending_rows = 0
        self._schema: pa.Schema | None = None
        self._columns: list[str] | None = None
        self._slim: list[pd.DataFrame] = []  # the latest batches, compacted 64 at a time
        self._blocks: list[pd.DataFrame] = []  # into blocks, concatenated once at the end
        self.rows = 0

    def write(self, frame: pd.DataFrame) -> None:
        if self._writer is None:
            self._columns = list(frame.columns)
            self._schema = pa.schema([(c, _arrow_type(frame[c])) for c in self._columns])
            self._writer = self._open(self._schema)
        self._pending.append(
            pa.Table.from_pandas(frame[self._columns], schema=self._schema, preserve_index=False)
        )
        self._pending_rows += len(frame)
        if self._pending_rows >= ROW_GROUP_ROWS:
            self._flush()
        frame.to_json(self._jsonl, orient="records", lines=True, force_ascii=False)
        if len(frame):
            self._jsonl.write("\n")
        self._slim.append(_slim(frame))
        if len(self._slim) >= 64:  # one frame per batch costs more than its rows: compact
            # (the last 64 only: re-concatenating everything so far made a long run quadratic)
            self._blocks.append(_compact(self._slim))
            self._slim = []
        self.rows += len(frame)

    def _open(self, schema: pa.Schema) -> pq.ParquetWriter:
        stats = [c for c in schema.names if c not in TEXT_COLUMNS]
        return pq.ParquetWriter(self._tmp_parquet, schema, write_statistics=stats)

    def _flush(self) -> None:
        """Write the buffered batches as one row group."""
        if self._pending and self._writer is not None:
            table = pa.concat_tables(self._pending)
            self._writer.write_table(table, row_group_size=max(len(table), 1))
        self._pending, self._pending_rows = [], 0

    def close(self, empty_columns: Sequence[str] | None = None) -> None:
        """Finish both files and move them into place."""
        if self._writer is None:  # nothing landed: still write a valid empty table
            cols = list(empty_columns or [])
            self._schema = pa.schema([(c, pa.string()) for c in cols])
            self._writer = self._open(self._schema)
            self._columns = cols
        self._flush()
        self._writer.close()
        self._jsonl.close()
        replace(self._tmp_parquet, self.parquet_path)
        replace(self._tmp_jsonl, self.jsonl_path)

    def abort(self) -> None:
        """Drop the partial files (the store keeps every landed batch; a rerun rewrites them)."""
        self._pending, self._pending_rows = [], 0
        if self._writer is not None:
            self._writer.close()
        self._jsonl.close()
        for tmp in (self._tmp_parquet, self._tmp_jsonl):
            tmp.unlink(missing_ok=True)

    def slim_table(self) -> pd.DataFrame:
        """Every row without its texts (plus ``original_words``): what sensitivity and
        rankings need. Its text columns are categoricals (``_compact``): the same values,
        a fraction of the memory."""
        parts = self._blocks + ([_compact(self._slim)] if self._slim else [])
        if not parts:
            return pd.DataFrame(columns=[c for c in (self._columns or []) if c not in TEXT_COLUMNS])
        whole = _concat_blocks(parts)
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
