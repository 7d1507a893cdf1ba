"""How many rewrites did what they were asked: valid-rewrite rates, and valid-only figures.

A rewrite judge (``core.validity``) gives each successful rewrite a verdict, the table's
``valid`` column: True (the attribute moved the asked way, little else changed), False (it did
not) or <NA> (no judge ran, the judge could not decide, or the rewrite failed). Two things are
read from it, here, once, for every face:

* the **valid-rewrite rate** per attribute × direction (and pooled): ``n_judged`` successful
  rewrites with a True/False verdict, ``n_valid`` of them True, ``valid_rate`` = n_valid /
  n_judged. Undecided verdicts count neither as valid nor as judged (the judge said nothing
  about them). The rate is NaN ("not measured", never 0) when nothing was judged: a run
  without a judge, or with a judge that has no test for the attribute.
* **valid only** (``sensitivity(..., valid_only=True)``): the successful rewrites whose
  ``valid`` is not True are left out before any figure is computed, so a PFR is the flip rate
  of rewrites that did what they were asked. Failed rewrites stay (they are counted in
  ``n_failed``, never in a rate). A table with no verdict at all is refused: computing
  "valid-only" figures from it would silently compute them on nothing.

Tables written before the ``valid`` column existed load as "nothing judged" (all <NA>).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from rmx_widgets.core.errors import OptionError

#: The columns ``sensitivity`` appends last, per attribute × direction.
VALIDITY_COLUMNS = ["n_judged", "n_valid", "valid_rate"]

NOT_MEASURED = "not measured"


def valid_flags(table: pd.DataFrame) -> pd.Series:
    """Each row's verdict as a nullable boolean: True / False, <NA> for a failed row, a row
    without a verdict and a table without the column. Accepts the column as Parquet or JSON
    lines give it back (booleans, None / NaN, 1.0 / 0.0)."""
    if "valid" not in table.columns:
        out = pd.Series(pd.NA, index=table.index, dtype="boolean")
    else:
        raw = table["valid"]
        out = pd.Series(
            [
                pd.NA
                if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
                else bool(v)
                for v in raw
            ],
            index=table.index,
            dtype="boolean",
        )
    if "outcome" in table.columns:
        out = out.mask(table["outcome"] == "failed", pd.NA)
    return out


def has_verdicts(table: pd.DataFrame) -> bool:
    """Whether any successful rewrite of ``table`` has a True/False verdict."""
    return bool(valid_flags(table).notna().any())


def valid_only_rows(table: pd.DataFrame, *, require_judged: bool = True) -> pd.DataFrame:
    """``table`` without the successful rewrites whose verdict is not True (failed rows kept,
    for ``n_failed``). Raises ``OptionError`` when no rewrite of the table was judged, unless
    ``require_judged`` is False (a slice of a judged table may hold no verdict: its figures
    are then n = 0, not an error)."""
    flags = valid_flags(table)
    if require_judged and not bool(flags.notna().any()):
        raise OptionError(
            "valid_only=True needs judged rewrites: run with judge=... (rmx explain --judge)."
        )
    keep = flags.fillna(False).astype(bool)
    if "outcome" in table.columns:
        keep = keep | (table["outcome"] == "failed")
    return table[keep.to_numpy()]


def validity_columns(
    table: pd.DataFrame, attributes: list, directions: tuple[str, ...]
) -> pd.DataFrame:
    """``attribute, direction`` and :data:`VALIDITY_COLUMNS` for every attribute (in the given
    order) × ``directions`` ("both" pools the others)."""
    flags = valid_flags(table)
    judged = flags.notna().to_numpy()
    valid = flags.fillna(False).astype(bool).to_numpy()
    names = table["attribute"].to_numpy() if len(table) else np.array([], dtype=object)
    dirs = table["direction"].to_numpy() if len(table) else np.array([], dtype=object)
    records = []
    for name in attributes:
        in_attr = names == name
        for direction in directions:
            sel = in_attr if direction == "both" else in_attr & (dirs == direction)
            n_judged = int((sel & judged).sum())
            n_valid = int((sel & judged & valid).sum())
            rate = n_valid / n_judged if n_judged else math.nan
            records.append((name, direction, n_judged, n_valid, rate))
    out = pd.DataFrame.from_records(records, columns=["attribute", "direction", *VALIDITY_COLUMNS])
    return out.astype({"n_judged": np.int64, "n_valid": np.int64, "valid_rate": float})


def validity_totals(table: pd.DataFrame) -> dict[str, object]:
    """The whole table's verdicts: ``judged`` (True/False verdicts), ``valid``, ``invalid``,
    ``undecided`` (successful rewrites with no True/False verdict) and ``valid_rate`` (NaN
    when nothing was judged), for summaries."""
    flags = valid_flags(table)
    ok = table["outcome"] != "failed" if "outcome" in table.columns else pd.Series(True)
    judged = int(flags.notna().sum())
    valid = int(flags.fillna(False).astype(bool).sum())
    return {
        "judged": judged,
        "valid": valid,
        "invalid": judged - valid,
        "undecided": int(ok.sum()) - judged if len(table) else 0,
        "valid_rate": valid / judged if judged else math.nan,
    }


def valid_text(n_valid: object, n_judged: object, digits: int = 2) -> str:
    """The valid-rewrite rate with its counts, "7/9 (0.78)"; "not measured" when nothing was
    judged (no judge, or none of its verdicts decided)."""
    try:
        judged = int(n_judged)  # type: ignore[call-overload]
        valid = int(n_valid)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return NOT_MEASURED
    if judged <= 0:
        return NOT_MEASURED
    return f"{valid}/{judged} ({valid / judged:.{digits}f})"


def row_valid_text(row: pd.Series | dict) -> str:
    """:func:`valid_text` of one sensitivity row; "not measured" for a table saved before the
    validity columns existed."""
    get = row.get
    return valid_text(get("n_valid"), get("n_judged"))


__all__ = [
    "VALIDITY_COLUMNS",
    "has_verdicts",
    "row_valid_text",
    "valid_flags",
    "valid_only_rows",
    "valid_text",
    "validity_columns",
    "validity_totals",
]
