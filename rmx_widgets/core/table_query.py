"""One page of the explanation table: filter, search, sort, cut (the rewrite table's engine).

The rewrite table in the browser shows 100,000 rows by asking the kernel for one page at a time;
this module answers those requests with pandas and numpy only (no Jupyter), so it is tested by
hand and reused by any face. Every request comes from a browser and is untrusted:
:func:`parse_query` and :func:`parse_page` accept exactly the documented shapes (known
columns, bounded sizes and lengths, finite numbers) and raise :class:`QueryError` with one
readable line for anything else, so a widget can answer with that line instead of raising
inside its comm.

Beside the fixed :data:`COLUMNS`, a table carries its own extra columns
(:func:`table_columns`): each ``slice.<field>`` of the input (``core.slices``: domain, subset,
source, human label; text, sorted and searched) and each ``objective.<name>.delta`` of a
multi-objective RM (``core.objectives``; numbers, sorted and range-filtered). A request is
checked against the columns of *its* table: a column another table has is still refused.

The derived column ``margin_change`` is ``margin_after - margin_before`` (the change of the RM's
preference margin a rewrite caused; NaN for a failed rewrite). Sorting puts missing values last
in either direction and breaks ties by row id, so a page never reorders between requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from rmx_widgets.core.csv_io import write_csv
from rmx_widgets.core.errors import OutputError, RMXError
from rmx_widgets.core.outputs import atomic_path, claim_outputs

ColumnKind = Literal["text", "number", "boolean"]

#: The columns a page carries, in display order, with their kind (what sorting and range
#: filters may use); ``margin_change`` is derived, the rest are explanation-table columns.
COLUMNS: dict[str, ColumnKind] = {
    "comparison_id": "text",
    "attribute": "text",
    "side": "text",
    "direction": "text",
    "outcome": "text",
    "margin_before": "number",
    "margin_after": "number",
    "margin_change": "number",
    "syntactic_distance": "number",
    "semantic_distance": "number",
    "length_change": "number",
    "valid": "boolean",
    "perturbed": "text",
    "failure_reason": "text",
    "perturber": "text",
}
NUMERIC_COLUMNS = tuple(c for c, kind in COLUMNS.items() if kind == "number")
SLICE_PREFIX = "slice."
#: what the free-text search looks in (case-insensitive substring), with every slice column
SEARCH_COLUMNS = ("comparison_id", "attribute", "perturbed", "failure_reason")
SIDES = ("all", "chosen", "rejected")
OUTCOMES = ("all", "CF", "SF", "failed")
VALIDITIES = ("all", "valid", "invalid", "unjudged")
SORT_DIRECTIONS = ("asc", "desc")
MAX_PAGE_SIZE = 500
MAX_SEARCH_CHARS = 200
MAX_SORT_KEYS = 4
MAX_ATTRIBUTE_CHARS = 200
MAX_PAGE = 10_000_000
EXPORT_FORMATS = ("csv", "parquet")


class QueryError(RMXError, ValueError):
    """A table request the engine does not accept (unknown column, wrong type, out of range)."""


@dataclass(frozen=True)
class RangeFilter:
    """Keep rows whose ``column`` lies in [low, high] (either bound may be open: None); a row
    whose value is missing is dropped once a bound is set."""

    column: str
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class TableQuery:
    """Which rows, in which order: every filter is ANDed; ``sort`` is (column, "asc"/"desc")
    keys, the first the most significant."""

    sort: tuple[tuple[str, str], ...] = ()
    search: str = ""
    attribute: str = ""
    side: str = "all"
    outcome: str = "all"
    validity: str = "all"
    ranges: tuple[RangeFilter, ...] = field(default_factory=tuple)

    @property
    def filtered(self) -> bool:
        """Whether anything but the order narrows the rows."""
        return self != TableQuery(sort=self.sort)


@dataclass(frozen=True)
class Page:
    """One page of the query's rows (``rows`` keeps the table's row ids as its index);
    ``total`` counts every matching row, ``last_page`` is 1-based and at least 1."""

    rows: pd.DataFrame
    page: int
    page_size: int
    total: int
    last_page: int


def _text(raw: Any, name: str, limit: int) -> str:
    if not isinstance(raw, str):
        raise QueryError(f"{name} must be text, got {type(raw).__name__}.")
    if len(raw) > limit:
        raise QueryError(f"{name} is {len(raw)} characters; at most {limit} are accepted.")
    return raw


def _choice(raw: Any, name: str, allowed: Sequence[str]) -> str:
    if raw not in allowed:
        raise QueryError(f"{name} must be one of {', '.join(allowed)}; got {raw!r:.60}.")
    return str(raw)


def _column(raw: Any, name: str, allowed: Sequence[str]) -> str:
    """A column name among ``allowed``; the refusal lists them, cut to one readable line
    (a table with 32 slices would otherwise print them all)."""
    if raw in allowed:
        return str(raw)
    listed = ", ".join(allowed)
    listed = listed if len(listed) <= 300 else listed[:299] + "…"
    raise QueryError(f"{name} must be a column of this table ({listed}); got {raw!r:.60}.")


def _int(raw: Any, name: str, low: int, high: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise QueryError(f"{name} must be a whole number, got {type(raw).__name__}.")
    if not low <= raw <= high:
        raise QueryError(f"{name} must be between {low} and {high}, got {raw}.")
    return raw


def _bound(raw: Any, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise QueryError(f"{name} must be a finite number or null, got {raw!r:.60}.")
    return float(raw)


def _mapping(raw: Any, name: str, keys: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise QueryError(f"{name} must be an object, got {type(raw).__name__}.")
    unknown = sorted(str(k) for k in raw if k not in keys)
    if unknown:
        raise QueryError(f"{name} has unknown field(s) {', '.join(unknown)[:120]}.")
    return raw


def _list(raw: Any, name: str, limit: int) -> list[Any]:
    if not isinstance(raw, list):
        raise QueryError(f"{name} must be a list, got {type(raw).__name__}.")
    if len(raw) > limit:
        raise QueryError(f"{name} has {len(raw)} entries; at most {limit} are accepted.")
    return raw


def table_columns(table: pd.DataFrame) -> dict[str, ColumnKind]:
    """The columns a page of ``table`` carries, in display order: :data:`COLUMNS`, then the
    table's ``slice.<field>`` columns (text) and its ``objective.<name>.delta`` columns
    (numbers), each in table order. What :func:`parse_query` checks a request against."""
    from rmx_widgets.core.objectives import objective_columns

    out = dict(COLUMNS)
    for c in (str(c) for c in table.columns):
        if c.startswith(SLICE_PREFIX) and len(c) > len(SLICE_PREFIX) and c not in out:
            out[c] = "text"
    for c in objective_columns(table).values():
        out.setdefault(c, "number")
    return out


def extra_columns(columns: Mapping[str, ColumnKind]) -> dict[str, ColumnKind]:
    """The columns of ``columns`` that are not fixed (a table's slices and objectives)."""
    return {c: kind for c, kind in columns.items() if c not in COLUMNS}


def parse_query(raw: Any, columns: Mapping[str, ColumnKind] = COLUMNS) -> TableQuery:
    """A :class:`TableQuery` from a browser's JSON: ``{"sort": [{"column", "dir"}], "search",
    "filters": {"attribute", "side", "outcome", "validity", "ranges": [{"column", "low",
    "high"}]}}`` (every field optional), its columns among ``columns`` (the table's own,
    :func:`table_columns`; range filters on its numbers only). Anything else raises
    :class:`QueryError`."""
    numeric = tuple(c for c, kind in columns.items() if kind == "number")
    top = _mapping(raw, "the request", ("sort", "search", "filters"))
    sort: list[tuple[str, str]] = []
    for i, key in enumerate(_list(top.get("sort", []), "sort", MAX_SORT_KEYS)):
        key = _mapping(key, f"sort[{i}]", ("column", "dir"))
        column = _column(key.get("column"), f"sort[{i}].column", tuple(columns))
        if column in (c for c, _ in sort):
            raise QueryError(f"sort names {column} twice.")
        sort.append((column, _choice(key.get("dir", "asc"), f"sort[{i}].dir", SORT_DIRECTIONS)))
    search = _text(top.get("search", ""), "search", MAX_SEARCH_CHARS)
    filters = _mapping(
        top.get("filters", {}), "filters", ("attribute", "side", "outcome", "validity", "ranges")
    )
    ranges: list[RangeFilter] = []
    for i, r in enumerate(_list(filters.get("ranges", []), "filters.ranges", len(numeric))):
        r = _mapping(r, f"ranges[{i}]", ("column", "low", "high"))
        column = _column(r.get("column"), f"ranges[{i}].column", numeric)
        low, high = (
            _bound(r.get("low"), f"ranges[{i}].low"),
            _bound(r.get("high"), f"ranges[{i}].high"),
        )
        if low is not None and high is not None and low > high:
            raise QueryError(f"ranges[{i}] ({column}): low {low:g} is above high {high:g}.")
        ranges.append(RangeFilter(column, low, high))
    return TableQuery(
        sort=tuple(sort),
        search=search.strip(),
        attribute=_text(filters.get("attribute", ""), "filters.attribute", MAX_ATTRIBUTE_CHARS),
        side=_choice(filters.get("side", "all"), "filters.side", SIDES),
        outcome=_choice(filters.get("outcome", "all"), "filters.outcome", OUTCOMES),
        validity=_choice(filters.get("validity", "all"), "filters.validity", VALIDITIES),
        ranges=tuple(ranges),
    )


def parse_page(page: Any, page_size: Any) -> tuple[int, int]:
    """A 1-based page number and a page size (1 to :data:`MAX_PAGE_SIZE`), checked."""
    return _int(page, "page", 1, MAX_PAGE), _int(page_size, "page_size", 1, MAX_PAGE_SIZE)


def with_derived(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with every :data:`COLUMNS` entry present: ``margin_change`` computed, a
    missing column (an older table, a slim one) filled with missing values."""
    out = table.copy(deep=False)
    if {"margin_before", "margin_after"} <= set(out.columns):
        before = pd.to_numeric(out["margin_before"], errors="coerce")
        out["margin_change"] = pd.to_numeric(out["margin_after"], errors="coerce") - before
    for column, kind in COLUMNS.items():
        if column not in out.columns:
            out[column] = (
                pd.Series(pd.NA, index=out.index, dtype="boolean")
                if kind == "boolean"
                else math.nan
                if kind == "number"
                else None
            )
        elif kind == "number":
            out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out


class TableIndex:
    """An explanation table prepared for paging. Derived columns, one Arrow string array per
    searched column and one float sort key per column are computed once; a query works on row
    positions only (a mask, then ``numpy.lexsort`` over the keys), so no text column is copied
    until the page is cut; the last query's order is kept, so paging through one query filters
    and sorts once.

    The search runs Arrow's case-insensitive ``match_substring`` on each searched column as it
    is: no lower-cased copy of the texts is built, so the first search on a 100,000-row table
    costs what every later one does (~40 ms; building the joined lower-cased text first made it
    130-490 ms, bench/widgets_table.py). pandas 3 keeps text columns in Arrow already, so
    taking the array is free; an object column is converted once and kept."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = with_derived(table)
        #: this table's columns (fixed, then its slices and objectives): what a request may name
        self.columns = table_columns(self.table)
        self._texts: dict[str, pa.Array | pa.ChunkedArray] = {}
        self._keys: dict[str, np.ndarray] = {}
        self._last: tuple[TableQuery, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.table)

    def _text(self, column: str) -> pa.Array | pa.ChunkedArray:
        """``column`` as Arrow strings (missing values null), converted once per table."""
        if column not in self._texts:
            values = self.table[column]
            try:
                text = pa.array(values, from_pandas=True, type=pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowTypeError):  # numbers or mixed: their text
                text = pa.array(values.astype("string"), from_pandas=True, type=pa.large_string())
            self._texts[column] = text
        return self._texts[column]

    def _search(self, needle: str) -> np.ndarray:
        """Rows where any :data:`SEARCH_COLUMNS` or slice cell holds ``needle``, ignoring case."""
        found = np.zeros(len(self.table), dtype=bool)
        searched = [*SEARCH_COLUMNS, *(c for c in self.columns if c.startswith(SLICE_PREFIX))]
        for column in searched:
            hit = pc.match_substring(self._text(column), needle, ignore_case=True)
            found |= pc.fill_null(hit, False).to_numpy(zero_copy_only=False).astype(bool)
        return found

    def _sort_key(self, column: str) -> np.ndarray:
        """``column`` as floats that order like its values (NaN: missing): numbers as they
        are, booleans as 0 / 1, text as its rank among the column's distinct values."""
        if column not in self._keys:
            values = self.table[column]
            kind = self.columns[column]
            if kind == "number":
                key = values.to_numpy(dtype=float, na_value=np.nan)
            elif kind == "boolean":
                key = values.astype("boolean").astype("Float64").to_numpy(float, na_value=np.nan)
            else:
                codes, _ = pd.factorize(values.astype("string"), sort=True)
                key = np.where(codes < 0, np.nan, codes.astype(float))
            self._keys[column] = key
        return self._keys[column]

    def _mask(self, q: TableQuery) -> np.ndarray:
        t = self.table
        mask = np.ones(len(t), dtype=bool)
        for column, wanted, every in (
            ("attribute", q.attribute, ""),
            ("side", q.side, "all"),
            ("outcome", q.outcome, "all"),
        ):
            if wanted != every:
                mask &= (t[column] == wanted).to_numpy(dtype=bool)
        if q.validity != "all":
            valid = self._sort_key("valid")
            if q.validity == "unjudged":
                mask &= np.isnan(valid)
            else:
                mask &= valid == (1.0 if q.validity == "valid" else 0.0)
        for r in q.ranges:
            values = self._sort_key(r.column)  # NaN compares False: a missing value is dropped
            if r.low is not None:
                mask &= values >= r.low
            if r.high is not None:
                mask &= values <= r.high
        if q.search:
            mask &= self._search(q.search)
        return mask

    def parse(self, raw: Any) -> TableQuery:
        """:func:`parse_query` against this table's own columns."""
        return parse_query(raw, self.columns)

    def positions(self, q: TableQuery) -> np.ndarray:
        """The positions (0-based, in ``table``) of the rows the query keeps, in its order."""
        if self._last is not None and self._last[0] == q:
            return self._last[1]
        n = len(self.table)
        positions = np.flatnonzero(self._mask(q)) if q.filtered else np.arange(n)
        if q.sort and len(positions) > 1:
            # lexsort: the last array is the primary key; within a key, missing values last
            arrays: list[np.ndarray] = [positions]
            for column, direction in reversed(q.sort):
                values = self._sort_key(column)[positions]
                missing = np.isnan(values)
                values = np.where(missing, 0.0, values)
                arrays += [-values if direction == "desc" else values, missing]
            positions = positions[np.lexsort(arrays)]
        self._last = (q, positions)
        return positions

    def matching(self, q: TableQuery) -> pd.DataFrame:
        """Every row the query keeps, in its order (row ids as the index)."""
        return self.table.iloc[self.positions(q)]

    def page(self, q: TableQuery, page: int, page_size: int) -> Page:
        """Page ``page`` (1-based; past the end gives the last page) of the query's rows."""
        positions = self.positions(q)
        total = len(positions)
        last_page = max(1, -(-total // page_size))
        page = min(max(page, 1), last_page)
        start = (page - 1) * page_size
        rows = self.table.iloc[positions[start : start + page_size]]
        return Page(rows, page, page_size, total, last_page)


def export_format(path: Path, format: str | None) -> str:
    """``format`` or the path's suffix; csv or parquet, else one clear :class:`QueryError`."""
    fmt = (format or path.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise QueryError(f"the rewrite table exports csv or parquet, got {fmt!r}.")
    return fmt


def export_rows(
    rows: pd.DataFrame, path: str | Path, format: str | None = None, *, force: bool = False
) -> Path:
    """Write ``rows`` (a filtered slice: every column of the table, texts included, plus
    ``row_id``) to CSV or Parquet atomically. An existing file is replaced only with ``force``
    (rmx's own earlier export included), so an export never overwrites silently."""
    path = Path(path)
    fmt = export_format(path, format)
    if path.exists() and not force:
        raise OutputError(
            f"{path} exists; pass force=True to replace it, or choose another path "
            "(the Export button writes the next free name, e.g. rewrites-2.csv)."
        )
    claim_outputs(path.parent, [path.name], force=force)
    frame = rows.rename_axis("row_id").reset_index()
    with atomic_path(path) as tmp:
        if fmt == "csv":
            write_csv(frame, tmp)
        else:
            frame.to_parquet(tmp, index=False)
    return path
